package floe.minicluster;

import java.io.File;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.yarn.conf.YarnConfiguration;

/**
 * The daemons' configuration. Keys are spelled out as strings so that they can be checked
 * against docs/minicluster.md and Hadoop's *-default.xml at a glance.
 */
final class ServerConfig {
  private ServerConfig() {}

  static Configuration hdfs(Settings s, File tmp) {
    Configuration c = new HdfsConfiguration();
    common(c, s, tmp);
    // Go clients run as whatever user the test runs as: let every user write everywhere.
    c.setBoolean("dfs.permissions.enabled", false);
    c.setInt("dfs.replication", 1);
    c.setBoolean("dfs.webhdfs.enabled", true);
    extra(c, s);
    return c;
  }

  static YarnConfiguration yarn(Settings s, File tmp) {
    YarnConfiguration c = new YarnConfiguration();
    common(c, s, tmp);

    // Fixed RM addresses on loopback (MiniYARNCluster only keeps them with fixed.ports).
    c.setBoolean("yarn.minicluster.fixed.ports", true);
    c.set("yarn.resourcemanager.hostname", Settings.HOST);
    if (s.ha) {
      ha(c, s);
    } else {
      c.set("yarn.resourcemanager.address", s.rmAddress());
      c.set("yarn.resourcemanager.scheduler.address", s.rmSchedulerAddress());
      c.set("yarn.resourcemanager.resource-tracker.address", s.rmTrackerAddress());
      c.set("yarn.resourcemanager.admin.address", s.rmAdminAddress());
      c.set("yarn.resourcemanager.webapp.address", s.rmWebAddress());
    }

    // CapacityScheduler with one queue that an AM may fill entirely (the default 10 % AM
    // share leaves a second AM ACCEPTED forever on a cluster this small).
    c.set("yarn.resourcemanager.scheduler.class",
        "org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler");
    c.set("yarn.scheduler.capacity.root.queues", "default");
    c.set("yarn.scheduler.capacity.root.default.capacity", "100");
    c.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
    c.set("yarn.scheduler.capacity.maximum-am-resource-percent", "1.0");
    c.set("yarn.scheduler.capacity.root.default.maximum-am-resource-percent", "1.0");

    // Small containers: allocations are rounded up to multiples of the minimum.
    c.setInt("yarn.scheduler.minimum-allocation-mb", s.minAllocationMb);
    c.setInt("yarn.resource-types.memory-mb.increment-allocation", s.minAllocationMb);
    c.setInt("yarn.scheduler.maximum-allocation-mb", s.nmMemoryMb);
    c.setInt("yarn.scheduler.minimum-allocation-vcores", 1);
    c.setInt("yarn.scheduler.maximum-allocation-vcores", s.nmVcores);

    // NodeManager size: MiniYARNCluster reads memory from its own key and overwrites the
    // plain one; vcores are taken as given (more than the machine has is fine for tests).
    c.setInt("yarn.minicluster.yarn.nodemanager.resource.memory-mb", s.nmMemoryMb);
    c.setInt("yarn.nodemanager.resource.memory-mb", s.nmMemoryMb);
    c.setInt("yarn.nodemanager.resource.cpu-vcores", s.nmVcores);

    // Containers are real processes, started by the NodeManager as the user it runs as.
    c.set("yarn.nodemanager.container-executor.class",
        "org.apache.hadoop.yarn.server.nodemanager.DefaultContainerExecutor");
    // How long a NodeManager waits for a container's pid before it gives up killing it, and
    // (with the SIGKILL delay) for applications to end when it stops: 5 s by default.
    c.setInt("yarn.nodemanager.process-kill-wait.ms", 2000);
    c.setBoolean("yarn.nodemanager.vmem-check-enabled", false);
    c.setBoolean("yarn.nodemanager.pmem-check-enabled", false);

    // A nearly full developer disk must not mark the NodeManagers unhealthy.
    c.setFloat("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage",
        100.0f);
    c.setInt("yarn.nodemanager.disk-health-checker.min-free-space-per-disk-mb", 0);

    // Keep finished containers' working dirs 10 minutes for debugging; logs stay local.
    c.setInt("yarn.nodemanager.delete.debug-delay-sec", 600);
    c.setBoolean("yarn.log-aggregation-enable", false);

    // Up to 4 ApplicationMaster attempts: the failover test kills the AM twice (3 attempts).
    c.setInt("yarn.resourcemanager.am.max-attempts", 4);
    // Notice a dead AM in 20 s instead of 10 minutes.
    c.setInt("yarn.am.liveness-monitor.expiry-interval-ms", 20_000);

    // The RM's node-attribute store would otherwise resolve against fs.defaultFS (HDFS).
    File nodeAttributes = new File(s.yarnWorkRoot(), "nodeattributes");
    c.set("yarn.node-attribute.fs-store.root-dir", nodeAttributes.toURI().toString());

    extra(c, s);
    return c;
  }

  /**
   * ResourceManager HA without ZooKeeper: two RMs with per-id addresses, no automatic
   * failover (the launcher's control command plays the elector: it stops the active RM and
   * makes the standby active), and a state store on the local file system that both RMs
   * of this JVM share, so that the new active RM recovers the applications, their
   * AMRMToken master key and (work-preserving) their running containers.
   */
  static void ha(Configuration c, Settings s) {
    c.setBoolean("yarn.resourcemanager.ha.enabled", true);
    c.set("yarn.resourcemanager.ha.rm-ids", String.join(",", s.rmIds));
    c.set("yarn.resourcemanager.cluster-id", "floe-minicluster-ha");
    c.setBoolean("yarn.resourcemanager.ha.automatic-failover.enabled", false);
    for (int i = 0; i < s.rmIds.size(); i++) {
      String id = s.rmIds.get(i);
      c.set("yarn.resourcemanager.hostname." + id, Settings.HOST);
      c.set("yarn.resourcemanager.address." + id, s.rmAddress(i));
      c.set("yarn.resourcemanager.scheduler.address." + id, s.rmSchedulerAddress(i));
      c.set("yarn.resourcemanager.resource-tracker.address." + id, s.rmTrackerAddress(i));
      c.set("yarn.resourcemanager.admin.address." + id, s.rmAdminAddress(i));
      c.set("yarn.resourcemanager.webapp.address." + id, s.rmWebAddress(i));
    }
    // NodeManagers talk to the RMs over RPC (through the failover proxy), not to one RM
    // object of this JVM, so they follow a failover as on a real cluster.
    c.setBoolean("yarn.minicluster.use-rpc", true);

    c.setBoolean("yarn.resourcemanager.recovery.enabled", true);
    c.setBoolean("yarn.resourcemanager.work-preserving-recovery.enabled", true);
    // After a failover the scheduler waits this long for NodeManagers to report their
    // containers before it allocates new ones (default 10 s).
    c.setInt("yarn.resourcemanager.work-preserving-recovery.scheduling-wait-ms", 2000);
    c.set("yarn.resourcemanager.store.class",
        "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore");
    c.set("yarn.resourcemanager.fs.state-store.uri", s.rmStateStore().toURI().toString());

    // The NodeManagers' failover proxy: retry the other RM quickly (the defaults wait 30 s).
    failoverTimings(c);
  }

  /** Failover timings for the RM proxies, the servers' and (ClientConfig) the clients'. */
  static void failoverTimings(Configuration c) {
    c.setLong("yarn.resourcemanager.connect.retry-interval.ms", 500);
    c.setLong("yarn.client.failover-sleep-base-ms", 200);
    c.setLong("yarn.client.failover-sleep-max-ms", 2000);
    c.setInt("yarn.client.failover-max-attempts", 30);
  }

  /**
   * Writes the scheduler settings as capacity-scheduler.xml into dir, which the launcher's
   * classpath lists first. An RM that becomes active re-reads its queues from that resource
   * (AdminService.refreshAll), not from the configuration it was started with: without this
   * file it would take the test jar's, whose maximum allocation it refuses as a decrease.
   */
  static void writeSchedulerConfig(Configuration c, File dir) throws java.io.IOException {
    dir.mkdirs();
    Configuration cs = new Configuration(false);
    for (Map.Entry<String, String> e : c) {
      if (e.getKey().startsWith("yarn.scheduler.") || e.getKey().startsWith("yarn.resource-types.")) {
        cs.set(e.getKey(), e.getValue());
      }
    }
    File f = new File(dir, "capacity-scheduler.xml");
    try (java.io.OutputStream out = new java.io.FileOutputStream(f)) {
      cs.writeXml(out);
    }
  }

  private static void common(Configuration c, Settings s, File tmp) {
    c.set("fs.defaultFS", s.defaultFs());
    c.set("hadoop.tmp.dir", tmp.getAbsolutePath());
  }

  private static void extra(Configuration c, Settings s) {
    for (Map.Entry<String, String> e : s.extraConf.entrySet()) {
      c.set(e.getKey(), e.getValue());
    }
  }
}

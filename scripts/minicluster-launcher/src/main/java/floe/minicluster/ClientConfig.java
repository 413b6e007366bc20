package floe.minicluster;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

import org.apache.hadoop.conf.Configuration;

/**
 * Writes the client side of the cluster's configuration, the files a Hadoop client (floe's
 * Go code, or the hadoop/yarn CLIs) reads from HADOOP_CONF_DIR. Only what a client needs:
 * addresses and the few scheduler facts clients use to size their requests.
 */
final class ClientConfig {
  private ClientConfig() {}

  static void write(Settings s) throws IOException {
    s.confDir.mkdirs();

    Configuration core = new Configuration(false);
    core.set("fs.defaultFS", s.defaultFs());
    core.set("hadoop.security.authentication", "simple");
    writeXml(core, new File(s.confDir, "core-site.xml"));

    Configuration hdfs = new Configuration(false);
    hdfs.set("dfs.namenode.rpc-address", s.nnAddress());
    hdfs.set("dfs.namenode.http-address", s.nnHttpAddress());
    hdfs.setInt("dfs.replication", 1);
    hdfs.setBoolean("dfs.permissions.enabled", false);
    writeXml(hdfs, new File(s.confDir, "hdfs-site.xml"));

    Configuration yarn = new Configuration(false);
    yarn.set("yarn.resourcemanager.hostname", Settings.HOST);
    if (s.ha) {
      // As a real HA cluster's client configuration: the RM ids and each one's addresses,
      // no single address; clients fail over between them.
      yarn.setBoolean("yarn.resourcemanager.ha.enabled", true);
      yarn.set("yarn.resourcemanager.ha.rm-ids", String.join(",", s.rmIds));
      yarn.set("yarn.resourcemanager.cluster-id", "floe-minicluster-ha");
      for (int i = 0; i < s.rmIds.size(); i++) {
        String id = s.rmIds.get(i);
        yarn.set("yarn.resourcemanager.hostname." + id, Settings.HOST);
        yarn.set("yarn.resourcemanager.address." + id, s.rmAddress(i));
        yarn.set("yarn.resourcemanager.scheduler.address." + id, s.rmSchedulerAddress(i));
        yarn.set("yarn.resourcemanager.resource-tracker.address." + id, s.rmTrackerAddress(i));
        yarn.set("yarn.resourcemanager.admin.address." + id, s.rmAdminAddress(i));
        yarn.set("yarn.resourcemanager.webapp.address." + id, s.rmWebAddress(i));
      }
      ServerConfig.failoverTimings(yarn);
    } else {
      yarn.set("yarn.resourcemanager.address", s.rmAddress());
      yarn.set("yarn.resourcemanager.scheduler.address", s.rmSchedulerAddress());
      yarn.set("yarn.resourcemanager.resource-tracker.address", s.rmTrackerAddress());
      yarn.set("yarn.resourcemanager.admin.address", s.rmAdminAddress());
      yarn.set("yarn.resourcemanager.webapp.address", s.rmWebAddress());
    }
    yarn.setInt("yarn.scheduler.minimum-allocation-mb", s.minAllocationMb);
    yarn.setInt("yarn.scheduler.maximum-allocation-mb", s.nmMemoryMb);
    yarn.setInt("yarn.scheduler.maximum-allocation-vcores", s.nmVcores);
    yarn.setInt("yarn.resourcemanager.am.max-attempts", 4);
    yarn.setBoolean("yarn.log-aggregation-enable", false);
    writeXml(yarn, new File(s.confDir, "yarn-site.xml"));
  }

  /** Writes through a temporary file so a reader never sees half a file. */
  private static void writeXml(Configuration c, File f) throws IOException {
    File tmp = new File(f.getPath() + ".tmp");
    try (OutputStream out = new FileOutputStream(tmp)) {
      c.writeXml(out);
    }
    Files.move(tmp.toPath(), f.toPath(), StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
  }
}

package floe.minicluster;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.List;

import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.yarn.api.ApplicationConstants;
import org.apache.hadoop.yarn.api.records.Container;
import org.apache.hadoop.yarn.api.records.ContainerLaunchContext;
import org.apache.hadoop.yarn.api.records.ContainerStatus;
import org.apache.hadoop.yarn.api.records.FinalApplicationStatus;
import org.apache.hadoop.yarn.api.records.Priority;
import org.apache.hadoop.yarn.api.records.Resource;
import org.apache.hadoop.yarn.client.api.AMRMClient;
import org.apache.hadoop.yarn.client.api.AMRMClient.ContainerRequest;
import org.apache.hadoop.yarn.client.api.NMClient;
import org.apache.hadoop.yarn.conf.YarnConfiguration;

/**
 * The ApplicationMaster of {@code scripts/minicluster smoke}: proves that the cluster can run
 * what floe's tests need, the way floe's AM will do it. It registers with the RM (AMRMToken),
 * writes a file to HDFS, asks for one container, starts {@code /bin/true} in it on a
 * NodeManager (NMToken), waits for it to complete with exit code 0, and unregisters with
 * SUCCEEDED, or FAILED and the reason.
 *
 * <p>Usage (as the AM command): {@code SmokeAppMaster <HADOOP_CONF_DIR>}.
 */
public final class SmokeAppMaster {
  private static final long TIMEOUT_MILLIS = 60_000;

  private SmokeAppMaster() {}

  public static void main(String[] args) throws Exception {
    YarnConfiguration conf = new YarnConfiguration();
    for (String f : new String[] {"core-site.xml", "hdfs-site.xml", "yarn-site.xml"}) {
      conf.addResource(new Path(args[0], f));
    }
    String containerId = System.getenv(ApplicationConstants.Environment.CONTAINER_ID.name());

    AMRMClient<ContainerRequest> rm = AMRMClient.createAMRMClient();
    rm.init(conf);
    rm.start();
    rm.registerApplicationMaster("", 0, "");
    System.out.println("registered as " + containerId);

    String failure = null;
    try {
      writeHdfsFile(conf, containerId);
      failure = runOneContainer(conf, rm);
    } catch (Exception e) {
      e.printStackTrace();
      failure = e.toString();
    }
    if (failure == null) {
      rm.unregisterApplicationMaster(FinalApplicationStatus.SUCCEEDED, "smoke test passed", "");
      System.out.println("SUCCEEDED");
    } else {
      rm.unregisterApplicationMaster(FinalApplicationStatus.FAILED, failure, "");
      System.out.println("FAILED: " + failure);
    }
    rm.stop();
  }

  private static void writeHdfsFile(YarnConfiguration conf, String containerId) throws Exception {
    Path p = new Path("/tmp/floe-minicluster-smoke/" + containerId);
    try (FileSystem fs = FileSystem.newInstance(conf);
        FSDataOutputStream out = fs.create(p, true)) {
      out.write(("written by " + containerId + "\n").getBytes(StandardCharsets.UTF_8));
    }
    System.out.println("wrote " + p);
  }

  /** Returns null when a container ran /bin/true and exited 0, else what went wrong. */
  private static String runOneContainer(YarnConfiguration conf, AMRMClient<ContainerRequest> rm)
      throws Exception {
    rm.addContainerRequest(new ContainerRequest(
        Resource.newInstance(64, 1), null, null, Priority.newInstance(0)));
    NMClient nm = NMClient.createNMClient();
    nm.init(conf);
    nm.start();
    try {
      long deadline = System.currentTimeMillis() + TIMEOUT_MILLIS;
      boolean started = false;
      while (System.currentTimeMillis() < deadline) {
        var response = rm.allocate(started ? 1.0f : 0.5f);
        for (Container c : response.getAllocatedContainers()) {
          if (started) {
            rm.releaseAssignedContainer(c.getId());
            continue;
          }
          ContainerLaunchContext ctx = ContainerLaunchContext.newInstance(
              Collections.emptyMap(), Collections.emptyMap(),
              List.of("/bin/true 1>" + ApplicationConstants.LOG_DIR_EXPANSION_VAR + "/stdout 2>"
                  + ApplicationConstants.LOG_DIR_EXPANSION_VAR + "/stderr"),
              null, null, null);
          nm.startContainer(c, ctx);
          started = true;
          System.out.println("started " + c.getId() + " on " + c.getNodeId());
        }
        for (ContainerStatus s : response.getCompletedContainersStatuses()) {
          System.out.println("completed " + s.getContainerId() + " exit " + s.getExitStatus());
          return s.getExitStatus() == 0 ? null
              : "container exited " + s.getExitStatus() + ": " + s.getDiagnostics();
        }
        Thread.sleep(200);
      }
      return "no completed container within " + TIMEOUT_MILLIS / 1000 + " s (started: " + started + ")";
    } finally {
      nm.stop();
    }
  }
}

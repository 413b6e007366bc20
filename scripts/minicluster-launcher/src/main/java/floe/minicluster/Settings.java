package floe.minicluster;

import java.io.File;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the launcher is asked to start: the state directory (from the command line) and
 * the ports and sizes, each overridable by a FLOE_MINICLUSTER_* environment variable.
 * Defaults sit away from Hadoop's stock ports (8020, 8032, 8088, 9870) so a real
 * Hadoop install on the same machine does not collide with the test cluster.
 */
final class Settings {
  static final String HOST = "127.0.0.1";
  /** The MiniYARNCluster's name, and so the name of its work directory. */
  static final String YARN_NAME = "floe-minicluster";

  final File stateDir;
  final File confDir;
  final File readyFile;

  final int nnPort;
  final int nnHttpPort;
  final int rmPort;
  final int rmSchedulerPort;
  final int rmTrackerPort;
  final int rmAdminPort;
  final int rmWebPort;

  final int nodeManagers;
  final int nmMemoryMb;
  final int nmVcores;
  final int minAllocationMb;

  /** Extra server-side settings, "key=value" separated by whitespace, applied last. */
  final Map<String, String> extraConf;

  Settings(File stateDir, Map<String, String> env) {
    this.stateDir = stateDir.getAbsoluteFile();
    this.confDir = new File(this.stateDir, "conf");
    this.readyFile = new File(this.stateDir, "ready");

    nnPort = intEnv(env, "FLOE_MINICLUSTER_NN_PORT", 19820);
    nnHttpPort = intEnv(env, "FLOE_MINICLUSTER_NN_HTTP_PORT", 19870);
    rmPort = intEnv(env, "FLOE_MINICLUSTER_RM_PORT", 18032);
    rmSchedulerPort = intEnv(env, "FLOE_MINICLUSTER_RM_SCHEDULER_PORT", 18030);
    rmTrackerPort = intEnv(env, "FLOE_MINICLUSTER_RM_TRACKER_PORT", 18031);
    rmAdminPort = intEnv(env, "FLOE_MINICLUSTER_RM_ADMIN_PORT", 18033);
    rmWebPort = intEnv(env, "FLOE_MINICLUSTER_RM_WEB_PORT", 18088);

    nodeManagers = intEnv(env, "FLOE_MINICLUSTER_NODEMANAGERS", 2);
    nmMemoryMb = intEnv(env, "FLOE_MINICLUSTER_NM_MEMORY_MB", 4096);
    nmVcores = intEnv(env, "FLOE_MINICLUSTER_NM_VCORES", 8);
    minAllocationMb = intEnv(env, "FLOE_MINICLUSTER_MIN_ALLOCATION_MB", 64);

    extraConf = pairs(env.getOrDefault("FLOE_MINICLUSTER_CONF", ""));
  }

  /** Where MiniYARNCluster keeps the NodeManagers' local and log dirs (in yarn-<n>/). */
  File yarnWorkRoot() { return new File(new File(stateDir, "target"), YARN_NAME); }

  String nnAddress() { return HOST + ":" + nnPort; }
  String nnHttpAddress() { return HOST + ":" + nnHttpPort; }
  String rmAddress() { return HOST + ":" + rmPort; }
  String rmSchedulerAddress() { return HOST + ":" + rmSchedulerPort; }
  String rmTrackerAddress() { return HOST + ":" + rmTrackerPort; }
  String rmAdminAddress() { return HOST + ":" + rmAdminPort; }
  String rmWebAddress() { return HOST + ":" + rmWebPort; }
  String defaultFs() { return "hdfs://" + nnAddress(); }

  /** A port the launcher binds itself, and the variable that moves it. */
  record FixedPort(String envVar, String what, int port) {}

  /** The fixed ports, for the check before start-up that nothing else holds them. */
  List<FixedPort> fixedPorts() {
    return List.of(
        new FixedPort("FLOE_MINICLUSTER_NN_PORT", "NameNode RPC", nnPort),
        new FixedPort("FLOE_MINICLUSTER_NN_HTTP_PORT", "NameNode HTTP", nnHttpPort),
        new FixedPort("FLOE_MINICLUSTER_RM_PORT", "ResourceManager client RPC", rmPort),
        new FixedPort("FLOE_MINICLUSTER_RM_SCHEDULER_PORT", "ResourceManager scheduler RPC",
            rmSchedulerPort),
        new FixedPort("FLOE_MINICLUSTER_RM_TRACKER_PORT", "ResourceManager resource-tracker RPC",
            rmTrackerPort),
        new FixedPort("FLOE_MINICLUSTER_RM_ADMIN_PORT", "ResourceManager admin RPC", rmAdminPort),
        new FixedPort("FLOE_MINICLUSTER_RM_WEB_PORT", "ResourceManager web app", rmWebPort));
  }

  private static int intEnv(Map<String, String> env, String name, int def) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      return def;
    }
    try {
      int n = Integer.parseInt(v.trim());
      if (n <= 0) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + "=" + v + " is not a positive integer");
    }
  }

  private static Map<String, String> pairs(String s) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String kv : s.trim().split("\\s+")) {
      if (kv.isEmpty()) {
        continue;
      }
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("FLOE_MINICLUSTER_CONF: '" + kv + "' is not key=value");
      }
      m.put(kv.substring(0, eq), kv.substring(eq + 1));
    }
    return m;
  }
}

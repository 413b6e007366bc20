package floe.minicluster;

import java.io.File;
import java.util.ArrayList;
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

  /**
   * ResourceManager HA (FLOE_MINICLUSTER_HA=1): two ResourceManagers, rm0 active and rm1
   * standby, with a shared file-system state store and work-preserving recovery.
   */
  final boolean ha;
  /** The ResourceManager ids in HA mode, in failover order; one unnamed RM otherwise. */
  final List<String> rmIds;

  final int nnPort;
  final int nnHttpPort;
  // The first ResourceManager's ports; RM i (HA) adds i * RM_PORT_STEP to each.
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

    String haEnv = env.getOrDefault("FLOE_MINICLUSTER_HA", "").trim();
    ha = haEnv.equals("1") || haEnv.equalsIgnoreCase("true");
    rmIds = ha ? List.of("rm0", "rm1") : List.of("");
    // The HA cluster's defaults are off the single cluster's by 100, so both can run at once.
    int shift = ha ? 100 : 0;
    nnPort = intEnv(env, "FLOE_MINICLUSTER_NN_PORT", 19820 + shift);
    nnHttpPort = intEnv(env, "FLOE_MINICLUSTER_NN_HTTP_PORT", 19870 + shift);
    rmPort = intEnv(env, "FLOE_MINICLUSTER_RM_PORT", 18032 + shift);
    rmSchedulerPort = intEnv(env, "FLOE_MINICLUSTER_RM_SCHEDULER_PORT", 18030 + shift);
    rmTrackerPort = intEnv(env, "FLOE_MINICLUSTER_RM_TRACKER_PORT", 18031 + shift);
    rmAdminPort = intEnv(env, "FLOE_MINICLUSTER_RM_ADMIN_PORT", 18033 + shift);
    rmWebPort = intEnv(env, "FLOE_MINICLUSTER_RM_WEB_PORT", 18088 + shift);

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
  /** How far apart the ports of consecutive ResourceManagers are in HA mode. */
  static final int RM_PORT_STEP = 100;

  String rmAddress() { return rmAddress(0); }
  String rmSchedulerAddress() { return rmSchedulerAddress(0); }
  String rmTrackerAddress() { return rmTrackerAddress(0); }
  String rmAdminAddress() { return rmAdminAddress(0); }
  String rmWebAddress() { return rmWebAddress(0); }
  String rmAddress(int i) { return HOST + ":" + (rmPort + i * RM_PORT_STEP); }
  String rmSchedulerAddress(int i) { return HOST + ":" + (rmSchedulerPort + i * RM_PORT_STEP); }
  String rmTrackerAddress(int i) { return HOST + ":" + (rmTrackerPort + i * RM_PORT_STEP); }
  String rmAdminAddress(int i) { return HOST + ":" + (rmAdminPort + i * RM_PORT_STEP); }
  String rmWebAddress(int i) { return HOST + ":" + (rmWebPort + i * RM_PORT_STEP); }

  /** Where the HA ResourceManagers keep their shared state (FileSystemRMStateStore). */
  File rmStateStore() { return new File(stateDir, "rmstore"); }
  /** The control socket's address file: "127.0.0.1:port" (HA mode). */
  File controlFile() { return new File(stateDir, "control"); }
  String defaultFs() { return "hdfs://" + nnAddress(); }

  /** A port the launcher binds itself, and the variable that moves it. */
  record FixedPort(String envVar, String what, int port) {}

  /** The fixed ports, for the check before start-up that nothing else holds them. */
  List<FixedPort> fixedPorts() {
    List<FixedPort> ports = new ArrayList<>(List.of(
        new FixedPort("FLOE_MINICLUSTER_NN_PORT", "NameNode RPC", nnPort),
        new FixedPort("FLOE_MINICLUSTER_NN_HTTP_PORT", "NameNode HTTP", nnHttpPort)));
    for (int i = 0; i < rmIds.size(); i++) {
      int d = i * RM_PORT_STEP;
      String rm = ha ? "ResourceManager " + rmIds.get(i) : "ResourceManager";
      ports.add(new FixedPort("FLOE_MINICLUSTER_RM_PORT", rm + " client RPC", rmPort + d));
      ports.add(new FixedPort("FLOE_MINICLUSTER_RM_SCHEDULER_PORT", rm + " scheduler RPC",
          rmSchedulerPort + d));
      ports.add(new FixedPort("FLOE_MINICLUSTER_RM_TRACKER_PORT", rm + " resource-tracker RPC",
          rmTrackerPort + d));
      ports.add(new FixedPort("FLOE_MINICLUSTER_RM_ADMIN_PORT", rm + " admin RPC", rmAdminPort + d));
      ports.add(new FixedPort("FLOE_MINICLUSTER_RM_WEB_PORT", rm + " web app", rmWebPort + d));
    }
    return ports;
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

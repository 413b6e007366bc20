package floe.minicluster;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

import sun.misc.Signal;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.ha.HAServiceProtocol;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.util.ShutdownHookManager;
import org.apache.hadoop.yarn.api.protocolrecords.KillApplicationRequest;
import org.apache.hadoop.yarn.api.records.ApplicationId;
import org.apache.hadoop.yarn.api.records.NodeState;
import org.apache.hadoop.yarn.api.records.Resource;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;
import org.apache.hadoop.yarn.server.nodemanager.NodeManager;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;
import org.apache.hadoop.yarn.server.resourcemanager.rmapp.RMApp;
import org.apache.hadoop.yarn.server.resourcemanager.rmapp.RMAppState;
import org.apache.hadoop.yarn.server.resourcemanager.rmnode.RMNode;

/**
 * Starts HDFS (1 NameNode, 1 DataNode) and YARN (1 ResourceManager, N NodeManagers) in this
 * JVM on 127.0.0.1, writes client configuration for them, writes the ready marker once every
 * NodeManager is registered and its capacity is schedulable, and then runs until SIGTERM or
 * SIGINT, when it stops YARN and then HDFS and exits 0 (a shutdown hook does the same on any
 * other way out of the JVM).
 *
 * <p>Usage: {@code Launcher <state-dir>}. HDFS keeps its data under {@code <state-dir>/dfs/},
 * the NodeManagers their local and log dirs under {@code <state-dir>/target/floe-minicluster/}.
 *
 * <p>Exit codes: 0 after a clean stop, 1 when start-up fails, 2 for a usage or configuration
 * error (including a fixed port already in use).
 */
public final class Launcher {
  /** Runs before Hadoop's FileSystem cache hook (priority 10), so HDFS is still usable. */
  private static final int SHUTDOWN_PRIORITY = 100;
  /** How long to wait for the NodeManagers to register once YARN has started. */
  private static final long NODE_WAIT_MILLIS = 120_000;
  /** How long stopping waits for killed applications to reach a final state. */
  private static final long KILL_WAIT_MILLIS = 10_000;

  private final Settings settings;
  // Set by the threads that start them, read by stop() in the shutdown hook.
  private volatile MiniDFSCluster dfs;
  private volatile MiniYARNCluster yarn;
  private boolean stopped;
  private Control control;

  private Launcher(Settings settings) {
    this.settings = settings;
  }

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 1) {
      System.err.println("usage: floe.minicluster.Launcher <state-dir>");
      System.exit(2);
    }
    Settings settings;
    try {
      settings = new Settings(new File(args[0]), System.getenv());
    } catch (IllegalArgumentException e) {
      System.err.println("floe-minicluster: " + e.getMessage());
      System.exit(2);
      return;
    }
    String busy = busyPort(settings);
    if (busy != null) {
      System.err.println("floe-minicluster: " + busy);
      System.exit(2);
    }

    Launcher launcher = new Launcher(settings);
    ShutdownHookManager.get().addShutdownHook(launcher::stop, SHUTDOWN_PRIORITY);
    long t0 = System.nanoTime();
    try {
      launcher.start();
    } catch (Throwable t) {
      System.out.flush();
      System.err.println("floe-minicluster: start-up failed: " + t);
      t.printStackTrace();
      System.err.flush();
      System.exit(1); // runs the shutdown hook, which stops whatever did start
    }
    log(String.format("ready in %.1f s; HADOOP_CONF_DIR=%s",
        (System.nanoTime() - t0) / 1e9, settings.confDir));

    // SIGTERM/SIGINT stop the cluster here, on the main thread, before the JVM starts its
    // shutdown: DataNode and NodeManager code adds and removes Hadoop shutdown hooks while
    // stopping, which fails once shutdown is in progress. The hook above covers other exits.
    CountDownLatch stopRequested = new CountDownLatch(1);
    for (String sig : new String[] {"TERM", "INT"}) {
      Signal.handle(new Signal(sig), s -> stopRequested.countDown());
    }
    stopRequested.await();
    launcher.stop();
    System.exit(0);
  }

  private void start() throws Exception {
    Files.deleteIfExists(settings.readyFile.toPath());
    // Hadoop's test utilities put MiniYARNCluster's dirs under ${test.build.data}/<name>/;
    // start from an empty one so that old runs do not pile up.
    File yarnRoot = settings.yarnWorkRoot();
    System.setProperty("test.build.data", yarnRoot.getParentFile().getPath());
    FileUtil.fullyDelete(yarnRoot);
    // HDFS is formatted anew too: applications of an earlier run must not be recovered.
    FileUtil.fullyDelete(settings.rmStateStore());
    File tmp = new File(settings.stateDir, "tmp");
    tmp.mkdirs();

    // HDFS and YARN do not depend on each other at start-up: start them side by side, which
    // takes the start-up from about 11 s to about 7 s on two cores.
    FutureTask<Void> hdfsStart = new FutureTask<>(() -> {
      startHdfs(tmp);
      return null;
    });
    Thread hdfsThread = new Thread(hdfsStart, "start-hdfs");
    hdfsThread.start();
    startYarn(tmp);
    try {
      hdfsStart.get();
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
    }

    ClientConfig.write(settings);
    if (settings.ha) {
      control = new Control(this, settings);
      control.start();
    }
    markReady();
  }

  private void startHdfs(File tmp) throws IOException {
    Configuration conf = ServerConfig.hdfs(settings, tmp);
    log("starting HDFS: NameNode " + settings.nnAddress() + ", web " + settings.nnHttpAddress());
    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, new File(settings.stateDir, "dfs"))
        .nameNodePort(settings.nnPort)
        .nameNodeHttpPort(settings.nnHttpPort)
        .numDataNodes(1)
        .format(true)
        .checkExitOnShutdown(false)
        .build();
    dfs = cluster;
    cluster.waitActive();
    prepareHdfs(cluster.getFileSystem());
    log("HDFS is up");
  }

  private void startYarn(File tmp) throws Exception {
    YarnConfiguration conf = ServerConfig.yarn(settings, tmp);
    if (settings.ha) {
      ServerConfig.writeSchedulerConfig(conf, new File(settings.stateDir, "serverconf"));
    }
    log("starting YARN: ResourceManager " + settings.rmAddress() + ", web "
        + settings.rmWebAddress() + ", " + settings.nodeManagers + " NodeManagers");
    MiniYARNCluster cluster = new MiniYARNCluster(Settings.YARN_NAME, settings.rmIds.size(),
        settings.nodeManagers, 1, 1);
    yarn = cluster;
    cluster.init(conf);
    cluster.start();
    waitForNodes(cluster.getResourceManager());
  }

  /** A world-writable /tmp and /user, as on a real cluster, for clients that expect them. */
  private static void prepareHdfs(FileSystem fs) throws IOException {
    for (String dir : new String[] {"/tmp", "/user"}) {
      Path p = new Path(dir);
      fs.mkdirs(p);
      fs.setPermission(p, new FsPermission((short) 01777));
    }
  }

  /**
   * Waits until every NodeManager is RUNNING at the RM and the scheduler counts all their
   * memory, so that an application submitted right after "ready" can be scheduled at once.
   */
  private void waitForNodes(ResourceManager rm) throws InterruptedException, IOException {
    long want = (long) settings.nodeManagers * settings.nmMemoryMb;
    long deadline = System.currentTimeMillis() + NODE_WAIT_MILLIS;
    while (true) {
      Map<?, RMNode> nodes = rm.getRMContext().getRMNodes();
      long running = nodes.values().stream().filter(n -> n.getState() == NodeState.RUNNING).count();
      Resource total = rm.getResourceScheduler().getClusterResource();
      if (running == settings.nodeManagers && total.getMemorySize() >= want) {
        log("NodeManagers registered: " + running + ", cluster resource " + total);
        return;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IOException("after " + NODE_WAIT_MILLIS / 1000 + " s only " + running + " of "
            + settings.nodeManagers + " NodeManagers are RUNNING (cluster resource " + total + ")");
      }
      Thread.sleep(100);
    }
  }

  private String rmAddresses() {
    List<String> a = new ArrayList<>();
    for (int i = 0; i < settings.rmIds.size(); i++) {
      a.add(settings.rmAddress(i));
    }
    return String.join(",", a);
  }

  /** Written last and atomically: its presence means the cluster and its client conf are usable. */
  private void markReady() throws IOException {
    String body = "HADOOP_CONF_DIR=" + settings.confDir + "\n"
        + "pid=" + ProcessHandle.current().pid() + "\n"
        + "fs.defaultFS=" + settings.defaultFs() + "\n"
        + "namenode.http=" + settings.nnHttpAddress() + "\n"
        + "resourcemanager=" + rmAddresses() + "\n"
        + "resourcemanager.web=" + settings.rmWebAddress() + "\n"
        + (control != null ? "control=" + control.address() + "\n" : "");
    File tmp = new File(settings.stateDir, "ready.tmp");
    Files.write(tmp.toPath(), body.getBytes(StandardCharsets.UTF_8));
    Files.move(tmp.toPath(), settings.readyFile.toPath(), StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * Stops YARN first (running applications are killed, and the NodeManagers kill their
   * containers), then HDFS; once.
   */
  private synchronized void stop() {
    if (stopped) {
      return;
    }
    stopped = true;
    log("stopping");
    if (control != null) {
      control.close();
    }
    try {
      Files.deleteIfExists(settings.readyFile.toPath());
    } catch (IOException e) {
      log("could not remove " + settings.readyFile + ": " + e);
    }
    if (yarn != null) {
      try {
        killApplications(yarn.getResourceManager());
      } catch (Throwable t) {
        log("killing applications: " + t);
      }
      try {
        stopNodeManagers();
        // Stopping the RMs directly skips MiniYARNCluster's 5 s wait for AMs to unregister,
        // which killed AMs never do.
        synchronized (this) {
          for (int i = 0; i < yarn.getNumOfResourceManager(); i++) {
            yarn.stopResourceManager(i);
          }
        }
        yarn.stop();
      } catch (Throwable t) {
        log("stopping YARN: " + t);
      }
    }
    if (dfs != null) {
      try {
        dfs.shutdown();
      } catch (Throwable t) {
        log("stopping HDFS: " + t);
      }
    }
    log("stopped");
  }

  /**
   * An RM failover, as ZooKeeper's elector would do it after the active RM died: stops the
   * active ResourceManager, waits gapMillis (on a real cluster: until ZooKeeper notices the
   * dead RM's session is gone), makes the next one active (it recovers the applications
   * from the shared state store), waits until every NodeManager has re-registered with it,
   * and then starts the stopped one again as the standby, so that another failover can
   * follow. Returns a one-line account.
   */
  synchronized String failoverResourceManager(long gapMillis) throws Exception {
    if (stopped) {
      throw new IllegalStateException("the cluster is stopping");
    }
    long t0 = System.nanoTime();
    int n = yarn.getNumOfResourceManager();
    int active = activeIndex();
    if (active < 0) {
      throw new IllegalStateException("no ResourceManager is active");
    }
    int next = (active + 1) % n;
    if (yarn.getResourceManager(next) == null) {
      throw new IllegalStateException("ResourceManager " + settings.rmIds.get(next)
          + " is not running; cannot fail over to it");
    }
    String from = settings.rmIds.get(active), to = settings.rmIds.get(next);
    log("RM failover: stopping the active ResourceManager " + from);
    yarn.stopResourceManager(active);
    long tStopped = System.nanoTime();
    if (gapMillis > 0) {
      log("RM failover: no active ResourceManager for " + gapMillis + " ms");
      Thread.sleep(gapMillis);
    }
    log("RM failover: making " + to + " active");
    yarn.getResourceManager(next).getRMContext().getRMAdminService().transitionToActive(
        new HAServiceProtocol.StateChangeRequestInfo(
            HAServiceProtocol.RequestSource.REQUEST_BY_USER_FORCED));
    long tActive = System.nanoTime();
    waitForNodes(yarn.getResourceManager(next));
    long tNodes = System.nanoTime();
    log("RM failover: restarting " + from + " as the standby");
    yarn.restartResourceManager(active);
    String msg = String.format("active=%s stopped-and-restarted=%s stop=%.1fs gap+activate=%.1fs"
        + " nodes=%.1fs standby=%.1fs", to, from, (tStopped - t0) / 1e9,
        (tActive - tStopped) / 1e9, (tNodes - tActive) / 1e9, (System.nanoTime() - tNodes) / 1e9);
    log("RM failover done: " + msg);
    return msg;
  }

  /** The index of the active ResourceManager, or -1. */
  synchronized int activeIndex() throws IOException {
    for (int i = 0; i < yarn.getNumOfResourceManager(); i++) {
      ResourceManager rm = yarn.getResourceManager(i);
      if (rm != null && rm.getRMContext().getRMAdminService().getServiceStatus().getState()
          == HAServiceProtocol.HAServiceState.ACTIVE) {
        return i;
      }
    }
    return -1;
  }

  /** "rm0=active rm1=standby" (HA mode). */
  synchronized String rmStates() throws IOException {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < yarn.getNumOfResourceManager(); i++) {
      ResourceManager rm = yarn.getResourceManager(i);
      String st = rm == null ? "stopped"
          : rm.getRMContext().getRMAdminService().getServiceStatus().getState().toString()
              .toLowerCase(java.util.Locale.ROOT);
      out.add(settings.rmIds.get(i) + "=" + st);
    }
    return String.join(" ", out);
  }

  /**
   * Kills the applications still running and waits a little for them to end, so that their
   * containers are gone before the NodeManagers stop (which otherwise wait for them).
   */
  private static void killApplications(ResourceManager rm) throws Exception {
    if (rm == null) {
      return;
    }
    Map<ApplicationId, RMApp> apps = rm.getRMContext().getRMApps();
    int killed = 0;
    for (RMApp app : apps.values()) {
      if (!isFinal(app.getState())) {
        rm.getClientRMService().forceKillApplication(
            KillApplicationRequest.newInstance(app.getApplicationId()));
        killed++;
      }
    }
    if (killed == 0) {
      return;
    }
    log("killed " + killed + " running application(s)");
    long deadline = System.currentTimeMillis() + KILL_WAIT_MILLIS;
    while (System.currentTimeMillis() < deadline
        && !apps.values().stream().allMatch(a -> isFinal(a.getState()))) {
      Thread.sleep(100);
    }
    // The NodeManagers learn of the kills at their next heartbeat; give them one.
    Thread.sleep(1500);
  }

  /**
   * Stops the NodeManagers side by side: each one spends ~15 s in its stop once it has run an
   * application (a bounded wait for applications to finish, then 10 s for the pending
   * deletions of local logs).
   */
  private void stopNodeManagers() throws InterruptedException {
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < settings.nodeManagers; i++) {
      NodeManager nm = yarn.getNodeManager(i);
      if (nm == null) { // start-up failed before YARN's init
        continue;
      }
      Thread t = new Thread(nm::stop, "stop-nm-" + i);
      t.start();
      threads.add(t);
    }
    for (Thread t : threads) {
      t.join();
    }
  }

  private static boolean isFinal(RMAppState s) {
    return s == RMAppState.FINISHED || s == RMAppState.FAILED || s == RMAppState.KILLED;
  }

  /** Names the first fixed port that something else already listens on, or null. */
  private static String busyPort(Settings settings) {
    for (Settings.FixedPort p : settings.fixedPorts()) {
      try (ServerSocket s = new ServerSocket()) {
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(Settings.HOST, p.port()));
      } catch (IOException e) {
        return "port " + p.port() + " (" + p.what() + ") on " + Settings.HOST
            + " is in use; is another minicluster running? Choose another with "
            + p.envVar() + "=<port>";
      }
    }
    return null;
  }

  static void log(String msg) {
    System.out.println("floe-minicluster: " + msg);
    System.out.flush();
  }
}

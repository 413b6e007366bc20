package floe.minicluster;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

/**
 * The HA cluster's control socket on 127.0.0.1 (an ephemeral port, written to
 * {@code <state-dir>/control} and the ready marker): one command line per connection, one
 * answer line, "ok ..." or "error ...". Commands:
 *
 * <ul>
 *   <li>{@code rm-state}: each ResourceManager's HA state, e.g. "rm0=active rm1=standby";
 *   <li>{@code failover-rm [seconds]}: stop the active ResourceManager and, that many
 *       seconds later (default 0: at once), make the standby active (see
 *       {@link Launcher#failoverResourceManager(long)}).
 * </ul>
 *
 * <p>Only processes of this machine reach it; the cluster has no security anyway.
 */
final class Control {
  private static final int READ_TIMEOUT_MILLIS = 10_000;

  private final Launcher launcher;
  private final Settings settings;
  private final ServerSocket server;
  private final Thread thread;

  Control(Launcher launcher, Settings settings) throws IOException {
    this.launcher = launcher;
    this.settings = settings;
    server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getByName(Settings.HOST), 0));
    thread = new Thread(this::serve, "minicluster-control");
    thread.setDaemon(true);
  }

  String address() {
    return Settings.HOST + ":" + server.getLocalPort();
  }

  void start() throws IOException {
    File f = settings.controlFile();
    File tmp = new File(f.getPath() + ".tmp");
    Files.write(tmp.toPath(), (address() + "\n").getBytes(StandardCharsets.UTF_8));
    Files.move(tmp.toPath(), f.toPath(), StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
    thread.start();
    Launcher.log("control socket on " + address());
  }

  void close() {
    try {
      server.close();
    } catch (IOException e) {
      Launcher.log("closing the control socket: " + e);
    }
    settings.controlFile().delete();
  }

  private void serve() {
    while (!server.isClosed()) {
      try (Socket s = server.accept()) {
        s.setSoTimeout(READ_TIMEOUT_MILLIS);
        BufferedReader in = new BufferedReader(
            new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
        String cmd = in.readLine();
        String answer = answer(cmd == null ? "" : cmd.trim());
        OutputStream out = s.getOutputStream();
        out.write((answer + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
      } catch (IOException e) {
        if (!server.isClosed()) {
          Launcher.log("control connection: " + e);
        }
      }
    }
  }

  private String answer(String cmd) {
    try {
      String[] f = cmd.split("\\s+");
      switch (f[0]) {
        case "rm-state":
          return "ok " + launcher.rmStates();
        case "failover-rm":
          double gap = f.length > 1 ? Double.parseDouble(f[1]) : 0;
          if (gap < 0 || gap > 300) {
            throw new IllegalArgumentException("failover-rm: the gap must be 0 to 300 seconds");
          }
          return "ok " + launcher.failoverResourceManager((long) (gap * 1000));
        default:
          return "error unknown command '" + cmd + "' (rm-state, failover-rm [seconds])";
      }
    } catch (Throwable t) {
      Launcher.log("control command " + cmd + " failed: " + t);
      t.printStackTrace();
      String msg = String.valueOf(t).replace('\n', ' ');
      return "error " + msg;
    }
  }
}

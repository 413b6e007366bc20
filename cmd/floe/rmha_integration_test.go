package main

import (
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"floe/internal/hadoop/conf"
	"floe/internal/testenv"
)

// envHAConfDir names the HA minicluster's HADOOP_CONF_DIR
// (`scripts/minicluster --ha up`); scripts/test sets it in its RM HA phase.
const envHAConfDir = "FLOE_HA_HADOOP_CONF_DIR"

// haConfDir returns the HA cluster's configuration directory, or skips the
// test when it is not given. Given but unreachable fails: a broken cluster
// must not pass as skipped.
func haConfDir(t *testing.T) string {
	t.Helper()
	if os.Getenv(testenv.EnvIntegration) == "" {
		t.Skip("integration test: set " + testenv.EnvIntegration + "=1 (make test does)")
	}
	dir := os.Getenv(envHAConfDir)
	if dir == "" {
		t.Skip("ResourceManager HA test: set " + envHAConfDir + " to the HADOOP_CONF_DIR of `scripts/minicluster --ha up` (make test does)")
	}
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !c.HAEnabled() || len(c.RMIDs()) < 2 {
		t.Fatalf("%s=%s is not a ResourceManager HA configuration", envHAConfDir, dir)
	}
	addrs, err := c.RMAddresses()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if nc, err := net.DialTimeout("tcp", a, 5*time.Second); err == nil {
			nc.Close()
			return dir
		}
	}
	t.Fatalf("no ResourceManager of %v accepts connections (%s=%s)", addrs, envHAConfDir, dir)
	return ""
}

// haControl runs a control command of the HA minicluster whose conf dir is
// confDir (scripts/minicluster --ha <cmd>) and returns its output.
func haControl(t *testing.T, confDir string, args ...string) (string, error) {
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "minicluster"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, append([]string{"--ha"}, args...)...)
	cmd.Env = append(os.Environ(), "FLOE_MINICLUSTER_DIR="+filepath.Dir(confDir))
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// On a cluster with two ResourceManagers: the active one is stopped while a
// keyed-count job with HDFS checkpoints runs, and the standby takes over 4 s
// later (a ZooKeeper elector's delay). The job's ApplicationMaster registers
// again with the new RM, keeps its TaskManager containers, and the job
// finishes SUCCEEDED with every count exactly once; a second `floe run`
// submitted while no RM is active retries and succeeds; the attached
// client of the first job follows it across the failover. Then a job ends
// during a second failover (back to the first RM, 15 s without an active
// one): its ApplicationMaster registers again with the new RM to
// unregister, and the job ends SUCCEEDED with every count once.
func TestIntegrationRMHAFailover(t *testing.T) {
	dir := haConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	if st, err := haControl(t, dir, "rm-state"); err != nil || !strings.Contains(st, "=active") {
		t.Fatalf("rm-state: %s %v", st, err)
	}
	home := t.TempDir()
	t.Setenv("FLOE_HOME", home)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	base := toHDFS(t, nil)
	const events, keys = 60000, 7
	cmd := exec.Command(floeBin, "run", "-t", "yarn-per-job", "-p", "2", "-s", "1", "-jm", "256m", "-tm", "256m",
		"-D", "execution.checkpointing.interval=500ms", "-D", "execution.checkpointing.dir="+base+"/checkpoints",
		"-D", "restart-strategy.fixed-delay.delay=200ms",
		"keyed-count", "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "2000", "--output", base+"/out")
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	marker := base + "/out"
	var tms map[int]string
	for deadline := time.Now().Add(90 * time.Second); len(tms) < 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("2 TaskManagers did not start: %s %s", stdout.String(), stderr.String())
		}
		tms = containerProcesses("taskmanager", marker)
	}
	committed := waitCommitted(t, base+"/out", 0, 60*time.Second, &stdout, &stderr)

	// Fail over with a 4 s gap without an active RM; submit the second job
	// inside the gap.
	const gap = 4
	failover := make(chan string, 1)
	go func() {
		out, err := haControl(t, dir, "failover-rm", strconv.Itoa(gap))
		if err != nil {
			out = "failed: " + out + ": " + err.Error()
		}
		failover <- out
	}()
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := c.RMAddresses()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no RM stopped within 30 s of failover-rm")
		}
		if noneListening(addrs) {
			break
		}
	}
	stopped := time.Now()
	t.Logf("no ResourceManager active; %d lines committed", committed)
	second := make(chan result, 1)
	go func() {
		second <- floe(t, env, "run", "-t", "yarn-per-job", "-p", "1", "-jm", "256m", "-tm", "256m",
			"keyed-count", "--events", "700", "--keys", "7", "--output", base+"/out2")
	}()
	var fo string
	select {
	case fo = <-failover:
	case <-time.After(3 * time.Minute):
		t.Fatal("failover-rm did not return")
	}
	if strings.HasPrefix(fo, "failed") {
		t.Fatalf("failover-rm: %s", fo)
	}
	t.Logf("failover-rm: %s (%s after the RM stopped)", fo, time.Since(stopped).Round(100*time.Millisecond))
	select {
	case <-done:
		t.Fatalf("the job ended before the failover was over: it proves nothing\n%s", stdout.String())
	default:
	}
	// The same TaskManager processes in the same containers: nothing was
	// restarted.
	if now := containerProcesses("taskmanager", marker); !maps.Equal(now, tms) {
		t.Errorf("TaskManagers before the failover %v, after %v", tms, now)
	}
	committed = waitCommitted(t, base+"/out", committed, 2*time.Minute, &stdout, &stderr)
	t.Logf("output committed %s after the RM stopped: %d lines (the data plane does not need the RM)", time.Since(stopped).Round(100*time.Millisecond), committed)

	r2 := <-second
	if r2.code != 0 {
		t.Errorf("floe run submitted during the failover: exit %d\n%s\n%s", r2.code, r2.stdout, r2.stderr)
	} else {
		checkCounts(t, base+"/out2", 700, 7)
		t.Logf("floe run submitted during the failover: exit 0, %d failed RM calls retried", strings.Count(r2.stderr, "ipc call failed, retrying"))
	}
	select {
	case <-done:
	case <-time.After(4 * time.Minute):
		t.Fatalf("job did not end\n%s\n%s", stdout.String(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	checkCounts(t, base+"/out", events, keys)

	// The ApplicationMaster stayed the first attempt, registered again with
	// the new RM, and kept the TaskManager containers it had.
	log := firstAMLog(t, dir, appIDRe.FindString(stdout.String()))
	if !strings.Contains(log, "registered again, resent the outstanding requests, kept the running containers") {
		t.Errorf("the ApplicationMaster did not register again after the failover:\n%s", tail(log, 40))
	}
	if strings.Contains(log, "TaskManager container ended") {
		t.Errorf("a TaskManager container ended during the failover:\n%s", tail(log, 40))
	}
	for _, id := range tms {
		if strings.Count(log, id) < 1 {
			t.Errorf("the ApplicationMaster log does not name its TaskManager container %s", id)
		}
	}

	// A job that ends while no RM is active (a failover back to rm0 with a
	// 15 s gap): its ApplicationMaster's unregistration waits for the new
	// RM, registers again there, and unregisters; the application ends
	// SUCCEEDED.
	var out3, err3 syncBuffer
	cmd3 := exec.Command(floeBin, "run", "-t", "yarn-per-job", "-p", "1", "-jm", "256m", "-tm", "256m",
		"-D", "execution.checkpointing.interval=500ms", "-D", "execution.checkpointing.dir="+base+"/checkpoints3",
		"keyed-count", "--events", "6000", "--keys", "7", "--rate", "2000", "--output", base+"/out3")
	cmd3.Env = append(os.Environ(), env...)
	cmd3.Stdout, cmd3.Stderr = &out3, &err3
	if err := cmd3.Start(); err != nil {
		t.Fatal(err)
	}
	done3 := make(chan error, 1)
	go func() { done3 <- cmd3.Wait() }()
	defer cmd3.Process.Kill()
	waitCommitted(t, base+"/out3", 0, 90*time.Second, &out3, &err3)
	go func() {
		out, err := haControl(t, dir, "failover-rm", "15")
		if err != nil {
			out = "failed: " + out + ": " + err.Error()
		}
		failover <- out
	}()
	select {
	case <-done3:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the job ending during the failover did not end\n%s\n%s", out3.String(), err3.String())
	}
	if fo := <-failover; strings.HasPrefix(fo, "failed") {
		t.Fatalf("second failover-rm: %s", fo)
	} else {
		t.Logf("second failover-rm: %s", fo)
	}
	if code := cmd3.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the job ending during the failover: exit %d\n%s\n%s", code, out3.String(), err3.String())
	}
	checkCounts(t, base+"/out3", 6000, 7)
	log3 := firstAMLog(t, dir, appIDRe.FindString(out3.String()))
	if !strings.Contains(log3, "registered again to unregister") {
		t.Errorf("the job did not end while no RM was active (its ApplicationMaster did not register again to unregister):\n%s", tail(log3, 30))
	}
}

// firstAMLog reads the jobmanager.log of app's first ApplicationMaster
// attempt on the HA cluster whose conf dir is confDir.
func firstAMLog(t *testing.T, confDir, app string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(filepath.Dir(confDir), "target", "*", "*", "*", app, "*_01_000001", "jobmanager.log"))
	if len(logs) != 1 {
		t.Fatalf("ApplicationMaster logs of %s: %v", app, logs)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noneListening reports whether no address accepts connections.
func noneListening(addrs []string) bool {
	for _, a := range addrs {
		if nc, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			nc.Close()
			return false
		}
	}
	return true
}

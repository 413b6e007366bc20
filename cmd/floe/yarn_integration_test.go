package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/appmaster"
	"floe/internal/fsys"
	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/yarn"
	"floe/internal/nexmark"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
	"floe/internal/submit"
	"floe/internal/testenv"
)

// Integration tests: the floe CLI against the real minicluster (make test).

func rmClient(t testing.TB, dir string) *yarn.Client {
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := yarn.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	return rm
}

var appIDRe = regexp.MustCompile(`application_\d+_\d+`)

func buildTestJob(t testing.TB) string {
	out := filepath.Join(t.TempDir(), "testjob")
	cmd := exec.Command("go", "build", "-o", out, "floe/internal/testjobs/testjob")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testjob: %v\n%s", err, b)
	}
	return out
}

// sharedDir is a directory the containers (same machine) can write.
func sharedDir(t *testing.T) string {
	d := t.TempDir()
	os.Chmod(d, 0o777)
	return d
}

// toHDFS copies local files into a fresh HDFS directory and returns its URI.
func toHDFS(t testing.TB, files []string) string {
	base := fmt.Sprintf("hdfs:///tmp/floe-it/%d", time.Now().UnixNano())
	fsy, root, err := fsys.Resolve(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsy.MkdirAll(t.Context(), fsy.Join(root, "in")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsy.RemoveAll(context.Background(), root) })
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := fsy.Create(t.Context(), fsy.Join(root, "in", filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

func TestIntegrationPerJobWordCount(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	env := []string{"HADOOP_CONF_DIR=" + dir}
	local := writeCorpus(t)
	files, _ := filepath.Glob(filepath.Join(local, "*.txt"))
	want := countWords(t, files...)
	base := toHDFS(t, files)
	in := base + "/in"

	out := base + "/out"
	r := floe(t, env, "run", "-t", "yarn-per-job", "-p", "4", "-s", "2", "-jm", "256m", "-tm", "256m",
		"wordcount", "--input", in, "--output", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, s := range []string{"Submitted application", "Found Web Interface", "FINISHED"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	if got := readOutput(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("counts differ")
	}
	rm := rmClient(t, dir)
	appID, err := yarn.ParseApplicationID(appIDRe.FindString(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rm.Report(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetFinalApplicationStatus() != hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED {
		t.Fatalf("final status %s", rep.GetFinalApplicationStatus())
	}

	// Detached, then followed with floe list until it is done.
	out2 := base + "/out2"
	r = floe(t, env, "run", "-t", "yarn-per-job", "-d", "-p", "2", "-jm", "256m", "-tm", "256m",
		"wordcount", "--input", in, "--output", out2)
	if r.code != 0 || !strings.Contains(r.stdout, "JobID") {
		t.Fatalf("detached: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	id := appIDRe.FindString(r.stdout)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l := floe(t, env, "list", "--all")
		line := ""
		for _, s := range strings.Split(l.stdout, "\n") {
			if strings.HasPrefix(s, id) {
				line = s
			}
		}
		if strings.Contains(line, "SUCCEEDED") {
			break
		}
		if strings.Contains(line, "FAILED") || strings.Contains(line, "KILLED") || time.Now().After(deadline) {
			t.Fatalf("detached job: %q\n%s", line, l.stdout+l.stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := readOutput(t, out2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("detached: counts differ")
	}
}

func TestIntegrationFailingJobExits1(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	job := buildTestJob(t)
	r := floe(t, []string{"HADOOP_CONF_DIR=" + dir}, "run", "-t", "yarn-per-job", "-p", "2", "-jm", "256m", "-tm", "256m",
		"-D", "restart-strategy.fixed-delay.attempts=1", "-D", "restart-strategy.fixed-delay.delay=100ms", job, "--fail")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "rejected on purpose") || !strings.Contains(r.stderr, "yarn logs -applicationId") {
		t.Fatalf("stderr does not give the cause and the logs: %s", r.stderr)
	}
}

// A TaskManager container killed mid-job: the job restarts and its output is
// still complete and correct.
func TestIntegrationTaskManagerKilled(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	job := buildTestJob(t)
	out := filepath.Join(sharedDir(t), "out")
	const n = 12000
	cmd := exec.Command(floeBin, "run", "-t", "yarn-per-job", "-p", "2", "-s", "1", "-jm", "256m", "-tm", "256m",
		"-D", "restart-strategy.fixed-delay.delay=200ms", job, "--events", strconv.Itoa(n), "--rate", "3000", "--output", out)
	cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait for the TaskManagers of this job (their environment names its output dir).
	var pids []int
	deadline := time.Now().Add(90 * time.Second)
	for len(pids) < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("TaskManagers did not start: %s %s", stdout.String(), stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
		pids = taskManagerPIDs(t, out)
	}
	time.Sleep(1500 * time.Millisecond) // mid-job: about a third of the records
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed TaskManager process %d", pids[0])
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("job did not end")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	seen := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(out, "part-*"))
	for _, f := range files {
		fh, _ := os.Open(f)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			seen[sc.Text()]++
		}
		fh.Close()
	}
	for i := range n {
		if c := seen["n"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("record n%d appears %d times after the restart", i, c)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records, want %d", len(seen), n)
	}
}

// A caller without the application's secret is refused by the JobManager.
func TestIntegrationJobManagerRefusesCallersWithoutSecret(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	job := buildTestJob(t)
	r := floe(t, []string{"HADOOP_CONF_DIR=" + dir}, "run", "-t", "yarn-per-job", "-d", "-p", "1", "-jm", "256m", "-tm", "256m",
		job, "--events", "0", "--rate", "100")
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	rm := rmClient(t, dir)
	appID, err := yarn.ParseApplicationID(appIDRe.FindString(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer rm.Kill(context.Background(), appID, "test done")
	rep, err := rm.WaitFor(ctx, appID, 300*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool {
		return r.GetYarnApplicationState() == hadooppb.YarnApplicationStateProto_RUNNING && r.GetRpcPort() > 0 || yarn.Terminal(r.GetYarnApplicationState())
	})
	if err != nil || rep.GetYarnApplicationState() != hadooppb.YarnApplicationStateProto_RUNNING {
		t.Fatalf("application not running: %v %v", err, rep)
	}
	addr := fmt.Sprintf("%s:%d", rep.GetHost(), rep.GetRpcPort())
	for _, secret := range []string{"", "not-the-secret"} {
		conn, err := grpc.NewClient(addr, rpc.DialOptions(secret)...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = floepb.NewJobManagerClient(conn).RegisterTaskManager(ctx, &floepb.RegisterTaskManagerRequest{ResourceId: "intruder", Address: "127.0.0.1:1", Slots: 1})
		conn.Close()
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("secret %q: got %v, want Unauthenticated", secret, err)
		}
	}
	// yarn application -kill stops it cleanly.
	if _, err := rm.Kill(ctx, appID, "test"); err != nil {
		t.Fatal(err)
	}
	rep, err = rm.WaitFor(ctx, appID, 300*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool { return yarn.Terminal(r.GetYarnApplicationState()) })
	if err != nil || rep.GetYarnApplicationState() != hadooppb.YarnApplicationStateProto_KILLED {
		t.Fatalf("after kill: %v %v", err, rep.GetYarnApplicationState())
	}
}

// A yarn-session takes jobs one after the other: the second reuses the
// first's TaskManager containers, a job from another binary runs too, and
// floe cancel stops an unbounded job.
func TestIntegrationYarnSession(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	home := t.TempDir()
	t.Setenv("HADOOP_CONF_DIR", dir)
	t.Setenv("FLOE_HOME", home)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	r := floe(t, env, "yarn-session", "-d", "-s", "2", "-tm", "256m", "-jm", "256m", "-nm", "it-session")
	if r.code != 0 {
		t.Fatalf("yarn-session: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	app := appIDRe.FindString(r.stdout)
	defer floe(t, env, "yarn-session", "stop", "-yid", app)
	checkOverviewVersion(t, dir, app)

	in := writeCorpus(t)
	files, _ := filepath.Glob(filepath.Join(in, "*.txt"))
	want := countWords(t, files...)
	var jobIDs []string
	for i := range 2 {
		out := filepath.Join(sharedDir(t), "out")
		r := floe(t, env, "run", "-t", "yarn-session", "-p", "2", "wordcount", "--input", in, "--output", out)
		if r.code != 0 {
			t.Fatalf("job %d: exit %d\n%s\n%s", i, r.code, r.stdout, r.stderr)
		}
		if got := readOutput(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("job %d: counts differ", i)
		}
		jobIDs = append(jobIDs, regexp.MustCompile(`JobID ([0-9a-f]{32})`).FindStringSubmatch(r.stdout)[1])
	}
	jobs, _, err := submit.SessionJobs(context.Background(), app, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	reused := map[string]bool{}
	for _, j := range jobs {
		reused[j.ID] = j.ReusedContainers
	}
	if reused[jobIDs[0]] || !reused[jobIDs[1]] {
		t.Fatalf("container reuse: first job %v, second %v (want false, true)", reused[jobIDs[0]], reused[jobIDs[1]])
	}

	// A job binary the session was not built with.
	job := buildTestJob(t)
	out := filepath.Join(sharedDir(t), "out")
	if r := floe(t, env, "run", "-t", "yarn-session", "-yid", app, "-p", "2", job, "--events", "3000", "--output", out); r.code != 0 {
		t.Fatalf("other binary: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	lines := 0
	parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
	for _, p := range parts {
		b, _ := os.ReadFile(p)
		lines += strings.Count(string(b), "\n")
	}
	if lines != 3000 {
		t.Fatalf("other binary wrote %d records, want 3000", lines)
	}

	// Cancel a running unbounded job.
	r = floe(t, env, "run", "-t", "yarn-session", "-d", job, "--events", "0", "--rate", "50")
	if r.code != 0 {
		t.Fatalf("unbounded: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	id := regexp.MustCompile(`JobID ([0-9a-f]{32})`).FindStringSubmatch(r.stdout)[1]
	waitStatus(t, app, id, "RUNNING")
	if r := floe(t, env, "cancel", id); r.code != 0 {
		t.Fatalf("cancel: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	waitStatus(t, app, id, "CANCELED")

	if r := floe(t, env, "yarn-session", "stop", "-yid", app); r.code != 0 {
		t.Fatalf("stop: exit %d %s", r.code, r.stderr)
	}
	rm := rmClient(t, dir)
	appID, _ := yarn.ParseApplicationID(app)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := rm.WaitFor(ctx, appID, 300*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool { return yarn.Terminal(r.GetYarnApplicationState()) })
	if err != nil || rep.GetFinalApplicationStatus() != hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED {
		t.Fatalf("session end: %v %v", err, rep.GetFinalApplicationStatus())
	}
}

// checkOverviewVersion checks that the JobManager of app reports, at
// /overview of its tracking URL, the version floeBin was linked with.
func checkOverviewVersion(t *testing.T, dir, app string) {
	t.Helper()
	appID, err := yarn.ParseApplicationID(app)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := rmClient(t, dir).Report(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSuffix(rep.GetOriginalTrackingUrl(), "/") + "/overview"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	defer resp.Body.Close()
	var o appmaster.Overview
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if o.FloeVersion != testVersion {
		t.Fatalf("%s says floe-version %q, want %q (the binary's)", url, o.FloeVersion, testVersion)
	}
}

func waitStatus(t *testing.T, app, job, want string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		jobs, _, err := submit.SessionJobs(context.Background(), app, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.ID == job && string(j.Status) == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never became %s: %v", job, want, jobs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Exactly-once on YARN: keyed-count with checkpoints on HDFS and its output
// on HDFS; a TaskManager container is killed mid-run; the committed output
// holds every count of every key exactly once.
func TestIntegrationExactlyOnceOnYarnWithHDFSCheckpoints(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	base := toHDFS(t, nil)
	const events, keys = 12000, 7
	cmd := exec.Command(floeBin, "run", "-t", "yarn-per-job", "-p", "2", "-s", "1", "-jm", "256m", "-tm", "256m",
		"-D", "execution.checkpointing.interval=300ms", "-D", "execution.checkpointing.dir="+base+"/checkpoints",
		"-D", "restart-strategy.fixed-delay.delay=200ms",
		"keyed-count", "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "3000", "--output", base+"/out")
	cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var pids []int
	for deadline := time.Now().Add(90 * time.Second); len(pids) < 2; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("TaskManagers did not start: %s %s", stdout.String(), stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
		pids = taskManagerPIDs(t, base+"/out")
	}
	time.Sleep(1500 * time.Millisecond) // a few checkpoints in
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("job did not end")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	checkCounts(t, base+"/out", events, keys)
}

// floe savepoint and floe stop reach the job of a per-job application; a new
// application restores from the savepoint (-s) and goes on counting.
func TestIntegrationPerJobSavepointAndStop(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	home := t.TempDir()
	t.Setenv("HADOOP_CONF_DIR", dir)
	t.Setenv("FLOE_HOME", home)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	base := toHDFS(t, nil)
	args := []string{"run", "-t", "yarn-per-job", "-d", "-p", "2", "-jm", "256m", "-tm", "256m",
		"-D", "execution.checkpointing.interval=500ms", "-D", "execution.checkpointing.dir=" + base + "/checkpoints",
		"-D", "execution.checkpointing.savepoint-dir=" + base + "/savepoints",
		"keyed-count", "--events", "0", "--keys", "5", "--rate", "500", "--output", base + "/out"}
	r := floe(t, env, args...)
	if r.code != 0 {
		t.Fatalf("exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	app := appIDRe.FindString(r.stdout)
	job := regexp.MustCompile(`JobID ([0-9a-f]{32})`).FindStringSubmatch(r.stdout)[1]
	rm := rmClient(t, dir)
	appID, _ := yarn.ParseApplicationID(app)
	defer rm.Kill(context.Background(), appID, "test done")
	waitRunning := func() {
		deadline := time.Now().Add(90 * time.Second)
		for {
			jobs, _, err := submit.SessionJobs(context.Background(), app, zerolog.Nop())
			if err == nil && len(jobs) == 1 && string(jobs[0].Status) == "RUNNING" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job not running: %v %v", jobs, err)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	waitRunning()
	time.Sleep(time.Second)
	r = floe(t, env, "savepoint", "-yid", app, job)
	if r.code != 0 || !strings.Contains(r.stdout, "Savepoint completed. Path: ") {
		t.Fatalf("savepoint: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = floe(t, env, "stop", "-yid", app, job)
	if r.code != 0 {
		t.Fatalf("stop: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	sp := strings.TrimSpace(strings.TrimPrefix(regexp.MustCompile(`Path: (\S+)`).FindString(r.stdout), "Path: "))
	fsy, p, err := fsys.Resolve(sp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsy.Stat(t.Context(), fsy.Join(p, "_metadata")); err != nil {
		t.Fatalf("savepoint %s has no _metadata: %v", sp, err)
	}
	// The first run's counts, then a new application from the savepoint.
	counted := map[string]int{}
	readCounts := func() {
		out, root, _ := fsys.Resolve(base + "/out")
		ents, _ := out.List(t.Context(), root)
		clear(counted)
		for _, e := range ents {
			if strings.HasPrefix(e.Name, ".") {
				continue
			}
			f, _ := out.Open(t.Context(), out.Join(root, e.Name))
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				counted[sc.Text()]++
			}
			f.Close()
		}
	}
	readCounts()
	before := len(counted)
	bounded := append([]string{}, args...)
	bounded = append(bounded[:1], append([]string{"-s", sp}, bounded[1:]...)...)
	for i, a := range bounded {
		if a == "-d" {
			bounded = append(bounded[:i], bounded[i+1:]...)
			break
		}
	}
	for i, a := range bounded {
		if a == "0" && bounded[i-1] == "--events" {
			bounded[i] = strconv.Itoa(before + 500) // the restored generator goes on to here
		}
	}
	if r := floe(t, env, bounded...); r.code != 0 {
		t.Fatalf("restore: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	readCounts()
	for l, n := range counted {
		if n != 1 {
			t.Fatalf("%q appears %d times across the two runs", l, n)
		}
	}
	if len(counted) <= before {
		t.Fatalf("the restored run added nothing: %d lines before, %d after", before, len(counted))
	}
}

// A windowed Nexmark query per job on YARN with its results on HDFS: q11's
// sessions equal the plain-Go computation over the same seeded events.
func TestIntegrationNexmarkOnYarn(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	env := []string{"HADOOP_CONF_DIR=" + dir}
	base := toHDFS(t, nil)
	out := base + "/q11"
	r := floe(t, env, "run", "-t", "yarn-per-job", "-p", "2", "-jm", "256m", "-tm", "256m",
		"nexmark", "--query", "q11", "--events", "30000", "--event-rate", "1000", "--seed", "5", "--sink", "file", "--output", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	gen := nexmark.DefaultConfig()
	gen.Seed, gen.EventRate = 5, 1000
	evs := make([]nexmark.Event, 30000)
	for i := range evs {
		evs[i] = gen.Event(int64(i))
	}
	want := nexmark.RefQ11(evs)
	got := readJSONLines[nexmark.Q11Row](t, out)
	if g, w := nexmark.Canonical(got), nexmark.Canonical(want); len(w) == 0 || !slices.Equal(g, w) {
		t.Fatalf("q11 on YARN: %d sessions, want %d", len(g), len(w))
	}
}

// A queue that does not exist: the application never ran, so floe says
// which queue in one line (the RM's text once) and points to no logs; exit 2.
func TestIntegrationUnknownQueueSaysSo(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("a b c\n"), 0o644)
	start := time.Now()
	r := floe(t, []string{"HADOOP_CONF_DIR=" + dir}, "run", "-t", "yarn-per-job", "-qu", "nosuch", "-jm", "256m", "-tm", "256m",
		"wordcount", "--input", input)
	stderr := strings.TrimSpace(r.stderr)
	if r.code != 2 || strings.Contains(stderr, "\n") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line", r.code, stderr)
	}
	if !strings.Contains(stderr, `queue "nosuch" does not exist`) || strings.Count(stderr, "submitted by user") != 1 || strings.Contains(stderr, "yarn logs") {
		t.Fatalf("stderr %q: want the queue named, the RM's text once, no logs to look for", stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %s", d)
	}
}

// list -yid with an application the RM does not know: one line saying so,
// without the Java exception's class; exit 2.
func TestIntegrationListUnknownApplication(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	r := floe(t, []string{"HADOOP_CONF_DIR=" + dir}, "list", "-yid", "application_1_1")
	stderr := strings.TrimSpace(r.stderr)
	if r.code != 2 || strings.Contains(stderr, "\n") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line", r.code, stderr)
	}
	if !strings.Contains(stderr, "unknown application application_1_0001") || strings.Contains(stderr, "Exception") || strings.Contains(stderr, "org.apache") {
		t.Fatalf("stderr %q: want the unknown application named, without the Java exception", stderr)
	}
}

// On YARN the client reads the savepoint on HDFS before it submits: a
// missing or corrupt one is refused in one line, exit 2, and no
// application is started.
func TestIntegrationBadSavepointOnHDFSIsRefusedBeforeSubmitting(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	base := toHDFS(t, nil)
	fsy, root, err := fsys.Resolve(base)
	if err != nil {
		t.Fatal(err)
	}
	w, err := fsy.Create(t.Context(), fsy.Join(root, "corrupt", "_metadata"))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("not a checkpoint"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sp, want string }{
		{base + "/nosuch", "does not exist"},
		{base + "/corrupt", "corrupt metadata"},
	} {
		r := floe(t, []string{"HADOOP_CONF_DIR=" + dir}, "run", "-t", "yarn-per-job", "-s", tc.sp, "-jm", "256m", "-tm", "256m",
			"keyed-count", "--events", "100", "--output", base+"/out")
		stderr := strings.TrimSpace(r.stderr)
		if r.code != 2 || strings.Contains(stderr, "\n") || !strings.Contains(stderr, tc.sp) || !strings.Contains(stderr, tc.want) {
			t.Errorf("-s %s: exit %d, stderr %q; want exit 2, one line naming it and %q", tc.sp, r.code, stderr, tc.want)
		}
		if strings.Contains(r.stdout, "Submitted application") {
			t.Errorf("-s %s: an application was submitted: %s", tc.sp, r.stdout)
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"floe/internal/fsys"
	"floe/internal/hadoop/conf"
	"floe/internal/testenv"
)

// The ApplicationMaster of a keyed-count job with HDFS checkpoints is killed
// mid-job, and again once the second attempt has output flowing when the
// cluster allows a third attempt (yarn.resourcemanager.am.max-attempts): each
// new attempt keeps the first attempt's TaskManager containers, restores the
// job from its latest checkpoint under the same job id, and finishes it:
// SUCCEEDED, every count exactly once in the committed output.
func TestIntegrationAMFailoverKeepsContainersAndCounts(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	maxAttempts := c.Int("yarn.resourcemanager.am.max-attempts", 2)
	if maxAttempts < 2 {
		t.Skipf("the minicluster allows %d ApplicationMaster attempt(s) (yarn.resourcemanager.am.max-attempts); this test needs 2: restart it with the launcher's setting", maxAttempts)
	}
	kills := min(maxAttempts, 3) - 1
	if kills < 2 {
		t.Logf("the minicluster caps ApplicationMaster attempts at %d (yarn.resourcemanager.am.max-attempts in %s): killing the ApplicationMaster once, not twice", maxAttempts, dir)
	}
	home := t.TempDir()
	t.Setenv("FLOE_HOME", home)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	base := toHDFS(t, nil)
	const events, keys = 30000, 7
	run := startFloe(t, env, append([]string{"run", "-t", "yarn-per-job", "-s", "1", "-jm", "256m", "-tm", "256m"},
		keyedCountArgs(base, base+"/out", events, keys, "-D", "yarn.application-attempts="+strconv.Itoa(kills+1), "-D", "heartbeat.timeout=30s")...)...)
	stdout, stderr := &run.stdout, &run.stderr
	marker := base + "/out"
	var tms, ams map[int]string
	for deadline := time.Now().Add(90 * time.Second); len(tms) < 2 || len(ams) != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the ApplicationMaster and 2 TaskManagers did not start (%d, %d): %s %s", len(ams), len(tms), stdout.String(), stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
		tms, ams = containerProcesses("taskmanager", marker), containerProcesses("jobmanager", marker)
	}
	// Kill once output is committed: a new attempt that started the job from
	// scratch instead of its checkpoint would then repeat counts.
	committed := waitCommitted(t, base+"/out", 0, 30*time.Second, stdout, stderr)
	var amContainers []string
	var jobID string
	for k := 1; k <= kills; k++ {
		if k > 1 {
			// The next attempt's JobManager, once it has output flowing.
			for deadline := time.Now().Add(30 * time.Second); len(ams) != 1; time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no ApplicationMaster of attempt %d: %s", k, stderr.String())
				}
				ams = containerProcesses("jobmanager", marker)
			}
		}
		var amPID int
		for pid, id := range ams {
			amPID = pid
			amContainers = append(amContainers, id)
		}
		if err := syscall.Kill(amPID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		t.Logf("kill %d: the ApplicationMaster, process %d in %s, with %d lines committed", k, amPID, amContainers[k-1], committed)
		// Records flowing again: the first commit after the kill (so it
		// includes up to a checkpoint interval).
		committed = waitCommitted(t, base+"/out", committed, 3*time.Minute, stdout, stderr)
		t.Logf("output committed again %s after kill %d (%d lines)", time.Since(killed).Round(100*time.Millisecond), k, committed)
		ams = nil
		if k == 1 {
			jobID = jobIDRe.FindStringSubmatch(stdout.String())[1]
		}
	}
	// The clients find the recovered attempt through the ResourceManager:
	// floe list shows its job, floe savepoint takes one.
	app := appIDRe.FindString(stdout.String())
	if r := floe(t, env, "list", "-yid", app); r.code != 0 || !strings.Contains(r.stdout, jobID) || !strings.Contains(r.stdout, "RUNNING") {
		t.Errorf("floe list -yid %s after the failover: exit %d\n%s%s", app, r.code, r.stdout, r.stderr)
	}
	r := floe(t, env, "savepoint", "-yid", app, jobID, base+"/savepoints")
	if r.code != 0 || !strings.Contains(r.stdout, "Savepoint completed. Path: "+base+"/savepoints/") {
		t.Errorf("floe savepoint against attempt %d: exit %d\n%s%s", kills+1, r.code, r.stdout, r.stderr)
	} else {
		sp := strings.TrimSpace(strings.SplitN(r.stdout, "Path: ", 2)[1])
		fsy, p, err := fsys.Resolve(sp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fsy.Stat(t.Context(), fsy.Join(p, "_metadata")); err != nil {
			t.Errorf("savepoint %s of the recovered attempt has no _metadata: %v", sp, err)
		}
	}
	if code := run.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	checkCounts(t, base+"/out", events, keys)
	// The attached client followed the job across every attempt and said so.
	for k := 2; k <= kills+1; k++ {
		want := fmt.Sprintf("JobManager failed over: attempt %d of %s is recovering job %s from checkpoint ", k, app, jobID)
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("floe run did not say %q:\n%s", want, stdout.String())
		}
	}

	// Each later attempt's log names the first attempt's TaskManager
	// containers as adopted, and recovers the same job.
	for k := 2; k <= kills+1; k++ {
		next := strings.Replace(amContainers[0], "_01_", fmt.Sprintf("_%02d_", k), 1)
		log := amLog(t, dir, app, next)
		for _, id := range tms {
			if !strings.Contains(log, id) {
				t.Errorf("attempt %d's log does not name the first attempt's TaskManager container %s", k, id)
			}
		}
		if !strings.Contains(log, "adopting the TaskManager containers of previous attempts") {
			t.Errorf("attempt %d did not adopt containers:\n%s", k, tail(log, 40))
		}
		if !strings.Contains(log, "recovering the job from its metadata") || !strings.Contains(log, jobID) {
			t.Errorf("attempt %d did not recover job %s from its metadata:\n%s", k, jobID, tail(log, 40))
		}
	}
}

// jobIDRe finds the job id floe run prints.
var jobIDRe = regexp.MustCompile(`JobID ([0-9a-f]+)`)

// waitCommitted waits until the output in out has more than n lines, and
// returns how many it has.
func waitCommitted(t *testing.T, out string, n int, within time.Duration, stdout, stderr *syncBuffer) int {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		if m := committedLines(t, out); m > n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no output committed beyond %d lines within %s: %s %s", n, within, stdout.String(), stderr.String())
		}
	}
}

// amLog reads the jobmanager.log of an ApplicationMaster container of app.
func amLog(t *testing.T, confDir, app, container string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(filepath.Dir(confDir), "target", "*", "*", "*", app, container, "jobmanager.log"))
	if len(logs) == 0 {
		t.Fatalf("no log of the ApplicationMaster container %s of %s under %s", container, app, filepath.Dir(confDir))
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// committedLines counts the lines of the visible files in out.
func committedLines(t *testing.T, out string) int {
	fsy, root, err := fsys.Resolve(out)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := fsy.List(t.Context(), root)
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ".") || strings.HasPrefix(e.Name, "_") {
			continue
		}
		f, err := fsy.Open(t.Context(), fsy.Join(root, e.Name))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			n++
		}
		f.Close()
	}
	return n
}

// checkCounts reads the committed output of keyed-count and checks that
// every count of every key appears exactly once.
func checkCounts(t *testing.T, out string, events, keys int) {
	t.Helper()
	fsy, root, err := fsys.Resolve(out)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fsy.List(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ".") {
			t.Errorf("uncommitted file %s visible", e.Name)
			continue
		}
		f, err := fsy.Open(t.Context(), fsy.Join(root, e.Name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			got[sc.Text()]++
		}
		f.Close()
	}
	per := map[int]int{}
	for i := range events {
		per[i%keys]++
	}
	want := 0
	for k, n := range per {
		for c := 1; c <= n; c++ {
			want++
			if l := fmt.Sprintf("k%d\t%d", k, c); got[l] != 1 {
				t.Fatalf("%q appears %d times in the committed output", l, got[l])
			}
		}
	}
	if len(got) != want {
		t.Fatalf("%d distinct lines, want %d", len(got), want)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

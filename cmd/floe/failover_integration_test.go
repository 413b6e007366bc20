package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
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
// once output is committed: the second attempt keeps the first attempt's
// TaskManager containers, restores the job from its latest checkpoint under
// the same job id, and finishes it: SUCCEEDED, every count exactly once in
// the committed output. floe list and savepoint reach the second attempt.
func TestIntegrationAMFailoverKeepsContainersAndCounts(t *testing.T) {
	amFailover(t, 1, nil)
}

// The ApplicationMaster is killed at a random moment once the TaskManagers
// run, and the second attempt's at a random moment once it runs: the third
// attempt finishes the job (SUCCEEDED, every count once) and names the first
// attempt's TaskManager containers as adopted. FLOE_TEST_SEED replays the
// moments of a run (the test logs its seed).
func TestIntegrationAMKilledTwice(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	if n, from := rmMaxAttempts(t, dir); n < 3 {
		t.Skipf("the ResourceManager allows %d ApplicationMaster attempts (yarn.resourcemanager.am.max-attempts, from %s); killing the AM twice needs 3: restart the minicluster (scripts/minicluster down; up), whose launcher sets 4", n, from)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("FLOE_TEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("FLOE_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (FLOE_TEST_SEED=%d replays the kill moments)", seed, seed)
	amFailover(t, 2, rand.New(rand.NewPCG(uint64(seed), 0)))
}

// rmMaxAttempts is the running ResourceManager's
// yarn.resourcemanager.am.max-attempts, from its /conf web page, or from the
// client configuration in dir when the page does not answer; and where it
// was read.
func rmMaxAttempts(t *testing.T, dir string) (int, string) {
	t.Helper()
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	const key = "yarn.resourcemanager.am.max-attempts"
	u := "http://" + c.String("yarn.resourcemanager.webapp.address", "") + "/conf"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/json")
	hc := http.Client{Timeout: 5 * time.Second}
	if resp, err := hc.Do(req); err == nil {
		defer resp.Body.Close()
		var page struct {
			Properties []struct{ Key, Value string }
		}
		if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&page) == nil {
			for _, p := range page.Properties {
				if p.Key == key {
					if n, err := strconv.Atoi(p.Value); err == nil {
						return n, u
					}
				}
			}
		}
	}
	return c.Int(key, 2), filepath.Join(dir, "yarn-site.xml")
}

// amFailover runs a keyed-count job with HDFS checkpoints on YARN and kills
// its ApplicationMaster kills times, each attempt's in turn. Without rng the
// first kill comes once output is committed and the next once the new
// attempt has output flowing; with rng, the first comes 0-5 s after the
// TaskManagers run, each later one 0-5 s after the new attempt's process
// started.
func amFailover(t *testing.T, kills int, rng *rand.Rand) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	if n, from := rmMaxAttempts(t, dir); n < kills+1 {
		t.Skipf("the ResourceManager allows %d ApplicationMaster attempts (yarn.resourcemanager.am.max-attempts, from %s); this test needs %d", n, from, kills+1)
	}
	home := t.TempDir()
	t.Setenv("FLOE_HOME", home)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	base := toHDFS(t, nil)
	events, keys := 30000, 7
	if rng != nil {
		events = 60000 // still running when the last kill comes
	}
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
	committed := 0
	if rng == nil {
		// Kill once output is committed: a new attempt that started the job
		// from scratch instead of its checkpoint would then repeat counts.
		committed = waitCommitted(t, base+"/out", 0, 30*time.Second, stdout, stderr)
	}
	var amContainers []string
	for k := 1; k <= kills; k++ {
		if k > 1 {
			// The next attempt's JobManager.
			for deadline := time.Now().Add(60 * time.Second); len(ams) != 1; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no ApplicationMaster of attempt %d: %s", k, stderr.String())
				}
				ams = containerProcesses("jobmanager", marker)
			}
		}
		if rng != nil {
			d := time.Duration(rng.Int64N(int64(5 * time.Second))).Round(time.Millisecond)
			t.Logf("kill %d in %s", k, d)
			time.Sleep(d)
		}
		var amPID int
		for pid, id := range ams {
			amPID = pid
			amContainers = append(amContainers, id)
		}
		if err := syscall.Kill(amPID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: the ApplicationMaster, process %d: %v\n%s", k, amPID, err, stderr.String())
		}
		killed := time.Now()
		n := committedLines(t, base+"/out")
		t.Logf("kill %d: the ApplicationMaster, process %d in %s, with %d lines committed", k, amPID, amContainers[k-1], n)
		ams = nil
		if rng != nil && k < kills {
			continue // the next kill may come before records flow again
		}
		// Records flowing again: the first commit after the kill (so it
		// includes up to a checkpoint interval).
		committed = waitCommitted(t, base+"/out", max(committed, n), 3*time.Minute, stdout, stderr)
		t.Logf("output committed again %s after kill %d (%d lines)", time.Since(killed).Round(100*time.Millisecond), k, committed)
	}
	jobID := jobIDRe.FindStringSubmatch(stdout.String())[1]
	app := appIDRe.FindString(stdout.String())
	if rng == nil {
		// The clients find the recovered attempt through the ResourceManager:
		// floe list shows its job, floe savepoint takes one.
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
	}
	if code := run.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	checkCounts(t, base+"/out", events, keys)
	// The attached client followed the job to the last attempt and said so
	// (an attempt killed before the client's next report may go unnamed).
	want := fmt.Sprintf("JobManager failed over: attempt %d of %s is recovering job %s from checkpoint ", kills+1, app, jobID)
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("floe run did not say %q:\n%s", want, stdout.String())
	}

	// The last attempt's log names the first attempt's TaskManager
	// containers as adopted, and recovers the same job; so does every
	// attempt in between that ran long enough to log it.
	for k := 2; k <= kills+1; k++ {
		next := strings.Replace(amContainers[0], "_01_", fmt.Sprintf("_%02d_", k), 1)
		log := amLog(t, dir, app, next)
		if k <= kills && !strings.Contains(log, "adopting the TaskManager containers of previous attempts") {
			t.Logf("attempt %d was killed before it adopted the containers", k)
			continue
		}
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
func amLog(t testing.TB, confDir, app, container string) string {
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

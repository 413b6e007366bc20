package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"floe/internal/fsys"
	"floe/internal/nexmark"
	"floe/internal/testenv"
)

// incrementalQ11 is the Nexmark q11 run of the TaskManager-kill tests: keyed
// session windows on the pebble backend with incremental checkpoints, two
// retained, so a restore reopens SST files that several checkpoints share.
var incrementalQ11 = []string{"-D", "state.backend.type=pebble", "-D", "execution.checkpointing.incremental=true",
	"-D", "execution.checkpointing.num-retained=2", "-D", "execution.checkpointing.interval=300ms",
	"-D", "restart-strategy.fixed-delay.delay=200ms"}

const incrementalEvents = 30000

func incrementalQ11Args(out string) []string {
	return []string{"nexmark", "--query", "q11", "--events", strconv.Itoa(incrementalEvents), "--rate", "6000",
		"--event-rate", "1000", "--seed", "5", "--sink", "file", "--output", out}
}

// killDuringIncremental starts cmd, waits for two TaskManagers (found by
// marker), kills one at a random moment 1 to 3 s later and waits for the job
// to end. The job's checkpoints under ckpt must share files in shared/ by
// the kill.
func killDuringIncremental(t *testing.T, cmd *exec.Cmd, marker, ckpt string, wait time.Duration) {
	killDuring(t, cmd, marker, wait, func() {
		if n := sharedFiles(t, ckpt); n == 0 {
			t.Errorf("no shared files under %s at the kill: checkpoints are not incremental", ckpt)
		}
	})
}

// killDuring starts cmd, waits for two TaskManagers (found by marker),
// kills one at a random moment 1 to 3 s later, after calling atKill, and
// waits for the job to end successfully.
func killDuring(t *testing.T, cmd *exec.Cmd, marker string, wait time.Duration, atKill func()) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var pids []int
	deadline := time.Now().Add(wait)
	for len(pids) < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("TaskManagers did not start: %s %s", stdout.String(), stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
		pids = taskManagerPIDs(t, marker)
	}
	after := time.Second + rand.N(2*time.Second)
	time.Sleep(after)
	atKill()
	victim := pids[rand.N(len(pids))]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed TaskManager %d %s after both started", victim, after)
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("job did not end: %s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
}

// sharedFiles counts the files in <ckpt>/<job-id>/shared of every job.
func sharedFiles(t *testing.T, ckpt string) int {
	fsy, root, err := fsys.Resolve(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := fsy.List(t.Context(), root)
	n := 0
	for _, j := range jobs {
		files, _ := fsy.List(t.Context(), fsy.Join(root, j.Name, "shared"))
		n += len(files)
	}
	return n
}

// checkQ11 compares q11's committed sessions under out with the plain-Go
// computation over the same seeded events: each exactly once.
func checkQ11(t *testing.T, out string) {
	gen := nexmark.DefaultConfig()
	gen.Seed, gen.EventRate = 5, 1000
	evs := make([]nexmark.Event, incrementalEvents)
	for i := range evs {
		evs[i] = gen.Event(int64(i))
	}
	want := nexmark.RefQ11(evs)
	got := readJSONLines[nexmark.Q11Row](t, out)
	if g, w := nexmark.Canonical(got), nexmark.Canonical(want); len(w) == 0 || !slices.Equal(g, w) {
		t.Fatalf("q11 after a TaskManager kill: %d sessions, want %d", len(g), len(w))
	}
}

// A TaskManager process killed at a random moment of a keyed job on pebble
// with incremental checkpoints: the job restores from shared SST files and
// commits every q11 session exactly once.
func TestLocalTaskManagerKilledPebbleIncremental(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ckpt := filepath.Join(dir, "checkpoints")
	args := append([]string{"run", "-p", "2", "-D", "local.taskmanager.processes=true", "-D", "execution.checkpointing.dir=file://" + ckpt},
		incrementalQ11...)
	cmd := exec.Command(floeBin, append(args, incrementalQ11Args(out)...)...)
	killDuringIncremental(t, cmd, out, ckpt, 30*time.Second)
	checkQ11(t, out)
}

// The same on YARN with checkpoints and output on HDFS.
func TestIntegrationTaskManagerKilledPebbleIncremental(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	base := toHDFS(t, nil)
	out := base + "/q11"
	args := append([]string{"run", "-t", "yarn-per-job", "-p", "2", "-s", "1", "-jm", "256m", "-tm", "256m",
		"-D", "execution.checkpointing.dir=" + base + "/checkpoints"}, incrementalQ11...)
	cmd := exec.Command(floeBin, append(args, incrementalQ11Args(out)...)...)
	cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
	killDuringIncremental(t, cmd, out, base+"/checkpoints", 90*time.Second)
	checkQ11(t, out)
}

// readJSONLines reads every committed file under out (a file:// or hdfs://
// directory) as JSON lines of T.
func readJSONLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var got []T
	for _, l := range readLines(t, out) {
		var row T
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("%s: %q: %v", out, l, err)
		}
		got = append(got, row)
	}
	return got
}

// readLines reads the lines of every committed file under out (a file://
// or hdfs:// directory).
func readLines(t *testing.T, out string) []string {
	t.Helper()
	fsy, root, err := fsys.Resolve(out)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fsy.List(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		f, err := fsy.Open(t.Context(), fsy.Join(root, e.Name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			t.Fatalf("read %s: %v", e.Name, err)
		}
	}
	return got
}

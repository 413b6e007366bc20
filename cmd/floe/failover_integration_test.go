package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/internal/fsys"
	"floe/internal/hadoop/conf"
	"floe/internal/testenv"
)

// containerProcesses finds the floe processes of a role whose arguments hold
// marker, with the container id each runs in.
func containerProcesses(role, marker string) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		vars := strings.Split(string(b), "\x00")
		args, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if c := strings.TrimSpace(string(comm)); c == "bash" || c == "sh" {
			continue
		}
		if !slices.Contains(vars, "FLOE_ROLE="+role) || !strings.Contains(string(args), marker) {
			continue
		}
		for _, v := range vars {
			if id, ok := strings.CutPrefix(v, "CONTAINER_ID="); ok {
				out[pid] = id
			}
		}
	}
	return out
}

// The ApplicationMaster of a keyed-count job with HDFS checkpoints is killed
// mid-job: YARN starts a second attempt, which keeps the first attempt's
// TaskManager containers, restores the job from its latest checkpoint under
// the same job id, and finishes it: SUCCEEDED, every count exactly once in
// the committed output.
func TestIntegrationAMFailoverKeepsContainersAndCounts(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Int("yarn.resourcemanager.am.max-attempts", 2); n < 2 {
		t.Skipf("the minicluster allows %d ApplicationMaster attempt(s) (yarn.resourcemanager.am.max-attempts); this test needs 2: restart it with the launcher's setting", n)
	}
	base := toHDFS(t, nil)
	const events, keys = 15000, 7
	cmd := exec.Command(floeBin, "run", "-t", "yarn-per-job", "-p", "2", "-s", "1", "-jm", "256m", "-tm", "256m",
		"-D", "execution.checkpointing.interval=500ms", "-D", "execution.checkpointing.dir="+base+"/checkpoints",
		"-D", "restart-strategy.fixed-delay.delay=200ms", "-D", "heartbeat.timeout=30s",
		"keyed-count", "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "2000", "--output", base+"/out")
	cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	marker := base + "/out"
	var tms, ams map[int]string
	for deadline := time.Now().Add(90 * time.Second); len(tms) < 2 || len(ams) != 1; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the ApplicationMaster and 2 TaskManagers did not start (%d, %d): %s %s", len(ams), len(tms), stdout.String(), stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
		tms, ams = containerProcesses("taskmanager", marker), containerProcesses("jobmanager", marker)
	}
	// Kill once output is committed: a second attempt that started the job
	// from scratch instead of its checkpoint would then repeat counts.
	committed := 0
	for deadline := time.Now().Add(30 * time.Second); committed == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no output committed: %s %s", stdout.String(), stderr.String())
		}
		committed = committedLines(t, base+"/out")
	}
	var amPID int
	var amContainer string
	for pid, id := range ams {
		amPID, amContainer = pid, id
	}
	if err := syscall.Kill(amPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("killed the ApplicationMaster, process %d in %s, with %d lines committed", amPID, amContainer, committed)
	// Records flowing again: the first commit after the kill (so it includes
	// up to a checkpoint interval).
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n := committedLines(t, base+"/out"); n > committed {
			t.Logf("output committed again %s after the kill (%d lines)", time.Since(killed).Round(100*time.Millisecond), n)
			break
		}
	}
	select {
	case <-done:
	case <-time.After(4 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("job did not end\n%s\n%s", stdout.String(), stderr.String())
	}
	t.Logf("the job ended %s after the kill", time.Since(killed).Round(time.Millisecond))
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	checkCounts(t, base+"/out", events, keys)

	// The second attempt's log names the first attempt's TaskManager containers as adopted.
	app := appIDRe.FindString(stdout.String() + stderr.String())
	second := strings.Replace(amContainer, "_01_", "_02_", 1)
	logs, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "target", "*", "*", "*", app, second, "jobmanager.log"))
	if len(logs) == 0 {
		t.Fatalf("no log of the second attempt %s of %s under %s", second, app, filepath.Dir(dir))
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, id := range tms {
		if !strings.Contains(log, id) {
			t.Errorf("the second attempt's log does not name the first attempt's TaskManager container %s", id)
		}
	}
	if !strings.Contains(log, "adopting the TaskManager containers of previous attempts") {
		t.Errorf("the second attempt did not adopt containers:\n%s", tail(log, 40))
	}
	if !strings.Contains(log, "recovering the job from its metadata") {
		t.Errorf("the second attempt did not read the job's metadata:\n%s", tail(log, 40))
	}
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

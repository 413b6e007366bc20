package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A TaskManager child process killed mid-job is replaced, as YARN's
// containers are, and the job recovers from its checkpoint: every record
// once in the output.
func TestLocalTaskManagerProcessKilledIsReplaced(t *testing.T) {
	job := buildTestJob(t)
	out := filepath.Join(t.TempDir(), "out")
	const n = 12000
	cmd := exec.Command(floeBin, "run", "-p", "2", "-D", "local.taskmanager.processes=true",
		"-D", "execution.checkpointing.interval=500ms", "-D", "execution.checkpointing.dir=file://"+t.TempDir(), "-D", "restart-strategy.fixed-delay.delay=200ms",
		job, "--events", strconv.Itoa(n), "--rate", "3000", "--output", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var pids []int
	deadline := time.Now().Add(30 * time.Second)
	for len(pids) < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("TaskManagers did not start: %s %s", stdout.String(), stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
		pids = taskManagerPIDs(t, out)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("job did not end: %s", stderr.String())
	}
	t.Logf("job ended %s after the kill", time.Since(killed))
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	seen := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(out, "part-*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Fields(string(b)) {
			seen[l]++
		}
	}
	for i := range n {
		if c := seen["n"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("record n%d appears %d times after the restart", i, c)
		}
	}
}

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A STREAMING job reading files whose splits the JobManager hands out on
// demand, with checkpoints, loses a TaskManager process at a random moment:
// it restores the enumerator's unassigned splits and the readers' held ones
// with their positions, and every input record reaches the output once.
func TestLocalTaskManagerKilledOnDemandSplits(t *testing.T) {
	job := buildTestJob(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	const files, per = 4, 2500
	for f := range files {
		var b strings.Builder
		for i := range per {
			fmt.Fprintln(&b, f*per+i)
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%d.csv", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(floeBin, "run", "-p", "2", "-D", "local.taskmanager.processes=true",
		"-D", "execution.checkpointing.interval=300ms", "-D", "execution.checkpointing.dir=file://"+filepath.Join(dir, "ckpt"),
		"-D", "restart-strategy.fixed-delay.delay=200ms",
		job, "--input", in, "--split-size", "2048", "--record-delay", "400us", "--output", out)
	cmd.Env = append(os.Environ(), "FLOE_LOG_LEVEL=info") // the JobManager's "restoring from checkpoint"
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
	after := 700*time.Millisecond + rand.N(1500*time.Millisecond) // the job takes some 5 s
	time.Sleep(after)
	victim := pids[rand.N(len(pids))]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed TaskManager %d %s after both started", victim, after)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("job did not end: %s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "restoring from checkpoint") {
		t.Logf("the job did not restore a checkpoint (killed before the first completed?)")
	}
	seen := map[string]int{}
	parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
	for _, f := range parts {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Fields(string(b)) {
			seen[l]++
		}
	}
	for i := range files * per {
		if c := seen["n"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("record n%d appears %d times after the restart", i, c)
		}
	}
	if len(seen) != files*per {
		t.Fatalf("%d distinct records, want %d", len(seen), files*per)
	}
}

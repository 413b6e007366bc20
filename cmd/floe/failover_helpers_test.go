package main

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// background is a floe command the test runs while it does other things.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan error
}

// startFloe starts floe with args and env; the process is killed when the
// test ends if it still runs.
func startFloe(t testing.TB, env []string, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(floeBin, args...), done: make(chan error, 1)}
	b.cmd.Env = append(os.Environ(), env...)
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() { b.cmd.Process.Kill() })
	return b
}

// wait waits, at most within, for the command to end and returns its exit code.
func (b *background) wait(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(within):
		t.Fatalf("floe %v did not end within %s\n%s\n%s", b.cmd.Args[1:], within, b.stdout.String(), b.stderr.String())
	}
	return b.cmd.ProcessState.ExitCode()
}

// keyedCountArgs are the arguments of a keyed-count job with HDFS
// checkpoints every 500 ms under base, writing to out: the job the
// failover tests kill JobManagers under.
func keyedCountArgs(base, out string, events, keys int, extra ...string) []string {
	args := []string{"-p", "2", "-D", "execution.checkpointing.interval=500ms", "-D", "execution.checkpointing.dir=" + base + "/checkpoints",
		"-D", "restart-strategy.fixed-delay.delay=200ms"}
	args = append(args, extra...)
	return append(args, "keyed-count", "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "2000", "--output", out)
}

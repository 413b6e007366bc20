package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A process that spends no CPU is stopped by the watchdog, which says so.
func TestWatchdogStopsAStalledProcess(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	w := watch(cmd.Process.Pid, 2*time.Second, nil)
	err := cmd.Wait()
	msg := w.stop()
	if !strings.Contains(msg, "no progress for 2s") {
		t.Errorf("watchdog message %q", msg)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ok || !ws.Signaled() {
		t.Errorf("sleep was not killed by a signal: %v", err)
	}
}

// A process that keeps counting is left alone.
func TestWatchdogLeavesProgressAlone(t *testing.T) {
	cmd := exec.Command("sleep", "4")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	var n int64
	w := watch(cmd.Process.Pid, 2*time.Second, func() int64 { n++; return n })
	if err := cmd.Wait(); err != nil {
		t.Errorf("sleep: %v", err)
	}
	if msg := w.stop(); msg != "" {
		t.Errorf("watchdog fired on a process making progress: %s", msg)
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	end := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(end); x++ {
		_ = x * x
	}
	if procCPU(os.Getpid()) <= 0 {
		t.Error("no CPU time read for this process after spinning")
	}
}

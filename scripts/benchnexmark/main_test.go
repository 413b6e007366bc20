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

// The backend dimension: each floe backend is paired with Flink's
// counterpart in its own row; an unknown backend is refused.
func TestBackends(t *testing.T) {
	t.Setenv("NEXMARK_SYSTEMS", "floe")
	t.Setenv("NEXMARK_BACKENDS", "hashmap,pebble")
	t.Setenv("NEXMARK_QUERIES", "q5")
	t.Setenv("NEXMARK_PARALLELISM", "1")
	t.Setenv("NEXMARK_RUNS", "1")
	t.Chdir(t.TempDir())
	s, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.backends, ",") != "hashmap,pebble" {
		t.Fatalf("backends %v", s.backends)
	}
	res := map[string]*cell{}
	for _, q := range s.queries {
		for _, p := range s.ps {
			res[key(q, p, "hashmap")] = &cell{floe: []sample{{cpu: time.Second, wall: time.Second}}}
			res[key(q, p, "pebble")] = &cell{floe: []sample{{cpu: 2 * time.Second, wall: time.Second}}}
		}
	}
	table := render(s, res)
	for _, want := range []string{"| q5 | 1 | hashmap / hashmap | **10.00M** |", "| q5 | 1 | pebble / rocksdb | **5.00M** |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table has no %q:\n%s", want, table)
		}
	}
	t.Setenv("NEXMARK_BACKENDS", "rocksdb")
	if _, err := load(); err == nil {
		t.Error("NEXMARK_BACKENDS=rocksdb (a Flink name) accepted")
	}
}

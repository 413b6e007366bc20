package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"floe/internal/testenv"
)

// gcSettings are the floe.taskmanager.gc-percent values BenchmarkYarnGCPercent
// compares: Go's default, floe's default, and only the soft memory limit.
var gcSettings = []string{"100", "400", "off"}

// gcEvents is the length of BenchmarkYarnGCPercent's Nexmark run: about 25 s
// of q5 at p=2 on the 2-core test machine.
const gcEvents = 50_000_000

// gcRounds counts BenchmarkYarnGCPercent's rounds in this test process, so
// that each -count run starts the rotation of gcSettings one further.
var gcRounds int

// gcRun is what one per-job run under one GC setting cost its TaskManagers.
type gcRun struct {
	peakMax, peakSum int64 // bytes of VmHWM: the largest TaskManager's, and all of them together
	cpu              time.Duration
	wall             time.Duration
	tms              int
}

// BenchmarkYarnGCPercent runs Nexmark q5 (keyed sliding windows) per-job on
// the minicluster at p=2 with 512 MiB TaskManagers under each of gcSettings,
// in an order that rotates from one iteration to the next, and reports per
// setting the TaskManagers' peak resident memory, their CPU time (sampled
// from /proc every 100 ms until they exit) and the run's wall time.
func BenchmarkYarnGCPercent(b *testing.B) {
	dir := testenv.HadoopConfDir(b)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + b.TempDir()}
	runs := map[string][]gcRun{}
	for b.Loop() {
		round := gcRounds
		gcRounds++
		for i := range gcSettings {
			gc := gcSettings[(round+i)%len(gcSettings)]
			r := runGCPercent(b, env, gc)
			b.Logf("round %d gc-percent=%s: %d TaskManagers, peak RSS max %.1f MB sum %.1f MB, CPU %.2f s, wall %.2f s",
				round, gc, r.tms, mb(r.peakMax), mb(r.peakSum), r.cpu.Seconds(), r.wall.Seconds())
			runs[gc] = append(runs[gc], r)
		}
	}
	for _, gc := range gcSettings {
		rs := runs[gc]
		n := float64(len(rs))
		var peakMax, peakSum, cpu, wall float64
		for _, r := range rs {
			peakMax += mb(r.peakMax)
			peakSum += mb(r.peakSum)
			cpu += r.cpu.Seconds()
			wall += r.wall.Seconds()
		}
		name := "gc" + gc + "-"
		b.ReportMetric(peakMax/n, name+"tm-peak-MB")
		b.ReportMetric(peakSum/n, name+"tm-peak-sum-MB")
		b.ReportMetric(cpu/n, name+"tm-cpu-s")
		b.ReportMetric(wall/n, name+"wall-s")
	}
}

// runGCPercent runs q5 once with floe.taskmanager.gc-percent=gc and follows
// its TaskManagers (found by the run's output directory in their arguments)
// until they have exited.
func runGCPercent(b *testing.B, env []string, gc string) gcRun {
	b.Helper()
	out := filepath.Join(sharedDirB(b), "q5")
	mem := newRSSSampler(out)
	defer mem.stop()
	start := time.Now()
	run := startFloe(b, env, "run", "-t", "yarn-per-job", "-p", "2", "-jm", "256m",
		"-D", "taskmanager.memory.process.size=512m", "-D", "floe.taskmanager.gc-percent="+gc,
		"nexmark", "--query", "q5", "--events", strconv.Itoa(gcEvents), "--sink", "file", "--output", out)
	if code := run.wait(b, 5*time.Minute); code != 0 {
		b.Fatalf("gc-percent=%s: exit %d\n%s\n%s", gc, code, run.stdout.String(), run.stderr.String())
	}
	wall := time.Since(start)
	for deadline := time.Now().Add(time.Minute); len(mem.pids()) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("gc-percent=%s: TaskManagers %v still run a minute after the client ended", gc, mem.pids())
		}
	}
	mem.stop()
	peaks := mem.peaks()
	if len(peaks) == 0 {
		b.Fatalf("gc-percent=%s: no TaskManager process seen", gc)
	}
	if _, err := os.Stat(out); err != nil {
		b.Fatalf("gc-percent=%s: no output: %v", gc, err)
	}
	r := gcRun{wall: wall, tms: len(peaks)}
	for _, p := range peaks {
		r.peakMax = max(r.peakMax, p.hwm)
		r.peakSum += p.hwm
		r.cpu += p.cpu
	}
	return r
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

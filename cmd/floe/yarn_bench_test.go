package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"floe/internal/testenv"
)

// BenchmarkYarnPerJob measures, on the real minicluster (make bench-yarn),
// the time from `floe run -t yarn-per-job` to the first record processed and
// to completion of a small job, and the resident memory of a TaskManager
// that holds a nearly idle job.
func BenchmarkYarnPerJob(b *testing.B) {
	dir := testenv.HadoopConfDir(b)
	job := buildTestJob(b)
	var first, done time.Duration
	for b.Loop() {
		mark := filepath.Join(sharedDirB(b), "first")
		start := time.Now()
		cmd := exec.Command(floeBin, "run", "-t", "yarn-per-job", "-p", "1", "-jm", "256m", "-tm", "256m",
			job, "--events", "1000", "--first-record-file", mark)
		cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		done += time.Since(start)
		raw, err := os.ReadFile(mark)
		if err != nil {
			b.Fatal(err)
		}
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		first += time.Unix(0, ns).Sub(start)
	}
	b.ReportMetric(first.Seconds()/float64(b.N), "s-to-first-record")
	b.ReportMetric(done.Seconds()/float64(b.N), "s-to-done")
}

// BenchmarkYarnIdleTaskManagerRSS reports the resident set of a TaskManager
// process running a job that emits one record per second.
func BenchmarkYarnIdleTaskManagerRSS(b *testing.B) {
	dir := testenv.HadoopConfDir(b)
	job := buildTestJob(b)
	marker := sharedDirB(b)
	var rss float64
	for b.Loop() {
		cmd := exec.Command(floeBin, "run", "-t", "yarn-per-job", "-p", "1", "-jm", "256m", "-tm", "256m",
			job, "--events", "5", "--rate", "1", "--output", marker)
		cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var pids []int
		for deadline := time.Now().Add(60 * time.Second); len(pids) == 0 && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			pids = taskManagerPIDs(b, marker)
		}
		time.Sleep(2 * time.Second) // settled, between records
		if len(pids) > 0 {
			rss += float64(vmRSS(pids[0]))
		}
		cmd.Wait()
		if len(pids) == 0 {
			b.Fatal("no TaskManager process found")
		}
	}
	b.ReportMetric(rss/float64(b.N)/1024, "MB-rss")
}

func vmRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

func sharedDirB(b *testing.B) string {
	d := b.TempDir()
	os.Chmod(d, 0o777)
	return d
}

// BenchmarkYarnSessionJob measures a job submitted to a warm session (its
// containers kept from an earlier job): time to first record and to done.
func BenchmarkYarnSessionJob(b *testing.B) {
	dir := testenv.HadoopConfDir(b)
	job := buildTestJob(b)
	home := b.TempDir()
	env := append(os.Environ(), "HADOOP_CONF_DIR="+dir, "FLOE_HOME="+home)
	start := exec.Command(floeBin, "yarn-session", "-d", "-s", "1", "-tm", "256m", "-jm", "256m")
	start.Env = env
	if out, err := start.CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	defer func() {
		stop := exec.Command(floeBin, "yarn-session", "stop")
		stop.Env = env
		stop.Run()
	}()
	run := func(mark string) time.Duration {
		t0 := time.Now()
		cmd := exec.Command(floeBin, "run", "-t", "yarn-session", "-p", "1", job, "--events", "1000", "--first-record-file", mark)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		return time.Since(t0)
	}
	run(filepath.Join(sharedDirB(b), "warmup"))
	var first, done time.Duration
	for b.Loop() {
		mark := filepath.Join(sharedDirB(b), "first")
		t0 := time.Now()
		done += run(mark)
		raw, err := os.ReadFile(mark)
		if err != nil {
			b.Fatal(err)
		}
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		first += time.Unix(0, ns).Sub(t0)
	}
	b.ReportMetric(first.Seconds()/float64(b.N), "s-to-first-record")
	b.ReportMetric(done.Seconds()/float64(b.N), "s-to-done")
}

package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/internal/fsys"
	"floe/internal/hadoop/yarn"
	"floe/internal/testenv"
)

// amFailoverSteps are the milestones of a new ApplicationMaster attempt, by
// the message its JobManager logs (at info), in the order they happen, with
// the metric each one's time after the kill is reported as.
var amFailoverSteps = []struct{ msg, metric string }{
	{"registered with the ResourceManager", "t3-am-registered-s"},
	{"adopting the TaskManager containers of previous attempts", "t4-containers-adopted-s"},
	{"job submitted", "t5-job-submitted-s"},
	// once the TaskManagers of the first attempt registered again
	{"job running: deploying tasks", "t7-tasks-deploying-s"},
	{"checkpoint complete", "t8-first-checkpoint-s"},
}

// BenchmarkYarnAMFailover measures, on the minicluster (make bench-yarn),
// the time from the SIGKILL of a keyed-count job's ApplicationMaster (p=2,
// HDFS checkpoints every 500 ms, committed output) to its output growing
// again, and what it is made of: the ResourceManager reporting the new
// attempt, its container's process, and the new JobManager's milestones
// from its log (milliseconds), each as seconds after the kill.
func BenchmarkYarnAMFailover(b *testing.B) {
	dir := testenv.HadoopConfDir(b)
	rm := rmClient(b, dir)
	sums := map[string]float64{}
	for b.Loop() {
		for k, v := range amFailoverOnce(b, dir, rm) {
			sums[k] += v
		}
	}
	for k, v := range sums {
		b.ReportMetric(v/float64(b.N), k)
	}
}

func amFailoverOnce(b *testing.B, dir string, rm *yarn.Client) map[string]float64 {
	home := b.TempDir()
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	base := toHDFS(b, nil)
	out := base + "/out"
	run := startFloe(b, env, append([]string{"run", "-t", "yarn-per-job", "-s", "1", "-jm", "256m", "-tm", "256m"},
		keyedCountArgs(base, out, 30000, 7, "-D", "yarn.application-attempts=2", "-D", "floe.log.level=info")...)...)
	var ams map[int]string
	for deadline := time.Now().Add(90 * time.Second); len(ams) != 1 || outputSize(b, out) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("no ApplicationMaster with committed output: %s %s", run.stdout.String(), run.stderr.String())
		}
		ams = containerProcesses("jobmanager", out)
	}
	time.Sleep(time.Second) // between two commits
	app := appIDRe.FindString(run.stdout.String())
	appID, err := yarn.ParseApplicationID(app)
	if err != nil {
		b.Fatalf("application id %q: %v", app, err)
	}
	var pid int
	var container string
	for p, c := range ams {
		pid, container = p, c
	}
	size := outputSize(b, out)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		b.Fatal(err)
	}
	killed := time.Now()
	m := map[string]float64{}
	since := func(t time.Time) float64 { return t.Sub(killed).Seconds() }
	for deadline := killed.Add(2 * time.Minute); m["t9-output-again-s"] == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("no output committed within 2 minutes of the kill: %s", run.stderr.String())
		}
		if _, ok := m["t1-yarn-new-attempt-s"]; !ok {
			if rep, err := rm.Report(b.Context(), appID); err == nil && rep.GetCurrentApplicationAttemptId().GetAttemptId() >= 2 {
				m["t1-yarn-new-attempt-s"] = since(time.Now())
			}
		}
		if _, ok := m["t2-am-process-s"]; !ok && len(containerProcesses("jobmanager", out)) > 0 {
			m["t2-am-process-s"] = since(time.Now())
		}
		if outputSize(b, out) > size {
			m["t9-output-again-s"] = since(time.Now())
		}
	}
	log := amLog(b, dir, app, strings.Replace(container, "_01_", "_02_", 1))
	for _, st := range amFailoverSteps {
		if t, ok := logTime(log, st.msg); ok {
			m[st.metric] = since(t)
		}
	}
	if code := run.wait(b, 3*time.Minute); code != 0 {
		b.Fatalf("exit %d\n%s\n%s", code, run.stdout.String(), run.stderr.String())
	}
	b.Logf("%s: %v", app, m)
	return m
}

// logTime is the time of the first JSON log line with message msg.
func logTime(log, msg string) (time.Time, bool) {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Time    time.Time `json:"time"`
			Message string    `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == msg {
			return l.Time, true
		}
	}
	return time.Time{}, false
}

// outputSize is the size of the committed (visible) files in out.
func outputSize(t testing.TB, out string) int64 {
	fsy, root, err := fsys.Resolve(out)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := fsy.List(t.Context(), root)
	var n int64
	for _, e := range ents {
		if !strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(e.Name, "_") {
			n += e.Size
		}
	}
	return n
}

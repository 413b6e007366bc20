package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/internal/testenv"
)

// A yarn-session with two running keyed-count jobs (HDFS checkpoints) loses
// its ApplicationMaster process: YARN starts attempt 2, which keeps the
// containers, and both jobs go on from their checkpoints under their job
// ids and finish with every count once; the attached clients follow them
// through the ResourceManager and say that the JobManager failed over; a
// third job submitted after the failover runs; floe list reaches attempt 2
// through the session file.
func TestIntegrationSessionSurvivesAMKill(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	home := t.TempDir()
	t.Setenv("FLOE_HOME", home)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	r := floe(t, env, "yarn-session", "-d", "-s", "2", "-tm", "256m", "-jm", "256m", "-nm", "it-session-failover",
		"-D", "heartbeat.timeout=30s")
	if r.code != 0 {
		t.Fatalf("yarn-session: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	app := appIDRe.FindString(r.stdout)
	defer floe(t, env, "yarn-session", "stop", "-yid", app)

	base := toHDFS(t, nil)
	const events, keys = 40000, 7
	var jobs [2]*background
	for i := range jobs {
		out := fmt.Sprintf("%s/out%d", base, i)
		jobs[i] = startFloe(t, env, append([]string{"run", "-t", "yarn-session", "-yid", app}, keyedCountArgs(base, out, events, keys)...)...)
	}
	// Kill once both have committed output, that is completed a checkpoint:
	// a job started again from scratch would then repeat counts.
	for i, j := range jobs {
		waitCommitted(t, fmt.Sprintf("%s/out%d", base, i), 0, 2*time.Minute, &j.stdout, &j.stderr)
	}
	prefix := "container_" + strings.TrimPrefix(app, "application_") + "_01_"
	ams := floeProcesses("session", func(_ string, env []string) bool {
		for _, v := range env {
			if strings.HasPrefix(v, "CONTAINER_ID="+prefix) {
				return true
			}
		}
		return false
	})
	if len(ams) != 1 {
		t.Fatalf("want one session ApplicationMaster process of attempt 1 of %s, found %v", app, ams)
	}
	var amContainer string
	for pid := range ams {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		amContainer = ams[pid]
		t.Logf("killed the session's ApplicationMaster, process %d in %s", pid, amContainer)
	}
	killed := time.Now()
	var ids [2]string
	for i, j := range jobs {
		ids[i] = jobIDRe.FindStringSubmatch(j.stdout.String())[1]
		want := fmt.Sprintf("JobManager failed over: attempt 2 of %s is recovering job %s from checkpoint ", app, ids[i])
		for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(j.stdout.String(), want); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("job %d's client did not say %q within 2 minutes of the kill:\n%s\n%s", i, want, j.stdout.String(), j.stderr.String())
			}
		}
	}
	t.Logf("both clients followed attempt 2 %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	for i, j := range jobs {
		n := committedLines(t, fmt.Sprintf("%s/out%d", base, i))
		waitCommitted(t, fmt.Sprintf("%s/out%d", base, i), n, 2*time.Minute, &j.stdout, &j.stderr)
	}
	t.Logf("both jobs committed output again %s after the kill", time.Since(killed).Round(100*time.Millisecond))

	// A third job, submitted to attempt 2 through the session file.
	in := writeCorpus(t)
	files, _ := filepath.Glob(filepath.Join(in, "*.txt"))
	out := filepath.Join(sharedDir(t), "out")
	if r := floe(t, env, "run", "-t", "yarn-session", "-p", "1", "wordcount", "--input", in, "--output", out); r.code != 0 {
		t.Fatalf("third job after the failover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	} else if got, want := readOutput(t, out), countWords(t, files...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("third job: counts differ: %v, want %v", got, want)
	}

	for i, j := range jobs {
		if code := j.wait(t, 4*time.Minute); code != 0 {
			t.Fatalf("job %d: exit %d\n%s\n%s", i, code, j.stdout.String(), j.stderr.String())
		}
		checkCounts(t, fmt.Sprintf("%s/out%d", base, i), events, keys)
	}
	t.Logf("both jobs ended %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	if r := floe(t, env, "list", "-yid", app); r.code != 0 || !strings.Contains(r.stdout, ids[0]) || !strings.Contains(r.stdout, ids[1]) {
		t.Errorf("floe list -yid %s after the failover: exit %d\n%s%s", app, r.code, r.stdout, r.stderr)
	}
	// Attempt 2 adopted the TaskManager containers of attempt 1 and
	// recovered both jobs.
	log := amLog(t, dir, app, strings.Replace(amContainer, "_01_", "_02_", 1))
	if !strings.Contains(log, "adopting the TaskManager containers of previous attempts") {
		t.Errorf("attempt 2 did not adopt containers:\n%s", tail(log, 40))
	}
	for _, id := range ids {
		if !strings.Contains(log, `"job":"`+id+`"`) || !strings.Contains(log, "recovering the job") {
			t.Errorf("attempt 2 did not recover job %s:\n%s", id, tail(log, 40))
		}
	}
	if r := floe(t, env, "yarn-session", "stop", "-yid", app); r.code != 0 {
		t.Errorf("floe yarn-session stop after the failover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

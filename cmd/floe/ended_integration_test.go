package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/internal/failover"
	"floe/internal/fsys"
	"floe/internal/role"
	"floe/internal/testenv"
)

// The ApplicationMaster of a per-job BATCH wordcount is killed as soon as it
// has recorded the job's end in the staging directory (before it publishes
// the parts or in the moments until it unregisters): the second attempt
// finds the record, publishes what was left waiting, and ends the
// application SUCCEEDED without running the job again; the output holds
// every count once.
func TestIntegrationAMKilledAfterTheJobEnded(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	home := t.TempDir()
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	in := writeCorpus(t)
	files, _ := filepath.Glob(filepath.Join(in, "*.txt"))
	out := sharedDir(t) + "/ended-out"
	run := startFloe(t, env, "run", "-t", "yarn-per-job", "-p", "2", "-jm", "256m", "-tm", "256m",
		"-D", "execution.runtime-mode=BATCH", "-D", "yarn.application-attempts=2", "-D", "floe.log.level=info",
		"wordcount", "--input", in, "--output", out)

	// The AM's staging directory, from its environment.
	var amPID int
	var staging, amContainer string
	for deadline := time.Now().Add(90 * time.Second); staging == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no ApplicationMaster with a staging directory: %s %s", run.stdout.String(), run.stderr.String())
		}
		for pid, c := range containerProcesses("jobmanager", out) {
			amPID, amContainer, staging = pid, c, procEnv(pid, role.EnvStaging)
		}
	}
	fsy, p, err := fsys.Resolve("hdfs://" + staging)
	if err != nil {
		t.Fatal(err)
	}
	ended := fsy.Join(p, failover.EndedDir)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		// A record is written as a hidden temporary file and renamed: only
		// the renamed <job id>.json is the recorded end.
		ents, _ := fsy.List(t.Context(), ended)
		if slices.ContainsFunc(ents, func(e fsys.FileInfo) bool {
			return strings.HasSuffix(e.Name, ".json") && !strings.HasPrefix(e.Name, ".")
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job's end was not recorded in %s within 2 minutes: %s %s", ended, run.stdout.String(), run.stderr.String())
		}
	}
	if err := syscall.Kill(amPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the ApplicationMaster, process %d: %v", amPID, err)
	}
	t.Logf("killed the ApplicationMaster (process %d) once %s held the job's end", amPID, ended)
	if code := run.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, run.stdout.String(), run.stderr.String())
	}
	if got, want := readOutput(t, out), countWords(t, files...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts differ: %v, want %v", got, want)
	}
	app := appIDRe.FindString(run.stdout.String())
	first := amLog(t, dir, app, amContainer)
	if !strings.Contains(first, "stage deployed") {
		t.Fatalf("attempt 1's log does not say it deployed stages (the check below would prove nothing):\n%s", tail(first, 30))
	}
	// The client may end before YARN has started attempt 2 (it heard the
	// job finish from attempt 1): wait for attempt 2 to unregister.
	second := strings.Replace(amContainer, "_01_", "_02_", 1)
	var log string
	for deadline := time.Now().Add(90 * time.Second); !strings.Contains(log, "unregistering"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("attempt 2 (%s) did not unregister within 90 s:\n%s", second, tail(log, 30))
		}
		if logs, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "target", "*", "*", "*", app, second, "jobmanager.log")); len(logs) > 0 {
			b, _ := os.ReadFile(logs[0])
			log = string(b)
		}
	}
	if !strings.Contains(log, `"status":"APP_SUCCEEDED"`) {
		t.Errorf("attempt 2 did not end the application SUCCEEDED:\n%s", tail(log, 30))
	}
	if !strings.Contains(log, "an earlier attempt saw the job end") {
		t.Errorf("attempt 2 did not settle the recorded end:\n%s", tail(log, 30))
	}
	if strings.Contains(log, "stage deployed") {
		t.Errorf("attempt 2 ran the job again:\n%s", tail(log, 30))
	}
}

// procEnv is the value of key in process pid's environment ("" if none).
func procEnv(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return ""
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := strings.CutPrefix(string(kv), key+"="); ok {
			return v
		}
	}
	return ""
}

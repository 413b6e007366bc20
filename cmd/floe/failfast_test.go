package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/yarn"
	"floe/internal/testenv"
)

// Failures that used to hang (issue 17): each ends quickly, with its cause.

// A job whose program builds another graph in every process: its
// TaskManagers are refused, and the job fails at once with the difference,
// exit 2, without restarts or a wait for slots.
func TestLocalProcessesGraphMismatchFailsAtOnce(t *testing.T) {
	job := buildTestJob(t)
	start := time.Now()
	r := floe(t, nil, "run", "-p", "2", "-D", "local.taskmanager.processes=true", job, "--unstable-name")
	took := time.Since(start)
	t.Logf("failed after %s", took)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "different job graph") || !strings.Contains(r.stderr, "taskmanager has") {
		t.Fatalf("stderr lacks the difference: %s", r.stderr)
	}
}

func TestIntegrationGraphMismatchFailsAtOnce(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	job := buildTestJob(t)
	start := time.Now()
	r := floe(t, []string{"HADOOP_CONF_DIR=" + dir}, "run", "-t", "yarn-per-job", "-p", "2", "-jm", "256m", "-tm", "256m",
		job, "--unstable-name")
	t.Logf("failed after %s", time.Since(start))
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "different job graph") || !strings.Contains(r.stderr, "taskmanager has") {
		t.Fatalf("stderr lacks the difference: %s", r.stderr)
	}
	appID, err := yarn.ParseApplicationID(appIDRe.FindString(r.stdout))
	if err != nil {
		t.Fatalf("no application id: %s", r.stdout)
	}
	rep, err := rmClient(t, dir).Report(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetFinalApplicationStatus() != hadooppb.FinalApplicationStatusProto_APP_FAILED ||
		!strings.Contains(rep.GetDiagnostics(), "different job graph") {
		t.Fatalf("application %s: %s %q", appID, rep.GetFinalApplicationStatus(), rep.GetDiagnostics())
	}
}

// A job that needs more containers than the cluster can give (4 of 3 GB on
// two NodeManagers of 4 GB): the client says what it waits for, and the job
// fails after slot.request.timeout with that in its error.
func TestIntegrationNotEnoughContainersEndsTheJob(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	job := buildTestJob(t)
	start := time.Now()
	r := floe(t, []string{"HADOOP_CONF_DIR=" + dir}, "run", "-t", "yarn-per-job", "-p", "4", "-s", "1", "-jm", "256m", "-tm", "3g",
		"-D", "slot.request.timeout=15s", job, "--events", "0")
	t.Logf("failed after %s\n%s", time.Since(start), r.stdout)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "for TaskManager containers: 4 asked (3072 MB, 1 vcores each)") {
		t.Errorf("stdout does not say what the job waits for:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "not enough task slots") || !strings.Contains(r.stderr, "slot.request.timeout") || !strings.Contains(r.stderr, "free on") {
		t.Errorf("stderr does not give the cause: %s", r.stderr)
	}
}

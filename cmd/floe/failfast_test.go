package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/yarn"
	"floe/internal/hdfsutil"
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

// An ApplicationMaster that dies leaves its staging directory and the
// record of its secret: the user's next submission removes both, and an
// attached run removes its own record when its application ends.
func TestIntegrationLeftoversOfEndedApplicationsAreRemoved(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	home := t.TempDir()
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	job := buildTestJob(t)
	marker := filepath.Join(sharedDir(t), "out")
	r := floe(t, env, "run", "-t", "yarn-per-job", "-d", "-p", "1", "-jm", "256m", "-tm", "256m",
		// one attempt: with a second one YARN would start a new ApplicationMaster and the application go on
		"-D", "restart-strategy.type=none", "-D", "yarn.application-attempts=1", job, "--events", "0", "--rate", "10", "--output", marker)
	if r.code != 0 {
		t.Fatalf("detached: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	app := appIDRe.FindString(r.stdout)
	record := filepath.Join(home, "yarn-sessions", app+".json")
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := hdfsutil.Connect(c, ipc.DefaultUser(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	staging := "/user/" + ipc.DefaultUser() + "/.floe/" + app
	// Kill the ApplicationMaster hard once it runs: YARN ends the application.
	deadline := time.Now().Add(90 * time.Second)
	var pids []int
	for len(pids) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ApplicationMaster did not start")
		}
		time.Sleep(200 * time.Millisecond)
		pids = pidsWithRole("jobmanager", marker)
	}
	if _, err := fs.Stat(context.Background(), staging); err != nil {
		t.Fatalf("no staging directory while the application runs: %v", err)
	}
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("no record while the application runs: %v", err)
	}
	for _, p := range append(pids, pidsWithRole("taskmanager", marker)...) {
		syscall.Kill(p, syscall.SIGKILL)
	}
	rm := rmClient(t, dir)
	id, _ := yarn.ParseApplicationID(app)
	wctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := rm.WaitFor(wctx, id, 300*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool {
		return yarn.Terminal(r.GetYarnApplicationState())
	}); err != nil {
		t.Fatalf("the application did not end within 2 min of its ApplicationMaster's death: %v", err)
	}
	if _, err := fs.Stat(context.Background(), staging); err != nil {
		t.Fatalf("the dead AM's staging directory is gone already (%v): the test shows nothing", err)
	}

	// The next submission (attached) cleans up after it, and after itself.
	r = floe(t, env, "run", "-t", "yarn-per-job", "-p", "1", "-jm", "256m", "-tm", "256m", job, "--events", "10")
	if r.code != 0 {
		t.Fatalf("next run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := fs.Stat(context.Background(), staging); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the staging directory of %s is still there: %v", app, err)
	}
	if _, err := os.Stat(record); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the record of %s is still there: %v", app, err)
	}
	next := appIDRe.FindString(r.stdout)
	if _, err := os.Stat(filepath.Join(home, "yarn-sessions", next+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the attached run's record of %s is still there: %v", next, err)
	}
}

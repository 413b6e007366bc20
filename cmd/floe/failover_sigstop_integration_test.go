package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/checkpoint"
	"floe/internal/failover"
	"floe/internal/fsys"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/yarn"
	"floe/internal/testenv"
)

// The ApplicationMaster is SIGSTOPped until YARN starts a new attempt
// (the AM liveness expiry), then resumed if YARN has not killed it: the
// job finishes SUCCEEDED with every count once, and no _metadata written by
// attempt 1 is newer than attempt 2's leader file.
func TestIntegrationAMStoppedThenResumedCommitsNothing(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	home := t.TempDir()
	t.Setenv("FLOE_HOME", home)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	base := toHDFS(t, nil)
	const events, keys = 80000, 7
	run := startFloe(t, env, append([]string{"run", "-t", "yarn-per-job", "-s", "1", "-jm", "256m", "-tm", "256m"},
		keyedCountArgs(base, base+"/out", events, keys, "-D", "execution.checkpointing.num-retained=1000", "-D", "heartbeat.timeout=10s")...)...)
	stdout, stderr, done := &run.stdout, &run.stderr, run.done
	marker := base + "/out"
	var ams map[int]string
	for deadline := time.Now().Add(90 * time.Second); len(ams) != 1; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no ApplicationMaster: %s %s", stdout.String(), stderr.String())
		}
		ams = containerProcesses("jobmanager", marker)
	}
	waitCommitted(t, base+"/out", 0, 60*time.Second, stdout, stderr)
	var amPID int
	for pid := range ams {
		amPID = pid
	}
	app := appIDRe.FindString(stdout.String())
	appID, err := yarn.ParseApplicationID(app)
	if err != nil {
		t.Fatal(err)
	}
	jobID := jobIDRe.FindStringSubmatch(stdout.String())[1]
	if err := syscall.Kill(amPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Logf("SIGSTOPped the ApplicationMaster, process %d", amPID)
	rm := rmClient(t, dir)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		rep, err := rm.Report(t.Context(), appID)
		if err == nil && rep.GetCurrentApplicationAttemptId().GetAttemptId() >= 2 {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(amPID, syscall.SIGCONT)
			t.Fatalf("YARN started no second attempt within 2 minutes of the SIGSTOP")
		}
	}
	t.Logf("YARN started attempt 2 %s after the SIGSTOP", time.Since(stopped).Round(100*time.Millisecond))
	// Attempt 2 publishes itself in the staging directory.
	u, _ := url.Parse(base)
	staging := path.Join("/user", ipc.DefaultUser(), ".floe", app)
	stfs, _, err := fsys.Resolve("hdfs://" + u.Host + staging)
	if err != nil {
		t.Fatal(err)
	}
	var leader failover.Leader
	for deadline := time.Now().Add(time.Minute); leader.Attempt < 2; time.Sleep(100 * time.Millisecond) {
		leader, _ = failover.ReadLeader(t.Context(), stfs, staging)
		if time.Now().After(deadline) {
			t.Fatal("attempt 2 did not publish itself in jobmanager.json")
		}
	}
	if err := syscall.Kill(amPID, syscall.SIGCONT); errors.Is(err, syscall.ESRCH) {
		t.Logf("YARN killed the stopped ApplicationMaster (process %d) before attempt 2 published itself: nothing to resume", amPID)
	} else if err != nil {
		t.Fatal(err)
	} else {
		t.Logf("resumed the old ApplicationMaster, process %d, after attempt 2 published itself at %s", amPID, leader.Written.Format(time.StampMilli))
	}
	// Meanwhile and to the end: no _metadata of attempt 1 newer than the
	// leader file of attempt 2.
	ck, root, err := fsys.Resolve(checkpoint.JobDir(base+"/checkpoints", jobID))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int32{}
	check := func() {
		entries, _ := checkpoint.ListCompleted(context.Background(), ck, root)
		for _, e := range entries {
			if _, ok := seen[e.ID]; ok {
				continue
			}
			m, err := checkpoint.LoadMetadata(context.Background(), ck, e.Dir)
			if err != nil {
				continue
			}
			st, err := ck.Stat(context.Background(), checkpoint.MetadataPath(e.Dir))
			if err != nil {
				continue
			}
			seen[e.ID] = m.WriterAttempt
			if m.WriterAttempt < 2 && st.ModTime.After(leader.Written.Add(time.Second)) {
				t.Errorf("checkpoint %d was committed by attempt %d at %s, after attempt 2 published itself at %s",
					e.ID, m.WriterAttempt, st.ModTime.Format(time.StampMilli), leader.Written.Format(time.StampMilli))
			}
		}
	}
	for ended := false; !ended; {
		select {
		case <-done:
			ended = true
		case <-time.After(500 * time.Millisecond):
		}
		check()
		if time.Since(stopped) > 5*time.Minute {
			t.Fatalf("job did not end\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	if code := run.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	by := map[int32]int{}
	for _, a := range seen {
		by[a]++
	}
	if by[2] == 0 {
		t.Errorf("no checkpoint written by attempt 2: %v", seen)
	}
	b, _ := json.Marshal(by)
	t.Logf("checkpoints by writer attempt: %s", b)
	checkCounts(t, base+"/out", events, keys)
	want := fmt.Sprintf("JobManager failed over: attempt 2 of %s is recovering job %s", app, jobID)
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("floe run did not say %q", want)
	}
}

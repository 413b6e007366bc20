package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/internal/fsys"
	"floe/internal/testenv"
)

// stageLine is one of the JobManager's "stage deployed"/"stage finished" log lines.
type stageLine struct {
	Message      string   `json:"message"`
	Stage        int      `json:"stage"`
	Run          int      `json:"run"`
	Runs         int      `json:"runs"`
	Vertices     []string `json:"vertices"`
	TaskManagers []string `json:"taskmanagers"`
}

func stageLines(log string) []stageLine {
	var out []stageLine
	for _, l := range strings.Split(log, "\n") {
		var s stageLine
		if json.Unmarshal([]byte(l), &s) == nil && strings.HasPrefix(s.Message, "stage ") {
			out = append(out, s)
		}
	}
	return out
}

var containerAppRe = regexp.MustCompile(`^container_(?:e\d+_)?(\d+)_(\d+)_`)

// A per-job BATCH job of three stages (a generator at parallelism 1, keyed
// sums, a slow last stage) loses a TaskManager container during its third
// stage, one that does not hold the first stage's output: the sums' stage
// (whose files went with it) and the third stage run again, the first stage
// does not, and the output equals the plain-Go sums.
func TestIntegrationBatchStageRecoveryAfterTaskManagerKill(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	home := t.TempDir()
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	t.Setenv("HADOOP_CONF_DIR", dir)
	job := buildTestJob(t)
	base := toHDFS(t, nil)
	out := base + "/out"
	const events, keys = 200000, 120
	run := startFloe(t, env, "run", "-t", "yarn-per-job", "-p", "2", "-s", "1", "-jm", "256m", "-tm", "256m",
		"-D", "restart-strategy.fixed-delay.delay=200ms", "-D", "floe.log.level=info", "--json", job,
		"--stages", strconv.Itoa(keys), "--events", strconv.Itoa(events), "--stage-delay", "100ms", "--output", out)

	var am map[int]string
	var tms map[int]string
	for deadline := time.Now().Add(90 * time.Second); len(am) != 1 || len(tms) < 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no ApplicationMaster and 2 TaskManagers: %s %s", run.stdout.String(), run.stderr.String())
		}
		am, tms = containerProcesses("jobmanager", out), containerProcesses("taskmanager", out)
	}
	var amContainer string
	for _, c := range am {
		amContainer = c
	}
	m := containerAppRe.FindStringSubmatch(amContainer)
	if m == nil {
		t.Fatalf("cannot tell the application of container %q", amContainer)
	}
	app := "application_" + m[1] + "_" + m[2]

	// Wait for the third stage to be deployed, and learn where the first ran.
	var first []string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the third stage was not deployed: %s", run.stderr.String())
		}
		third := false
		for _, l := range stageLines(amLog(t, dir, app, amContainer)) {
			if l.Message == "stage deployed" && l.Stage == 0 {
				first = l.TaskManagers
			}
			third = third || (l.Message == "stage deployed" && l.Stage == 2)
		}
		if third && len(first) == 1 {
			break
		}
	}
	victim := 0
	for pid, c := range containerProcesses("taskmanager", out) {
		if c != first[0] {
			victim = pid
		}
	}
	if victim == 0 {
		t.Fatalf("no TaskManager besides the first stage's %s", first[0])
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed TaskManager %d during the third stage (the first ran in %s)", victim, first[0])
	if code := run.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, run.stdout.String(), run.stderr.String())
	}

	runs := map[int]int{}
	for _, l := range stageLines(amLog(t, dir, app, amContainer)) {
		if l.Message == "stage finished" {
			runs[l.Stage] = l.Runs
		}
	}
	if runs[0] != 1 || runs[1] != 2 || runs[2] != 2 {
		t.Errorf("stage runs = %v, want stage 0 once (its output survived), stages 1 and 2 twice", runs)
	}
	// --json has the stages the client read from the JobManager: the runs
	// the JobManager logged.
	var sum struct {
		Stages []struct {
			ID         int    `json:"id"`
			Runs       int    `json:"runs"`
			Status     string `json:"status"`
			RecordsOut int64  `json:"records_out"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(run.stdout.String())), &sum); err != nil {
		t.Fatalf("--json printed %q: %v", run.stdout.String(), err)
	}
	if len(sum.Stages) != 3 {
		t.Fatalf("--json stages %+v, want 3", sum.Stages)
	}
	for _, st := range sum.Stages {
		if st.Runs != runs[st.ID] {
			t.Errorf("--json stage %d: %d runs, the JobManager logged %d", st.ID, st.Runs, runs[st.ID])
		}
	}
	if got := sum.Stages[0].RecordsOut; got != events {
		t.Errorf("--json stage 0 wrote %d records, want the %d events", got, events)
	}

	want := map[string]int64{}
	for i := range int64(events) {
		want["k"+strconv.FormatInt(i%keys, 10)] += i
	}
	got := readKeyValues(t, out)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("output has %d keys, want %d: got %v want %v", len(got), len(want), got, want)
	}
}

// readKeyValues reads "key\tvalue" lines of the visible files in out; a
// key twice fails the test.
func readKeyValues(t *testing.T, out string) map[string]int64 {
	t.Helper()
	fsy, root, err := fsys.Resolve(out)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fsy.List(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ".") || strings.HasPrefix(e.Name, "_") {
			continue
		}
		f, err := fsy.Open(t.Context(), fsy.Join(root, e.Name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "\t")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil {
				t.Fatalf("%s: bad line %q", e.Name, sc.Text())
			}
			if _, dup := got[k]; dup {
				t.Fatalf("%s: key %s twice", e.Name, k)
			}
			got[k] = n
		}
		f.Close()
	}
	return got
}

package appmaster

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"floe/internal/jobgraph"
	"floe/internal/rpc/floepb"
)

func testGraph() *jobgraph.JobGraph {
	src := &jobgraph.Vertex{ID: 0, Name: "src", Parallelism: 2, IsSource: true}
	snk := &jobgraph.Vertex{ID: 1, Name: "sink", Parallelism: 2}
	e := &jobgraph.Edge{Source: 0, Target: 1, Partitioning: jobgraph.Hash}
	src.Outputs, snk.Inputs = []*jobgraph.Edge{e}, []*jobgraph.Edge{e}
	return &jobgraph.JobGraph{Name: "t", Vertices: []*jobgraph.Vertex{src, snk}, MaxParallelism: 128}
}

func update(v, s int, st floepb.TaskState, msg string) *floepb.TaskStateUpdate {
	return &floepb.TaskStateUpdate{Task: &floepb.TaskRef{JobId: "j", Vertex: int32(v), Subtask: int32(s)}, State: st, Error: msg}
}

var now = time.Unix(1000, 0)

func scheduled(t *testing.T) *execution {
	e := newExecution("j", testGraph(), now)
	acts := e.schedule([]slot{{tm: "a", addr: "A"}, {tm: "b", addr: "B", index: 0}})
	if len(acts) != 4 || e.status != Running {
		t.Fatalf("schedule: %d actions, status %s", len(acts), e.status)
	}
	// The sink subtask 1 reads subpartition 1 from both producers, at their addresses.
	d := acts[3].deploy
	if acts[3].addr != "B" || len(d.Inputs[0].Channels) != 2 || d.Inputs[0].Channels[1].Address != "B" || d.Inputs[0].Channels[0].Subpartition != 1 {
		t.Fatalf("deployment of sink 1: %v to %s", d, acts[3].addr)
	}
	if acts[0].deploy.Outputs[0].Subpartitions != 2 {
		t.Fatalf("source outputs: %v", acts[0].deploy.Outputs)
	}
	return e
}

func TestExecutionFinishes(t *testing.T) {
	e := scheduled(t)
	for v := range 2 {
		for s := range 2 {
			if acts := e.onTaskState(update(v, s, floepb.TaskState_RUNNING, ""), now); acts != nil {
				t.Fatal("running produced actions")
			}
		}
	}
	for v := range 2 {
		for s := range 2 {
			if e.status.Terminal() {
				t.Fatalf("terminal before all finished")
			}
			e.onTaskState(update(v, s, floepb.TaskState_FINISHED, ""), now)
		}
	}
	if e.status != Finished {
		t.Fatalf("status %s", e.status)
	}
}

func TestExecutionFailureCancelsTheRest(t *testing.T) {
	e := scheduled(t)
	e.onTaskState(update(0, 0, floepb.TaskState_FINISHED, ""), now)
	acts := e.onTaskState(update(1, 1, floepb.TaskState_FAILED, "boom"), now)
	if e.status != Failing || len(acts) != 2 {
		t.Fatalf("status %s, %d actions", e.status, len(acts))
	}
	for _, a := range acts {
		if a.cancel == nil {
			t.Fatalf("action %+v is not a cancel", a)
		}
	}
	// A second failure does not replace the first cause.
	e.onTaskState(update(1, 0, floepb.TaskState_FAILED, "later"), now)
	e.onTaskState(update(0, 1, floepb.TaskState_CANCELED, ""), now)
	if e.status != Failed || e.failure != "boom" {
		t.Fatalf("status %s cause %q", e.status, e.failure)
	}
	// Reports about stale attempts are ignored.
	stale := update(0, 0, floepb.TaskState_FAILED, "old")
	stale.Task.Attempt = 7
	if e.onTaskState(stale, now) != nil {
		t.Fatal("stale attempt changed the execution")
	}
}

func TestExecutionCancelAndLostTaskManager(t *testing.T) {
	e := scheduled(t)
	acts := e.cancel(now)
	if e.status != Canceling || len(acts) != 4 {
		t.Fatalf("cancel: %s %d", e.status, len(acts))
	}
	for v := range 2 {
		for s := range 2 {
			e.onTaskState(update(v, s, floepb.TaskState_CANCELED, ""), now)
		}
	}
	if e.status != Canceled {
		t.Fatalf("status %s", e.status)
	}

	e = scheduled(t)
	e.onTaskManagerLost("b", "container_b", "no heartbeat", now)
	if e.status != Failing || e.failure == "" {
		t.Fatalf("lost tm: %s %q", e.status, e.failure)
	}
	e.onTaskState(update(0, 0, floepb.TaskState_CANCELED, ""), now)
	e.onTaskState(update(1, 0, floepb.TaskState_CANCELED, ""), now)
	if e.status != Failed {
		t.Fatalf("status %s", e.status)
	}
}

func TestRESTJobs(t *testing.T) {
	jm := &JobManager{tms: map[string]*tmInfo{}, jobs: map[string]*jobEntry{}}
	e := scheduled(t)
	jm.jobs["j"] = &jobEntry{exec: e}
	e.onTaskState(&floepb.TaskStateUpdate{Task: &floepb.TaskRef{JobId: "j"}, State: floepb.TaskState_FINISHED, RecordsOut: 5}, now)
	srv := httptest.NewServer(jm.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/jobs/j")
	if err != nil {
		t.Fatal(err)
	}
	var d JobDetails
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.ID != "j" || d.State != Running || len(d.Vertices) != 2 || d.Vertices[0].Metrics.RecordsOut != 5 || d.Vertices[0].Parallelism != 2 {
		t.Fatalf("details %+v", d)
	}
	resp, _ = srv.Client().Get(srv.URL + "/jobs/nope")
	if resp.StatusCode != 404 {
		t.Fatalf("missing job: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = srv.Client().Get(srv.URL + "/overview")
	var o Overview
	json.NewDecoder(resp.Body).Decode(&o)
	resp.Body.Close()
	if o.JobsRunning != 1 || o.FloeVersion != Version {
		t.Fatalf("overview %+v (version %q)", o, Version)
	}
}

// A failure that would only repeat (a savepoint that does not fit the job)
// fails the job at once, whatever restarts are left, and keeps its cause.
func TestExecutionNotRecoverableDoesNotRestart(t *testing.T) {
	cause := NotRecoverable(errors.New("savepoint /sp: file does not exist"))
	// Found before deploying: a created (or restarted) attempt with nothing running.
	e := newExecution("j", testGraph(), now)
	e.restart = RestartStrategy{Attempts: 3, Delay: time.Second}
	if acts := e.failNotRecoverable(cause, now); len(acts) != 0 {
		t.Fatalf("nothing ran, yet %d actions", len(acts))
	}
	if e.status != Failed || e.readyToRestart() {
		t.Fatalf("status %s, ready to restart %v; want FAILED without a restart", e.status, e.readyToRestart())
	}
	if !FailureNotRecoverable(e.failure) || !strings.Contains(e.failure, "/sp") {
		t.Fatalf("failure %q does not say it is not recoverable and why", e.failure)
	}

	// Found while running, with restarts left: cancel everything, then FAILED.
	e = scheduled(t)
	e.restart = RestartStrategy{Attempts: 3, Delay: time.Second}
	acts := e.failNotRecoverable(cause, now)
	if e.status != Failing || len(acts) != 4 {
		t.Fatalf("status %s, %d actions; want FAILING cancelling 4 subtasks", e.status, len(acts))
	}
	// A task that fails on its way down neither restarts the job nor replaces the cause.
	e.onTaskState(update(0, 0, floepb.TaskState_FAILED, "boom"), now)
	for _, vs := range [][2]int{{0, 1}, {1, 0}, {1, 1}} {
		e.onTaskState(update(vs[0], vs[1], floepb.TaskState_CANCELED, ""), now)
	}
	if e.status != Failed || e.restarts != 0 || !FailureNotRecoverable(e.failure) {
		t.Fatalf("status %s after %d restarts, failure %q; want FAILED, no restart, the not-recoverable cause", e.status, e.restarts, e.failure)
	}

	// An ordinary failure with restarts left still restarts.
	e = scheduled(t)
	e.restart = RestartStrategy{Attempts: 3, Delay: time.Second}
	e.onTaskState(update(0, 0, floepb.TaskState_FAILED, "boom"), now)
	if e.status != Restarting || FailureNotRecoverable(e.failure) {
		t.Fatalf("ordinary failure: status %s, failure %q", e.status, e.failure)
	}
}

package appmaster

import (
	"strings"
	"testing"
	"time"

	"floe/internal/rpc/floepb"
)

// A consumer's "producer FAILED" reaches the JobManager before the
// producer's own report of its panic: the panic is the cause the job ends with.
func TestRootCauseBeatsPartitionReleased(t *testing.T) {
	e := scheduled(t)
	e.onTaskState(update(1, 0, floepb.TaskState_FAILED,
		"input channel from B (vertex 0 subtask 1): result partition released: producer FAILED"), now)
	e.onTaskState(update(0, 1, floepb.TaskState_FAILED, "user function panicked: boom"), now)
	for _, s := range []int{0, 1} {
		e.onTaskState(update(0, s, floepb.TaskState_CANCELED, ""), now)
		e.onTaskState(update(1, s, floepb.TaskState_CANCELED, ""), now)
	}
	if e.status != Failed || e.failure != "user function panicked: boom" {
		t.Fatalf("status %s, cause %q", e.status, e.failure)
	}
}

// A root cause that comes while the job is already RESTARTING replaces the
// secondary one too, and a later secondary one does not replace it.
func TestRootCauseWhileRestarting(t *testing.T) {
	e := scheduled(t)
	e.restart = RestartStrategy{Attempts: 1}
	e.onTaskState(update(1, 0, floepb.TaskState_FAILED, "result partition released: producer CANCELED"), now)
	if e.status != Restarting {
		t.Fatalf("status %s", e.status)
	}
	e.onTaskState(update(0, 0, floepb.TaskState_FAILED, "disk full"), now)
	e.onTaskState(update(1, 1, floepb.TaskState_FAILED, "result partition released: producer FAILED"), now)
	if e.failure != "disk full" {
		t.Fatalf("cause %q", e.failure)
	}
}

// When the restarts run out after TaskManager deaths, the cause says which
// TaskManager died and how, and that the restart strategy is exhausted, even
// when a channel error reached the JobManager first.
func TestTaskManagerLossIsTheCauseWhenRestartsRunOut(t *testing.T) {
	e := scheduled(t)
	e.restart = RestartStrategy{Attempts: 1}
	e.grace = 5 * time.Second
	dead := "container_1_0001_01_000003 on node nm1:4545 exited with status 137: killed"
	// Attempt 0: a consumer reports the broken channel, then YARN the container.
	e.onTaskState(update(1, 0, floepb.TaskState_FAILED, "input channel from B (vertex 0 subtask 1): rpc error: code = Unavailable"), now)
	e.onTaskManagerLost("b", "container_1_0001_01_000003", dead, now)
	for v := range 2 {
		for s := range 2 {
			e.onTaskState(update(v, s, floepb.TaskState_CANCELED, ""), now)
		}
	}
	if !e.readyToRestart() || !strings.Contains(e.failure, "exited with status 137") {
		t.Fatalf("status %s, cause %q", e.status, e.failure)
	}
	e.prepareRestart()
	acts := e.schedule([]slot{{tm: "a", addr: "A"}, {tm: "c", addr: "C"}})
	if len(acts) != 4 {
		t.Fatalf("%d actions", len(acts))
	}
	// Attempt 1, the last: only the secondary failure is known when every task
	// has stopped; the job waits for the root cause up to its grace.
	up := func(v, s int, st floepb.TaskState, msg string) *floepb.TaskStateUpdate {
		u := update(v, s, st, msg)
		u.Task.Attempt = 1
		return u
	}
	e.onTaskState(up(1, 1, floepb.TaskState_FAILED, "input channel from C (vertex 0 subtask 1): result partition released: producer CANCELED"), now)
	for v := range 2 {
		e.onTaskState(up(v, 0, floepb.TaskState_CANCELED, ""), now)
	}
	e.onTaskState(up(0, 1, floepb.TaskState_CANCELED, ""), now)
	if e.status != Failed {
		t.Fatalf("status %s, want FAILED (a TaskManager loss is known)", e.status)
	}
	for _, want := range []string{"restart strategy exhausted after 1 restarts", "TaskManager container_1_0001_01_000003 lost", "on node nm1:4545", "status 137"} {
		if !strings.Contains(e.failure, want) {
			t.Errorf("cause %q lacks %q", e.failure, want)
		}
	}
}

// With no loss known, a job with only a secondary cause waits for its root
// cause for the grace, then ends with what it has.
func TestSecondaryCauseWaitsForTheGrace(t *testing.T) {
	e := scheduled(t)
	e.used["b"] = true
	e.grace = 5 * time.Second
	e.onTaskState(update(1, 0, floepb.TaskState_FAILED, "input channel from B (vertex 0 subtask 1): rpc error: code = Unavailable"), now)
	for _, s := range []int{0, 1} {
		e.onTaskState(update(0, s, floepb.TaskState_CANCELED, ""), now)
	}
	e.onTaskState(update(1, 1, floepb.TaskState_CANCELED, ""), now)
	if e.status != Failing {
		t.Fatalf("status %s, want FAILING during the grace", e.status)
	}
	e.settle(now.Add(time.Second))
	if e.status != Failing {
		t.Fatalf("status %s before the grace ended", e.status)
	}
	e.onTaskManagerLost("b", "container_b", "exited with status 143", now.Add(2*time.Second))
	if e.status != Failed || !strings.Contains(e.failure, "container_b lost: exited with status 143") {
		t.Fatalf("status %s cause %q", e.status, e.failure)
	}

	e = scheduled(t)
	e.grace = 5 * time.Second
	e.onTaskState(update(1, 0, floepb.TaskState_FAILED, "result partition released: producer FAILED"), now)
	for _, s := range []int{0, 1} {
		e.onTaskState(update(0, s, floepb.TaskState_CANCELED, ""), now)
	}
	e.onTaskState(update(1, 1, floepb.TaskState_CANCELED, ""), now)
	e.settle(now.Add(5 * time.Second))
	if e.status != Failed || e.failure != "result partition released: producer FAILED" {
		t.Fatalf("after the grace: status %s cause %q", e.status, e.failure)
	}
}

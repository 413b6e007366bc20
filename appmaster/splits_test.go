package appmaster

import (
	"slices"
	"testing"

	"floe/checkpoint"
	"floe/internal/jobgraph"
	"floe/internal/rpc/floepb"
)

func splitGraph(in *jobgraph.InputSplits) *jobgraph.JobGraph {
	g := testGraph()
	g.Vertices[0].Splits = in
	g.Vertices[0].Operators = []jobgraph.Operator{{UID: "src"}}
	return g
}

func splitReq(subtask int, seq int64, host string, finished ...int32) *floepb.SplitRequest {
	return &floepb.SplitRequest{Task: &floepb.TaskRef{JobId: "j", Vertex: 0, Subtask: int32(subtask)}, Seq: seq, Host: host,
		Finished: finished, Splits: 6}
}

// ask sends a request and returns the split, -1 for none.
func ask(t *testing.T, e *execution, req *floepb.SplitRequest) int {
	t.Helper()
	resp, err := e.nextSplit(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetNone() {
		return -1
	}
	return int(resp.GetSplit())
}

func runningSplits(t *testing.T, in *jobgraph.InputSplits) *execution {
	t.Helper()
	e := newExecution("j", splitGraph(in), now)
	e.schedule([]slot{{tm: "a", addr: "hostA:1"}, {tm: "b", addr: "hostB:1"}})
	for v := range 2 {
		for s := range 2 {
			e.onTaskState(update(v, s, floepb.TaskState_RUNNING, ""), now)
		}
	}
	return e
}

// A subtask gets a split whose block is on its host while there is one,
// then any split; with no hosts known, splits go in order.
func TestSplitLocality(t *testing.T) {
	in := &jobgraph.InputSplits{N: 6, Hosts: [][]string{{"hostB"}, {"hostB"}, {"hostA", "hostC"}, {"hostB"}, {"hostA"}, nil}}
	e := runningSplits(t, in)
	var gotA, gotB []int
	for seq := int64(1); ; seq++ {
		a, b := ask(t, e, splitReq(0, seq, "hostA")), ask(t, e, splitReq(1, seq, "hostB"))
		if a < 0 && b < 0 {
			break
		}
		if a >= 0 {
			gotA = append(gotA, a)
		}
		if b >= 0 {
			gotB = append(gotB, b)
		}
	}
	// In turns: A its own 2 and 4, B its own 0 and 1; then A, with none of
	// its own left, the first left (3, B's), and B none of its own either: 5.
	if want := []int{2, 4, 3}; !slices.Equal(gotA, want) {
		t.Errorf("hostA got %v, want %v", gotA, want)
	}
	if want := []int{0, 1, 5}; !slices.Equal(gotB, want) {
		t.Errorf("hostB got %v, want %v", gotB, want)
	}
	// An unknown host (no split local to it) takes them in order.
	e = runningSplits(t, &jobgraph.InputSplits{N: 6})
	for want := range 6 {
		if got := ask(t, e, splitReq(want%2, int64(want/2+1), "hostZ")); got != want {
			t.Fatalf("split %d, want %d", got, want)
		}
	}
}

// A retried request gets the answer of the first; a stale attempt none.
func TestSplitRequestRetryAndStaleAttempt(t *testing.T) {
	e := runningSplits(t, &jobgraph.InputSplits{N: 6})
	first := ask(t, e, splitReq(0, 1, ""))
	if again := ask(t, e, splitReq(0, 1, "")); again != first {
		t.Fatalf("retry got split %d, the first request %d", again, first)
	}
	if next := ask(t, e, splitReq(0, 2, "")); next == first {
		t.Fatalf("a new request got split %d again", next)
	}
	stale := splitReq(1, 1, "")
	stale.Task.Attempt = 7
	if _, err := e.nextSplit(stale); err == nil {
		t.Fatal("a stale attempt got a split")
	}
	wrong := splitReq(1, 1, "")
	wrong.Splits = 5
	if _, err := e.nextSplit(wrong); err == nil {
		t.Fatal("a subtask with another plan of the input got a split")
	}
}

// The enumerator's part of a checkpoint is its unassigned splits when the
// checkpoint was triggered, less those handed out afterwards to a subtask
// that had not snapshotted it yet (its own snapshot holds them).
func TestSplitCheckpointState(t *testing.T) {
	e := runningSplits(t, &jobgraph.InputSplits{N: 6})
	ask(t, e, splitReq(0, 1, ""))  // 0, before the checkpoint
	e.snapshotSplits(5)            // triggered: 1..5 unassigned
	before := splitReq(1, 1, "")   // subtask 1 has not snapshotted 5: 1 is in its state
	after := splitReq(0, 2, "", 0) // subtask 0 has: 2 is not in its state
	after.LastCheckpoint = 5
	if a, b := ask(t, e, before), ask(t, e, after); a != 1 || b != 2 {
		t.Fatalf("splits %d, %d", a, b)
	}
	m := &checkpoint.Metadata{ID: 5, Operators: []checkpoint.OperatorState{{UID: "src", Parallelism: 2, MaxParallelism: 128}}}
	got := e.addSplits(5, m).Operators[0].Splits
	if got == nil || got.Total != 6 || !slices.Equal(got.Unassigned, []int{2, 3, 4, 5}) {
		t.Fatalf("enumerator state %+v, want splits 2..5 of 6", got)
	}
	if m.Operators[0].Splits != nil {
		t.Fatal("addSplits changed the coordinator's metadata")
	}
	// A restart restores exactly those; the rest count as done.
	e.prepareRestart()
	if err := e.restoreSplits(e.addSplits(5, m)); err != nil { // taken once: nothing to add again
		t.Fatal(err)
	}
	if n, _, done := e.splitProgress(0); n != 6 || done != 0 {
		t.Fatalf("a restore without enumerator state: %d splits, %d done; want all back", n, done)
	}
	m.Operators[0].Splits = got
	if err := e.restoreSplits(m); err != nil {
		t.Fatal(err)
	}
	if _, _, done := e.splitProgress(0); done != 2 {
		t.Fatalf("%d splits done after the restore, want 2 (0 and 1, held by the subtasks' state)", done)
	}
	m.Operators[0].Splits, m.Operators[0].Subtasks = nil, []checkpoint.SubtaskState{{Lists: []checkpoint.ListState{{Name: "x"}}}}
	if err := e.restoreSplits(m); err == nil {
		t.Fatal("a source with positions and no enumerator state restored")
	}
}

// A BATCH stage that runs again gets all its splits back.
func TestSplitsResetWhenStageReruns(t *testing.T) {
	g := splitGraph(&jobgraph.InputSplits{N: 6})
	g.Config = g.Config.With("execution.runtime-mode", "BATCH")
	e := newExecution("j", g, now)
	e.restart = RestartStrategy{Attempts: 1}
	e.schedule([]slot{{tm: "a", addr: "hostA:1"}, {tm: "b", addr: "hostB:1"}})
	e.onTaskState(update(0, 0, floepb.TaskState_RUNNING, ""), now)
	ask(t, e, splitReq(0, 1, ""))
	ask(t, e, splitReq(0, 2, "", 0))
	if n, a, d := e.splitProgress(0); n != 6 || a != 1 || d != 1 {
		t.Fatalf("progress %d/%d/%d, want 6 splits, 1 assigned, 1 done", n, a, d)
	}
	if rs := e.stageResults(); rs[0].Splits != 6 || rs[0].SplitsDone != 1 || rs[0].SplitsAssigned != 1 {
		t.Fatalf("stage 0: %+v", rs[0])
	}
	e.onTaskState(update(0, 0, floepb.TaskState_FAILED, "boom"), now)
	e.onTaskState(update(0, 1, floepb.TaskState_CANCELED, ""), now)
	if !e.readyToRestart() {
		t.Fatalf("status %s, not ready to restart", e.status)
	}
	e.prepareRestart()
	if n, a, d := e.splitProgress(0); n != 6 || a != 0 || d != 0 {
		t.Fatalf("after the rerun's reset: %d/%d/%d, want all 6 unassigned", n, a, d)
	}
}

package checkpoint

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The test job: a source vertex of two subtasks and a keyed count of one,
// max parallelism 4.
var (
	src0, src1, cnt = TaskID{0, 0}, TaskID{0, 1}, TaskID{1, 0}
	testJob         = Job{
		ID:             "job1",
		Dir:            "/ckpt/job1",
		MaxParallelism: 4,
		Vertices: []Vertex{
			{ID: 0, Parallelism: 2, Source: true, Operators: []string{"src"}},
			{ID: 1, Parallelism: 1, Operators: []string{"count", "sink"}},
		},
	}
	t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

type step struct {
	at   time.Duration // since t0
	ev   Event
	want []string // the actions' String()s
}

func ack(id int64, task TaskID) Ack {
	st := map[string]SubtaskState{}
	switch task.Vertex {
	case 0:
		st["src"] = SubtaskState{Lists: []ListState{{Name: SourcePositions, Distribution: Split, Entries: []ListEntry{{Inline: []byte{byte(task.Subtask)}}}}}}
	case 1:
		dir := CheckpointDir(testJob.Dir, id)
		st["count"] = SubtaskState{Keyed: []KeyedHandle{{Path: Join(dir, "count-0-keyed"), Size: 40, Start: 0, Offsets: []int64{0, 10, 20, 30, 40}}}}
	}
	return Ack{ID: id, Task: task, State: st}
}

// acks acknowledges checkpoint id from every task of the test job: the last
// step asks for the metadata.
func acks(at time.Duration, id int64) []step {
	return []step{
		{at, ack(id, src0), nil},
		{at, ack(id, src1), nil},
		{at, ack(id, cnt), []string{fmt.Sprintf("write metadata %d to /ckpt/job1/chk-%d", id, id)}},
	}
}

func inject(id int64) string {
	return fmt.Sprintf("inject checkpoint %d at [0/0 0/1] into /ckpt/job1/chk-%d", id, id)
}
func discard(id int64) string { return fmt.Sprintf("discard %d /ckpt/job1/chk-%d", id, id) }
func notify(id int64) string  { return fmt.Sprintf("notify complete %d", id) }

func cfgWith(f func(*Config)) Config {
	c := DefaultConfig()
	c.Interval = time.Second
	c.Timeout = 10 * time.Second
	c.Dir = "/ckpt"
	if f != nil {
		f(&c)
	}
	return c
}

func script(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("script: %T", p))
		}
	}
	return out
}

func run(t *testing.T, c *Coordinator, steps []step) {
	t.Helper()
	for i, s := range steps {
		var got []string
		for _, a := range c.Step(t0.Add(s.at), s.ev) {
			got = append(got, a.String())
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d at %v: %#v\n got: %s\nwant: %s", i, s.at, s.ev, strings.Join(got, "\n      "), strings.Join(s.want, "\n      "))
		}
	}
}

func TestCoordinatorScenarios(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name  string
		cfg   Config
		opts  []CoordinatorOption
		steps []step
		// after the script
		completed []int64
		pending   []int64
	}{
		{
			name: "normal completion, retention of one",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec / 2, Tick{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				acks(sec+100*time.Millisecond, 1),
				step{sec + 200*time.Millisecond, MetadataWritten{ID: 1}, []string{notify(1)}},
				step{2 * sec, Tick{}, []string{inject(2)}},
				acks(2*sec, 2),
				step{2 * sec, MetadataWritten{ID: 2}, []string{notify(2), discard(1)}},
				// Duplicate and stray events change nothing.
				step{2 * sec, ack(2, cnt), nil},
				step{2 * sec, MetadataWritten{ID: 2}, nil},
				step{2 * sec, Decline{ID: 2, Task: cnt, Err: errors.New("late")}, nil},
			),
			completed: []int64{2},
		},
		{
			name: "a task never acknowledges: timeout aborts, the next trigger proceeds",
			cfg:  cfgWith(func(c *Config) { c.TolerableFailures = 1 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{sec, ack(1, src0), nil},
				step{sec, ack(1, src1), nil},
				step{10 * sec, Tick{}, nil},
				step{11 * sec, Tick{}, []string{
					"abort 1: checkpoint: expired before completing: after 10s, still waiting for [1/0]",
					discard(1),
					inject(2),
				}},
				// The straggler acknowledges after the abort: its files go too.
				step{11 * sec, ack(1, cnt), []string{discard(1)}},
				acks(12*sec, 2),
				step{12 * sec, MetadataWritten{ID: 2}, []string{notify(2), inject(3)}},
			),
			completed: []int64{2},
			pending:   []int64{3},
		},
		{
			name: "timeout with no failure tolerated fails the job",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{11 * sec, Tick{}, []string{
					"abort 1: checkpoint: expired before completing: after 10s, still waiting for [0/0 0/1 1/0]",
					discard(1),
					"fail job: checkpoint: exceeded tolerable failed checkpoints (0 tolerated): checkpoint 1: checkpoint: expired before completing: after 10s, still waiting for [0/0 0/1 1/0]",
				}},
				// No trigger until the tasks run again.
				step{20 * sec, Tick{}, nil},
				step{20 * sec, TaskFailed{Task: cnt, Err: errors.New("cancelled")}, nil},
				step{21 * sec, TasksRunning{}, nil},
				step{22 * sec, Tick{}, []string{inject(2)}},
			),
			pending: []int64{2},
		},
		{
			name: "task fails after _metadata was requested: the write decides, notification re-sent after restart",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				acks(sec, 1),
				step{sec, TaskFailed{Task: src1, Err: errors.New("killed")}, nil},
				step{2 * sec, MetadataWritten{ID: 1}, []string{notify(1)}},
				step{3 * sec, Tick{}, nil},
				step{4 * sec, TasksRunning{Restored: 1}, []string{notify(1)}},
				step{5 * sec, Tick{}, []string{inject(2)}},
			),
			completed: []int64{1},
			pending:   []int64{2},
		},
		{
			name: "task fails after notification was sent: restart restores and notifies again",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				acks(sec, 1),
				step{sec, MetadataWritten{ID: 1}, []string{notify(1)}},
				step{sec, TaskFailed{Task: cnt, Err: errors.New("killed before commit")}, nil},
				step{2 * sec, TasksRunning{Restored: 1}, []string{notify(1)}},
			),
			completed: []int64{1},
		},
		{
			name: "a new JobManager resumes after the old one wrote _metadata and died",
			cfg:  cfgWith(nil),
			opts: []CoordinatorOption{WithCompleted(3), WithNextID(5)}, // chk-4 was left incomplete
			steps: script(
				step{0, TasksRunning{Restored: 3}, []string{notify(3)}},
				step{sec, Tick{}, []string{inject(5)}},
				acks(sec, 5),
				step{sec, MetadataWritten{ID: 5}, []string{notify(5), discard(3)}},
			),
			completed: []int64{5},
		},
		{
			name: "writing _metadata fails: abort, counted",
			cfg:  cfgWith(func(c *Config) { c.TolerableFailures = 1 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				acks(sec, 1),
				step{11 * sec, Tick{}, nil}, // no timeout while the write is under way
				step{11 * sec, MetadataWritten{ID: 1, Err: errors.New("disk full")}, []string{
					"abort 1: checkpoint: writing metadata failed: disk full", discard(1), inject(2)}},
				step{11 * sec, Decline{ID: 2, Task: src0, Err: errors.New("upload failed")}, []string{
					"abort 2: checkpoint: declined by a task: task 0/0: upload failed", discard(2),
					"fail job: checkpoint: exceeded tolerable failed checkpoints (1 tolerated): checkpoint 2: checkpoint: declined by a task: task 0/0: upload failed",
				}},
			),
		},
		{
			name: "max concurrent checkpoints, then a newer one subsumes an older",
			cfg:  cfgWith(func(c *Config) { c.MaxConcurrent = 2 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{2 * sec, Tick{}, []string{inject(2)}},
				step{3 * sec, Tick{}, nil}, // two in flight
				acks(3*sec+sec/2, 1),
				step{3*sec + sec/2, MetadataWritten{ID: 1}, []string{notify(1), inject(3)}}, // overdue
				acks(4*sec, 3),
				step{4 * sec, MetadataWritten{ID: 3}, []string{
					notify(3), "abort 2: checkpoint: subsumed by a newer checkpoint: checkpoint 3 completed", discard(2), discard(1)}},
				step{4*sec + sec/2, Tick{}, []string{inject(4)}},
			),
			completed: []int64{3},
			pending:   []int64{4},
		},
		{
			name: "min pause counts from the end of the last checkpoint and allows one at a time",
			cfg:  cfgWith(func(c *Config) { c.MinPause = 5 * time.Second; c.MaxConcurrent = 3 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{2 * sec, Tick{}, nil}, // effectively max concurrent 1
				acks(2*sec+sec/2, 1),
				step{2*sec + sec/2, MetadataWritten{ID: 1}, []string{notify(1)}},
				step{3 * sec, Tick{}, nil},
				step{7 * sec, Tick{}, nil},
				step{7*sec + sec/2, Tick{}, []string{inject(2)}},
			),
			completed: []int64{1},
			pending:   []int64{2},
		},
		{
			name: "declines count toward tolerable failures; a success resets the count; not-ready declines do not count",
			cfg:  cfgWith(func(c *Config) { c.TolerableFailures = 1 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{sec, Decline{ID: 1, Task: cnt, Err: errors.New("snapshot failed")}, []string{
					"abort 1: checkpoint: declined by a task: task 1/0: snapshot failed", discard(1)}},
				step{2 * sec, Tick{}, []string{inject(2)}},
				acks(2*sec, 2),
				step{2 * sec, MetadataWritten{ID: 2}, []string{notify(2)}},
				step{3 * sec, Tick{}, []string{inject(3)}},
				step{3 * sec, Decline{ID: 3, Task: src1, Err: errors.New("io")}, []string{
					"abort 3: checkpoint: declined by a task: task 0/1: io", discard(3)}},
				step{4 * sec, Tick{}, []string{inject(4)}},
				step{4 * sec, Decline{ID: 4, Task: src0, Err: fmt.Errorf("restoring: %w", ErrTaskNotReady)}, []string{
					"abort 4: checkpoint: declined by a task: task 0/0: restoring: checkpoint: task not ready", discard(4)}},
				step{5 * sec, Tick{}, []string{inject(5)}},
				step{5 * sec, Decline{ID: 5, Task: src0}, []string{
					"abort 5: checkpoint: declined by a task: task 0/0: no reason given", discard(5),
					"fail job: checkpoint: exceeded tolerable failed checkpoints (1 tolerated): checkpoint 5: checkpoint: declined by a task: task 0/0: no reason given",
				}},
			),
			completed: []int64{2},
		},
		{
			name: "retention keeps the last num-retained",
			cfg:  cfgWith(func(c *Config) { c.NumRetained = 2 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}}, acks(sec, 1),
				step{sec, MetadataWritten{ID: 1}, []string{notify(1)}},
				step{2 * sec, Tick{}, []string{inject(2)}}, acks(2*sec, 2),
				step{2 * sec, MetadataWritten{ID: 2}, []string{notify(2)}},
				step{3 * sec, Tick{}, []string{inject(3)}}, acks(3*sec, 3),
				step{3 * sec, MetadataWritten{ID: 3}, []string{notify(3), discard(1)}},
			),
			completed: []int64{2, 3},
		},
		{
			name: "task failure aborts checkpoints in flight; triggers resume with the tasks",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{sec, TaskFailed{Task: cnt, Err: errors.New("oom")}, []string{"abort 1: checkpoint: task failed: task 1/0: oom", discard(1)}},
				step{5 * sec, Tick{}, nil},
				step{6 * sec, TasksRunning{}, nil},
				step{7 * sec, Tick{}, []string{inject(2)}},
			),
			pending: []int64{2},
		},
		{
			name: "an acknowledgement with state of a foreign operator aborts",
			cfg:  cfgWith(func(c *Config) { c.TolerableFailures = 5 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{sec, Ack{ID: 1, Task: src0, State: map[string]SubtaskState{"count": {Lists: []ListState{{Name: "x", Distribution: Split}}}}}, []string{
					`abort 1: checkpoint: invalid acknowledgement: task 0/0: state for operator "count", which is not in vertex 0`, discard(1)}},
				step{2 * sec, Tick{}, []string{inject(2)}},
				// Key groups 2..3 are not subtask 0 of 2's.
				step{2 * sec, Ack{ID: 2, Task: src0, State: map[string]SubtaskState{"src": {Keyed: []KeyedHandle{{Path: "f", Size: 2, Start: 2, Offsets: []int64{0, 1, 2}}}}}}, []string{
					`abort 2: checkpoint: invalid acknowledgement: task 0/0: operator "src": keyed state f: key groups 2..3 outside the subtask's 0..1`, discard(2)}},
			),
		},
		{
			name: "savepoints: not subject to max concurrent, no notification, not retained",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}},
				step{sec, TriggerSavepoint{Ref: "r1", Dir: "/sp/savepoint-job1-aa"}, []string{"inject savepoint 2 at [0/0 0/1] into /sp/savepoint-job1-aa"}},
				step{sec, ack(2, src0), nil},
				step{sec, ack(2, src1), nil},
				step{sec, ack(2, cnt), []string{"write metadata 2 to /sp/savepoint-job1-aa"}},
				step{sec, MetadataWritten{ID: 2}, []string{"savepoint r1 done 2 at /sp/savepoint-job1-aa"}},
				// A failed savepoint goes to its requester and is not counted.
				step{2 * sec, TriggerSavepoint{Ref: "r2", Dir: "/sp/savepoint-job1-bb"}, []string{"inject savepoint 3 at [0/0 0/1] into /sp/savepoint-job1-bb"}},
				step{2 * sec, Decline{ID: 3, Task: cnt, Err: errors.New("no space")}, []string{
					"abort 3: checkpoint: declined by a task: task 1/0: no space", "discard 3 /sp/savepoint-job1-bb",
					"savepoint r2 failed: checkpoint: declined by a task: task 1/0: no space"}},
				step{2 * sec, TriggerSavepoint{Ref: "r3"}, []string{"savepoint r3 failed: checkpoint: invalid path: no savepoint directory (give one or set execution.checkpointing.savepoint-dir)"}},
				acks(2*sec, 1),
				step{2 * sec, MetadataWritten{ID: 1}, []string{notify(1), inject(4)}},
			),
			completed: []int64{1},
			pending:   []int64{4},
		},
		{
			name: "stop with savepoint: periodic checkpoints stop, the sources are notified",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec / 2, TriggerSavepoint{Ref: "s", Dir: "/sp/x", Stop: true}, []string{"inject savepoint 1 (stop) at [0/0 0/1] into /sp/x"}},
				step{sec, TriggerSavepoint{Ref: "s2", Dir: "/sp/y", Stop: true}, []string{"savepoint s2 failed: checkpoint: stop with savepoint already in progress"}},
				step{2 * sec, Tick{}, nil},
				step{2 * sec, ack(1, src0), nil},
				step{2 * sec, ack(1, src1), nil},
				step{2 * sec, ack(1, cnt), []string{"write metadata 1 to /sp/x"}},
				step{2 * sec, MetadataWritten{ID: 1}, []string{"savepoint s done 1 at /sp/x", notify(1)}},
				step{5 * sec, Tick{}, nil},
				step{6 * sec, JobEnded{Status: Finished}, []string{"discard 0 /ckpt/job1"}},
				step{6 * sec, TriggerSavepoint{Ref: "late", Dir: "/sp/z"}, []string{"savepoint late failed: checkpoint: job ended: savepoint not triggered"}},
			),
		},
		{
			name: "a failed stop with savepoint resumes periodic checkpoints",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec / 2, TriggerSavepoint{Ref: "s", Dir: "/sp/x", Stop: true}, []string{"inject savepoint 1 (stop) at [0/0 0/1] into /sp/x"}},
				step{2 * sec, Tick{}, nil},
				step{11 * sec, Tick{}, []string{
					"abort 1: checkpoint: expired before completing: after 10s, still waiting for [0/0 0/1 1/0]", "discard 1 /sp/x",
					"savepoint s failed: checkpoint: expired before completing: after 10s, still waiting for [0/0 0/1 1/0]",
					inject(2)}},
			),
			pending: []int64{2},
		},
		{
			name: "cancel deletes checkpoints with DELETE_ON_CANCELLATION, after an outstanding metadata write",
			cfg:  cfgWith(func(c *Config) { c.MaxConcurrent = 2 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}}, acks(sec, 1),
				step{2 * sec, Tick{}, []string{inject(2)}},
				step{2 * sec, JobEnded{Status: Cancelled}, []string{"abort 2: checkpoint: job ended: CANCELED", discard(2)}},
				step{3 * sec, Tick{}, nil},
				step{3 * sec, MetadataWritten{ID: 1}, []string{"discard 0 /ckpt/job1"}},
			),
		},
		{
			name: "cancel keeps checkpoints with RETAIN_ON_CANCELLATION",
			cfg:  cfgWith(func(c *Config) { c.Retention = RetainOnCancellation }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}}, acks(sec, 1),
				step{sec, MetadataWritten{ID: 1}, []string{notify(1)}},
				step{2 * sec, JobEnded{Status: Cancelled}, nil},
			),
			completed: []int64{1},
		},
		{
			name: "a failed job keeps its checkpoints",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{sec, Tick{}, []string{inject(1)}}, acks(sec, 1),
				step{sec, MetadataWritten{ID: 1}, []string{notify(1)}},
				step{2 * sec, JobEnded{Status: Failed}, nil},
			),
			completed: []int64{1},
		},
		{
			name: "checkpointing off: only savepoints",
			cfg:  cfgWith(func(c *Config) { c.Interval = 0 }),
			steps: script(
				step{0, TasksRunning{}, nil},
				step{time.Hour, Tick{}, nil},
				step{time.Hour, TriggerSavepoint{Ref: "r", Dir: "/sp/a"}, []string{"inject savepoint 1 at [0/0 0/1] into /sp/a"}},
			),
			pending: []int64{1},
		},
		{
			name: "no savepoint before the tasks run",
			cfg:  cfgWith(nil),
			steps: script(
				step{0, TriggerSavepoint{Ref: "r", Dir: "/sp/a"}, []string{"savepoint r failed: checkpoint: job not running: savepoint not triggered"}},
				step{2 * time.Second, Tick{}, nil},
			),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCoordinator(tc.cfg, testJob, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			run(t, c, tc.steps)
			if got := c.Completed(); !reflect.DeepEqual(got, tc.completed) && (len(got) > 0 || len(tc.completed) > 0) {
				t.Errorf("completed %v, want %v", got, tc.completed)
			}
			if got := c.Pending(); !reflect.DeepEqual(got, tc.pending) && (len(got) > 0 || len(tc.pending) > 0) {
				t.Errorf("pending %v, want %v", got, tc.pending)
			}
		})
	}
}

func TestCoordinatorMetadata(t *testing.T) {
	c, err := NewCoordinator(cfgWith(nil), testJob)
	if err != nil {
		t.Fatal(err)
	}
	c.Step(t0, TasksRunning{})
	c.Step(t0.Add(time.Second), Tick{})
	c.Step(t0.Add(2*time.Second), ack(1, src0))
	c.Step(t0.Add(2*time.Second), ack(1, src1))
	// An absolute path outside the checkpoint directory stays absolute.
	a := ack(1, cnt)
	a.State["sink"] = SubtaskState{Subtask: 7, Lists: []ListState{{Name: "pending", Distribution: Split, Entries: []ListEntry{{Path: "/ckpt/job1/shared/x", Offset: 1, Length: 2}}}}}
	acts := c.Step(t0.Add(3*time.Second), a)
	if len(acts) != 1 {
		t.Fatalf("actions %v", acts)
	}
	w := acts[0].(WriteMetadata)
	m := w.Metadata
	if m.ID != 1 || m.JobID != "job1" || m.Kind != KindCheckpoint || !m.Timestamp.Equal(t0.Add(time.Second)) {
		t.Fatalf("header %+v", m)
	}
	var uids []string
	for _, op := range m.Operators {
		uids = append(uids, op.UID)
	}
	if !reflect.DeepEqual(uids, []string{"count", "sink", "src"}) {
		t.Fatalf("operators %v", uids)
	}
	count, _ := m.Operator("count")
	if count.Parallelism != 1 || count.MaxParallelism != 4 || len(count.Subtasks) != 1 || count.Subtasks[0].Keyed[0].Path != "count-0-keyed" {
		t.Fatalf("count %+v", count)
	}
	sink, _ := m.Operator("sink")
	if sink.Subtasks[0].Subtask != 0 || sink.Subtasks[0].Lists[0].Entries[0].Path != "/ckpt/job1/shared/x" {
		t.Fatalf("sink %+v", sink)
	}
	src, _ := m.Operator("src")
	if len(src.Subtasks) != 2 || src.Subtasks[1].Subtask != 1 || src.Subtasks[1].Lists[0].Entries[0].Inline[0] != 1 {
		t.Fatalf("src %+v", src)
	}
	if _, err := Encode(m); err != nil {
		t.Fatal(err)
	}
	// The ack's maps were copied, not kept.
	a.State["count"].Keyed[0].Offsets[1] = 99
	if count.Subtasks[0].Keyed[0].Offsets[1] != 10 {
		t.Fatal("metadata aliases the acknowledgement")
	}
}

func TestCoordinatorNextDeadline(t *testing.T) {
	c, err := NewCoordinator(cfgWith(func(c *Config) { c.MinPause = 3 * time.Second }), testJob)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.NextDeadline(); ok {
		t.Fatal("deadline before the tasks run")
	}
	c.Step(t0, TasksRunning{})
	if d, ok := c.NextDeadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("first trigger at %v %v", d, ok)
	}
	c.Step(t0.Add(time.Second), Tick{})
	if d, ok := c.NextDeadline(); !ok || !d.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("timeout at %v %v", d, ok)
	}
	for _, tk := range []TaskID{src0, src1, cnt} {
		c.Step(t0.Add(2*time.Second), ack(1, tk))
	}
	if _, ok := c.NextDeadline(); ok {
		t.Fatal("deadline while the metadata is written")
	}
	c.Step(t0.Add(2*time.Second), MetadataWritten{ID: 1})
	if d, ok := c.NextDeadline(); !ok || !d.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("after min pause at %v %v", d, ok)
	}
	if id, dir, ok := c.Latest(); !ok || id != 1 || dir != "/ckpt/job1/chk-1" {
		t.Fatalf("latest %d %s %v", id, dir, ok)
	}
}

func TestNewCoordinatorErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		job  Job
	}{
		{"no source", cfgWith(nil), Job{ID: "j", Dir: "/d", MaxParallelism: 4, Vertices: []Vertex{{ID: 0, Parallelism: 1}}}},
		{"no dir", cfgWith(nil), Job{ID: "j", MaxParallelism: 4, Vertices: []Vertex{{ID: 0, Parallelism: 1, Source: true}}}},
		{"duplicate uid", cfgWith(nil), Job{ID: "j", Dir: "/d", MaxParallelism: 4, Vertices: []Vertex{{ID: 0, Parallelism: 1, Source: true, Operators: []string{"a"}}, {ID: 1, Parallelism: 1, Operators: []string{"a"}}}}},
		{"parallelism above max", cfgWith(nil), Job{ID: "j", Dir: "/d", MaxParallelism: 4, Vertices: []Vertex{{ID: 0, Parallelism: 5, Source: true}}}},
		{"bad config", cfgWith(func(c *Config) { c.Timeout = 0 }), testJob},
	} {
		if _, err := NewCoordinator(tc.cfg, tc.job); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

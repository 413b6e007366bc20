package checkpoint

import (
	"fmt"
	"strings"
	"time"
)

// TaskID names one task of the running job: a subtask of a vertex.
type TaskID struct {
	Vertex  int
	Subtask int
}

func (t TaskID) String() string { return fmt.Sprintf("%d/%d", t.Vertex, t.Subtask) }

// Event is an input of the Coordinator. The owner feeds events one at a time
// to Coordinator.Step, with the current time.
type Event interface{ isEvent() }

// TasksRunning: every task of the job is running, after the first
// deployment or after a restart. Restored is the checkpoint or savepoint id
// the tasks restored from (0: none); the coordinator sends its
// NotifyComplete again, for two-phase-commit sinks.
type TasksRunning struct{ Restored int64 }

// Tick: time passed. The owner sends one at NextDeadline, or regularly.
type Tick struct{}

// Ack: task finished its part of checkpoint ID. State holds the task's
// state by operator uid (its Subtask field is ignored); stateless operators
// may be left out. Paths may be absolute URIs: those under the checkpoint's
// directory are stored relative to it.
type Ack struct {
	ID    int64
	Task  TaskID
	State map[string]SubtaskState
}

// Decline: task could not take part in checkpoint ID. An Err that wraps
// ErrTaskNotReady does not count as a failure.
type Decline struct {
	ID   int64
	Task TaskID
	Err  error
}

// MetadataWritten reports the outcome of a WriteMetadata action: Err nil
// means _metadata is durable under its final name.
type MetadataWritten struct {
	ID  int64
	Err error
}

// TaskFailed: a task failed and the job is going to restart. Checkpoints in
// flight are aborted and none is triggered until TasksRunning.
type TaskFailed struct {
	Task TaskID
	Err  error
}

// TriggerSavepoint asks for a savepoint into Dir (see NewSavepointDir).
// Ref is the owner's, returned in SavepointDone. With Stop the sources end
// their input once the savepoint completes (stop with savepoint).
type TriggerSavepoint struct {
	Ref  string
	Dir  string
	Stop bool
}

// JobStatus is how a job ended.
type JobStatus string

const (
	// Finished: every task reached the end of its input.
	Finished JobStatus = "FINISHED"
	// Cancelled by the user.
	Cancelled JobStatus = "CANCELED"
	// Failed for good (no restart left).
	Failed JobStatus = "FAILED"
	// Suspended: this JobManager stops but the job goes on in another
	// (an ApplicationMaster attempt that YARN restarts).
	Suspended JobStatus = "SUSPENDED"
)

// JobEnded: the job reached Status. Checkpoints are discarded when it
// finished, or was cancelled with DeleteOnCancellation; else kept.
type JobEnded struct{ Status JobStatus }

func (TasksRunning) isEvent()     {}
func (Tick) isEvent()             {}
func (Ack) isEvent()              {}
func (Decline) isEvent()          {}
func (MetadataWritten) isEvent()  {}
func (TaskFailed) isEvent()       {}
func (TriggerSavepoint) isEvent() {}
func (JobEnded) isEvent()         {}

// Action is an output of the Coordinator: something the owner must do. Its
// String is a one-line description for logs and tests.
type Action interface {
	isAction()
	String() string
}

// InjectBarrier: send the barrier of checkpoint ID to Tasks (the sources),
// which emit it in-band after their current record. Every task writes its
// files into Dir: the runtime must carry Dir (and Kind, Stop) with the
// barrier, or let tasks derive it, since savepoint directories are arbitrary.
type InjectBarrier struct {
	ID        int64
	Kind      Kind
	Timestamp time.Time
	Dir       string
	Stop      bool
	Tasks     []TaskID
}

// WriteMetadata: write Metadata as Dir/_metadata atomically (StoreMetadata),
// then report MetadataWritten. The checkpoint is complete once the rename
// succeeded, whatever happens after.
type WriteMetadata struct {
	ID       int64
	Dir      string
	Metadata *Metadata
}

// NotifyComplete: checkpoint ID is complete; tell Tasks (all tasks), which is
// when two-phase-commit sinks publish. Sent again after a restore.
type NotifyComplete struct {
	ID    int64
	Tasks []TaskID
}

// Abort: checkpoint ID will not complete; tell Tasks to drop what they
// hold for it. A Discard of its directory follows.
type Abort struct {
	ID    int64
	Err   error
	Tasks []TaskID
}

// Discard: delete Dir and everything in it (FS.RemoveAll): an aborted or
// no longer retained checkpoint; ID 0 is the whole job directory.
type Discard struct {
	ID  int64
	Dir string
	// Retained, set when a completed checkpoint goes beyond the retained
	// number, lists the checkpoints retained after it: its shared files
	// that none of them references go too (DiscardRetained).
	Retained []int64
}

// SavepointDone answers TriggerSavepoint Ref: Path on success, else Err.
type SavepointDone struct {
	Ref  string
	ID   int64
	Path string
	Err  error
}

// FailJob: checkpoints failed more often in a row than tolerated; fail the
// job (the restart strategy decides what follows).
type FailJob struct{ Err error }

func (InjectBarrier) isAction()  {}
func (WriteMetadata) isAction()  {}
func (NotifyComplete) isAction() {}
func (Abort) isAction()          {}
func (Discard) isAction()        {}
func (SavepointDone) isAction()  {}
func (FailJob) isAction()        {}

func (a InjectBarrier) String() string {
	stop := ""
	if a.Stop {
		stop = " (stop)"
	}
	return fmt.Sprintf("inject %s %d%s at %s into %s", a.Kind, a.ID, stop, taskList(a.Tasks), a.Dir)
}
func (a WriteMetadata) String() string  { return fmt.Sprintf("write metadata %d to %s", a.ID, a.Dir) }
func (a NotifyComplete) String() string { return fmt.Sprintf("notify complete %d", a.ID) }
func (a Abort) String() string          { return fmt.Sprintf("abort %d: %v", a.ID, a.Err) }
func (a Discard) String() string        { return fmt.Sprintf("discard %d %s", a.ID, a.Dir) }
func (a SavepointDone) String() string {
	if a.Err != nil {
		return fmt.Sprintf("savepoint %s failed: %v", a.Ref, a.Err)
	}
	return fmt.Sprintf("savepoint %s done %d at %s", a.Ref, a.ID, a.Path)
}
func (a FailJob) String() string { return fmt.Sprintf("fail job: %v", a.Err) }

func taskList(ts []TaskID) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

package operator

import (
	"context"

	"floe/checkpoint"
)

// OperatorState is what one operator subtask puts into a checkpoint.
type OperatorState struct {
	// KeyGroupStart is the first key group of KeyGroups; KeyGroups[i] is the
	// encoded state of key group KeyGroupStart+i (keyed operators).
	KeyGroupStart int
	KeyGroups     [][]byte
	// WriteKeyGroups, when set instead of KeyGroups, produces them later,
	// off the task's goroutine (from an immutable view taken at the
	// barrier), one at a time: it hands emit the block of each key group
	// from KeyGroupStart on, in order, and emit writes it out before the
	// next is made (a state larger than memory is never whole in it). emit
	// must not keep the block.
	WriteKeyGroups func(emit func(block []byte) error) error
	// UploadIncremental, set besides WriteKeyGroups by a keyed operator
	// whose state is a pebble store with incremental checkpoints, uploads
	// the store's files (the SST files not sent before to sharedDir, the
	// rest to dir) and describes them. The upload calls one of the two: a
	// checkpoint this one, a savepoint (always full) WriteKeyGroups; then
	// Release, when set, whichever it called.
	UploadIncremental func(ctx context.Context, store checkpoint.FS, sharedDir, dir, uid string) (checkpoint.IncrementalHandle, error)
	Release           func() error
	// ReadKeyGroups, set on restore instead of KeyGroups, hands fn the
	// block of each restored key group in turn, read from the checkpoint's
	// files as fn goes (fn may keep the block).
	ReadKeyGroups func(fn func(keyGroup int, block []byte) error) error
	// Incremental is, on restore, the store files of the old subtasks
	// whose key groups overlap this subtask's (each holds its whole range).
	Incremental []checkpoint.IncrementalHandle
	// List is operator list state: redistributed round robin on rescale,
	// or given whole to every subtask when Union.
	List  [][]byte
	Union bool
}

// Empty reports whether the operator holds no state.
func (s OperatorState) Empty() bool {
	if s.WriteKeyGroups != nil || s.ReadKeyGroups != nil || len(s.Incremental) > 0 {
		return false
	}
	for _, b := range s.KeyGroups {
		if len(b) > 0 {
			return false
		}
	}
	return len(s.List) == 0
}

// Snapshotter is implemented by operators with state. SnapshotState runs on
// the task goroutine when the checkpoint's barrier reaches the operator and
// must return a view that later processing does not change. RestoreState
// runs before the first record, with the state of the key groups this
// subtask owns (maybe written by subtasks of another parallelism).
type Snapshotter interface {
	SnapshotState(checkpoint int64) (OperatorState, error)
	RestoreState(s OperatorState) error
}

// CheckpointListener is implemented by operators that act when a checkpoint
// completes (two-phase-commit sinks publish then), on the task goroutine.
type CheckpointListener interface {
	NotifyCheckpointComplete(checkpoint int64) error
	NotifyCheckpointAborted(checkpoint int64)
}

// Checkpointer is the part of a Task that takes part in checkpoints.
type Checkpointer interface {
	// SnapshotState snapshots every stateful operator of the chain, by uid.
	SnapshotState(checkpoint int64) (map[string]OperatorState, error)
	// RestoreState gives each operator its restored state, by uid.
	RestoreState(states map[string]OperatorState) error
	// EmitBarrier sends the barrier downstream, behind every record so far;
	// dir is where the checkpoint's files go. An unaligned checkpoint's
	// barrier overtakes what the output partitions still hold (the task
	// records that as channel state).
	EmitBarrier(checkpoint int64, dir string, unaligned bool)
	NotifyCheckpointComplete(checkpoint int64) error
	NotifyCheckpointAborted(checkpoint int64)
}

// DeclineNotReady starts the message of a task that declines a checkpoint
// because it has not started or has already finished: not a failure.
const DeclineNotReady = "not ready: "

// WatermarkEmitter is implemented by tasks: EmitWatermark sends the task's
// watermark (the minimum over its active inputs) into the chain, and
// EmitWatermarkStatus tells it that every input went idle, or one came back.
type WatermarkEmitter interface {
	EmitWatermark(wm int64)
	EmitWatermarkStatus(idle bool)
}

// Ticker is implemented by operators that act on the task's periodic tick
// (the buffer timeout), such as watermark generators.
type Ticker interface {
	Tick()
}

// TimerWaker is a Ticker that knows when its next processing-time timer is
// due (epoch milliseconds; math.MaxInt64 for none), so that the task can
// tick at that moment instead of waiting for its periodic tick.
type TimerWaker interface {
	NextTimer() int64
}

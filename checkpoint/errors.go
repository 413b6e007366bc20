package checkpoint

import (
	"errors"

	"floe/internal/fsys"
)

// Storage and metadata errors.
var (
	// ErrInvalidPath: a path is on another filesystem, escapes its
	// checkpoint directory, or names a filesystem root to delete. It is the
	// filesystem's own error (FS reports it too), so its text carries no
	// package name; checkpoint's errors add "checkpoint: " before it.
	ErrInvalidPath = fsys.ErrInvalidPath
	// ErrTooLarge: a file is larger than the reader allows.
	ErrTooLarge = errors.New("checkpoint: file too large")
	// ErrCorrupt: _metadata bytes are not a floe checkpoint (magic, length
	// or checksum wrong, or the body does not parse).
	ErrCorrupt = errors.New("checkpoint: corrupt metadata")
	// ErrUnsupportedVersion: _metadata of a format version this build cannot read.
	ErrUnsupportedVersion = errors.New("checkpoint: unsupported metadata version")
	// ErrInvalidMetadata: the metadata parses but breaks an invariant
	// (key groups outside a subtask's range, bad offsets, duplicate uids...).
	ErrInvalidMetadata = errors.New("checkpoint: invalid metadata")
	// ErrMissingFile: a state file the metadata refers to is missing or shorter than recorded.
	ErrMissingFile = errors.New("checkpoint: state file missing")
)

// Recovery and restore errors.
var (
	// ErrNoCheckpoint: the job directory holds no completed checkpoint at all.
	ErrNoCheckpoint = errors.New("checkpoint: no completed checkpoint")
	// ErrNoUsableCheckpoint: completed checkpoints exist but none can be restored.
	ErrNoUsableCheckpoint = errors.New("checkpoint: no usable checkpoint")
	// ErrUnmatchedState: state of an operator uid the new job does not have
	// (restore with allow-non-restored-state to drop it).
	ErrUnmatchedState = errors.New("checkpoint: state for an operator the job does not have")
	// ErrMaxParallelismChanged: keyed state written with another max parallelism.
	ErrMaxParallelismChanged = errors.New("checkpoint: max parallelism changed")
	// ErrParallelism: a parallelism outside 1..max parallelism.
	ErrParallelism = errors.New("checkpoint: invalid parallelism")
)

// Reasons a checkpoint is aborted or a job failed by the coordinator. Abort
// and SavepointDone actions wrap one of them.
var (
	// ErrExpired: not every task acknowledged within the timeout.
	ErrExpired = errors.New("checkpoint: expired before completing")
	// ErrDeclined: a task declined the checkpoint.
	ErrDeclined = errors.New("checkpoint: declined by a task")
	// ErrTaskNotReady is for tasks to wrap when they decline because they
	// cannot take part yet (still restoring, already closing); such declines
	// do not count as failures.
	ErrTaskNotReady = errors.New("checkpoint: task not ready")
	// ErrBadAck: an acknowledgement carried state the coordinator rejects.
	ErrBadAck = errors.New("checkpoint: invalid acknowledgement")
	// ErrMetadataWrite: writing _metadata failed.
	ErrMetadataWrite = errors.New("checkpoint: writing metadata failed")
	// ErrSubsumed: a newer checkpoint completed first.
	ErrSubsumed = errors.New("checkpoint: subsumed by a newer checkpoint")
	// ErrTaskFailed: a task failed; the job restarts.
	ErrTaskFailed = errors.New("checkpoint: task failed")
	// ErrJobEnded: the job finished, was cancelled or failed.
	ErrJobEnded = errors.New("checkpoint: job ended")
	// ErrNotRunning: a savepoint was requested while the job's tasks are not all running.
	ErrNotRunning = errors.New("checkpoint: job not running")
	// ErrStopInProgress: a stop-with-savepoint is already under way.
	ErrStopInProgress = errors.New("checkpoint: stop with savepoint already in progress")
	// ErrTooManyFailures: consecutive checkpoint failures exceeded
	// execution.checkpointing.tolerable-failed-checkpoints; the job fails.
	ErrTooManyFailures = errors.New("checkpoint: exceeded tolerable failed checkpoints")
)

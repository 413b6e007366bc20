// Package checkpoint holds what floe's asynchronous barrier snapshots
// (Chandy-Lamport, as in Flink; DESIGN.md decision 5) need outside the
// tasks: the storage, the _metadata format, the coordinator that decides
// when checkpoints start, complete and fail, the reassignment of state to a
// new parallelism, and the choice of a checkpoint to recover from.
//
// # The model
//
// The JobManager owns a Coordinator. When a checkpoint is due it returns an
// InjectBarrier action: the JobManager tells the source tasks, and each
// emits barrier N into its outputs, in-band, after its current record. A
// task with several inputs that gets barrier N on one channel:
//
//   - exactly once: holds that channel back until barrier N came on every
//     channel (alignment), so its snapshot reflects exactly the records
//     before the barrier on every input;
//   - at least once: keeps processing all channels and snapshots when the
//     last barrier arrives; records after the barrier on early channels are
//     in the snapshot and are replayed after a recovery too.
//
// When aligned, the task snapshots its state synchronously into an
// immutable view, forwards the barrier
// downstream, and goes on processing while another goroutine writes the
// view into the checkpoint's directory. Then it sends an acknowledgement
// (Ack) with the handles of what it wrote, or a Decline if it failed.
//
// Who writes what:
//
//   - each task writes its own state files into the checkpoint's directory
//     (InjectBarrier.Dir: <job-dir>/chk-<n>, or the savepoint's directory),
//     one file per operator and kind of state (StateFileName); small list
//     entries such as source positions may travel inline in the Ack;
//   - the JobManager alone writes _metadata, when the Coordinator says so
//     (WriteMetadata), which happens when every task acknowledged;
//   - the JobManager deletes directories (Discard): aborted checkpoints,
//     checkpoints beyond the retained number, the job directory when the
//     job finished or was cancelled with DELETE_ON_CANCELLATION.
//
// # Atomicity
//
// A checkpoint exists when, and only when, its _metadata does. StoreMetadata
// writes it under a hidden temporary name and renames it into place, which
// is atomic on local filesystems and on HDFS; a crash leaves either no
// _metadata (the directory is garbage) or a complete one. The checksum in
// the file catches what the rename cannot (a disk that lied, a truncated
// copy): recovery (LatestUsable) then falls back to the previous checkpoint
// and says so.
//
// Only after _metadata is durable does the coordinator notify the tasks
// (NotifyComplete), which is when two-phase-commit sinks publish the files
// they prepared at the barrier. If anything fails between the two, the
// checkpoint still counts as completed: recovery restores it, restored
// sinks commit what it recorded as pending, and the coordinator repeats the
// notification after the restart (TasksRunning.Restored). Commits must
// therefore be idempotent.
//
// # Driving the coordinator
//
// Coordinator is a state machine in the style of etcd's raft: no I/O, no
// goroutines, no clock. One goroutine of the JobManager feeds it events with
// Step(now, event), carries out the returned actions in order, and sends a
// Tick at NextDeadline. Slow actions (WriteMetadata, Discard) run elsewhere
// and report back as events (MetadataWritten); the coordinator never waits.
//
// Events: TasksRunning, Tick, Ack, Decline, MetadataWritten, TaskFailed,
// TriggerSavepoint, JobEnded. Actions: InjectBarrier, WriteMetadata,
// NotifyComplete, Abort, Discard, SavepointDone, FailJob.
//
// # Storage layout
//
//	<dir>/<job-id>/chk-<n>/_metadata       the checkpoint, complete when present
//	<dir>/<job-id>/chk-<n>/<task files>    state written by the tasks
//	<dir>/<job-id>/shared/                 SST files incremental checkpoints share (shared.go)
//	<dir>/<job-id>/taskowned/              reserved: files tasks own
//	<savepoint-dir>/savepoint-<job>-<rand>/_metadata, plus its task files
//
// Paths in _metadata are relative to its directory when the file lies
// under it, so a savepoint directory can be moved or copied as a whole.
//
// # Rescaling
//
// Keyed state is written per key group (0..max parallelism-1) with the
// offset of each group, so a restore at another parallelism reads only the
// byte ranges of the groups it owns (Reassign, PlanRestore); an
// incremental handle goes whole to every new subtask it overlaps; list state is
// dealt round-robin and union state given to every subtask. Operators are
// matched by uid; state without a matching operator stops the restore
// unless allow-non-restored-state is set (CheckRestore).
package checkpoint

// Package container is the TaskManager: the process that runs subtasks, in a
// YARN container, as a child of a local run, or as a child of a session's
// supervisor. RunProcess is its whole life, wired by the environment of
// internal/role. A TaskManager registers its slots with the JobManager and
// heartbeats; it deploys and cancels subtask attempts, each a task with one
// goroutine that drives the operator chain (container/operator), its input
// gate and its output partitions, aligns checkpoint barriers, tracks
// watermarks, and reports its state back. It serves its partitions to the
// consumers of other TaskManagers over gRPC and to its own consumers over
// local channels; the data plane's contract (record writers, events,
// decoders) is package container/network.
package container

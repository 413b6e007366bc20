// Package appmaster is the JobManager: the part of an ApplicationMaster that
// does not depend on where it runs. It keeps the registry of TaskManagers and
// their slots (registration, heartbeats, loss), schedules each job's subtasks
// onto free slots, and drives every job through its execution state machine
// (execution.go: Flink's job states, restarts by the job's restart strategy).
// It coordinates checkpoints and savepoints with the state machine of package
// checkpoint and stores their metadata, and answers the REST paths a YARN
// user opens from the tracking URL (/overview, /jobs, /jobs/<id>).
//
// The JobManager serves gRPC (floepb's JobManager service) and runs until the
// context given to Run ends. What hosts it is somewhere else: appmaster/yarn
// for a per-job ApplicationMaster, appmaster/session for a yarn-session, and
// the local run of internal/submit.
//
// The job state machines (execution, the checkpoint coordinator) do no I/O;
// the JobManager carries out their actions, its RPCs to TaskManagers in
// goroutines that end with Run. Dispatcher serves the job-facing RPCs of
// `floe list`, `floe cancel`, `floe savepoint` and `floe stop`, and
// ResolveJobID is how every one of them reads a job id or its prefix.
package appmaster

// Package appmaster is the JobManager: it schedules a job's tasks onto the
// slots of the TaskManagers that register with it, follows them to the end
// (restarts, checkpoints and savepoints included) and serves the REST
// interface of the tracking URL. It runs in the ApplicationMaster on YARN
// (appmaster/yarn for a per-job application, appmaster/session for a
// session) and in the client process in local mode.
//
// The job state machines (execution, the checkpoint coordinator) do no I/O;
// the JobManager carries out their actions, its RPCs to TaskManagers in
// goroutines that end with Run. Dispatcher serves the job-facing RPCs of
// `floe list`, `floe cancel`, `floe savepoint` and `floe stop`, and
// ResolveJobID is how every one of them reads a job id or its prefix.
package appmaster

// Package session is the ApplicationMaster of a yarn-session: one JobManager
// shared by the jobs that clients submit to it, possibly from job binaries
// the session was not built with. It serves the Dispatcher service (submit,
// list, cancel, savepoint, stop), keeps a pool of TaskManager containers that
// each run a supervisor (container/supervisor), places each job's slots on
// them, and has the supervisors start the job's own binary as child
// TaskManagers. Containers left idle for long enough are given back to YARN.
//
// Its Dispatcher is the JobManager's (appmaster.Dispatcher) plus
// submission, supervisors and StopSession.
//
// A session survives its ApplicationMaster's death (yarn.application-attempts):
// every accepted job is recorded in the staging directory (internal/failover's
// jobs/<id>.json) until it ends; a later attempt adopts the containers YARN
// kept, publishes itself in jobmanager.json, takes back the supervisors that
// re-register with the jobs they still run, and resubmits each recorded job
// under its id so that it restores its latest checkpoint. The attempt number
// fences the calls of an older attempt to supervisors and TaskManagers, and
// its checkpoint commits.
package session

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
package session

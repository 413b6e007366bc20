// Package session is the ApplicationMaster of a yarn-session: one
// JobManager shared by the jobs submitted to it, and a pool of TaskManager
// containers (supervisors) that grows when jobs need slots and releases
// containers left idle. Its Dispatcher is the JobManager's
// (appmaster.Dispatcher) plus submission, supervisors and StopSession.
package session

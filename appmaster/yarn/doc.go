// Package yarn is the ApplicationMaster of a per-job application on YARN:
// the JobManager of its one job, registered with the ResourceManager, and the
// ContainerDriver that keeps the job's TaskManager containers running. A
// session's ApplicationMaster (appmaster/session) reuses its pieces.
package yarn

// Package yarn is the per-job ApplicationMaster on YARN: the process YARN
// starts in the application's first container. It hosts the JobManager
// (package appmaster), registers with the ResourceManager and finishes the
// application with its final status, publishes the REST address as the
// tracking URL, and keeps enough TaskManager containers running through a
// ContainerDriver that asks the ResourceManager for containers and launches
// the job binary in them in the TaskManager role. The Hadoop protocols
// themselves are in floe/internal/hadoop/yarn (imported as yarnrpc).
//
// appmaster/session reuses the ContainerDriver and the start and finish
// helpers for a session's pool of containers.
package yarn

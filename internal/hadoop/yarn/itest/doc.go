// Package itest holds the programs the YARN integration tests run in
// containers: am is an ApplicationMaster in Go, worker a container
// process. The tests build them with CGO_ENABLED=0 and localize them from
// HDFS. Settings reach them through environment variables (Env*).
package itest

// Environment variables the integration tests set for am and worker.
const (
	// EnvMode is "work" (ask for containers, run workers, finish) or
	// "sleep" (register and heartbeat until killed).
	EnvMode = "FLOE_ITEST_MODE"
	// EnvWorkers is how many worker containers the AM asks for.
	EnvWorkers = "FLOE_ITEST_WORKERS"
	// EnvWorkerResource is the worker binary's LocalResourceProto,
	// marshalled and base64-encoded.
	EnvWorkerResource = "FLOE_ITEST_WORKER_RESOURCE"
	// EnvOut is the HDFS directory workers write their files to.
	EnvOut = "FLOE_ITEST_OUT"
)

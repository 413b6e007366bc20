// Package floepb holds floe's own gRPC protocols between its processes: the
// control plane (JobManager and TaskManager services: registration,
// heartbeats, deployment, checkpoint acknowledgements), the data plane
// (credit-based partition streams of Arrow record batches and in-band
// events) and a session's Dispatcher and Supervisor services. It is
// generated from proto/floe (make proto-floe) and is not edited by hand.
package floepb

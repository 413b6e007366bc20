// Package yarn speaks YARN's three protocols over Hadoop IPC, in pure Go.
//
//   - Client: ApplicationClientProtocol, what `floe run` and `floe yarn-info`
//     use to create, submit, watch, list and kill applications and to read
//     cluster metrics and nodes.
//   - AMRMClient: ApplicationMasterProtocol, the ApplicationMaster's link to
//     the ResourceManager's scheduler (register, allocate, finish). It
//     authenticates with the AMRMToken from the container's token file, also
//     on clusters without Kerberos, and takes rolled-over AMRMTokens from
//     allocate responses for its next connections.
//   - NMClient: ContainerManagementProtocol, starting, stopping and querying
//     containers on NodeManagers, each with that node's NMToken.
//
// With ResourceManager HA (yarn.resourcemanager.ha.enabled), Client and
// AMRMClient are given every RM of ha.rm-ids, in order, and the failover
// retries of conf.RMFailover: a connection error, a timeout or a
// StandbyException moves the call to the next RM; when none answers, the
// error names them all. The AMRMToken is chosen by kind, not by service
// (Hadoop's ClientRMProxy sets an HA token's service to the comma-joined
// scheduler addresses; the RMs check only the token), and the new active RM
// accepts it because its master key is in the RM state store. After a
// failover the new RM answers allocate with
// ApplicationMasterNotRegisteredException: AM registers again, resends its
// outstanding requests and unconfirmed releases (Allocator.Resync) and keeps
// its containers.
//
// The AM's bookkeeping of outstanding container requests is Allocator, a
// state machine without I/O (in the style of etcd's raft): it builds each
// AllocateRequest and digests each AllocateResponse. AM ties the three
// together for an ApplicationMaster's heartbeat loop, which its caller runs.
package yarn

import "errors"

// Protocol names as the servers know them.
const (
	ProtocolApplicationClient   = "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB"
	ProtocolApplicationMaster   = "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB"
	ProtocolContainerManagement = "org.apache.hadoop.yarn.api.ContainerManagementProtocolPB"
)

// Sentinel errors.
var (
	// ErrBadID means a YARN id string could not be parsed.
	ErrBadID = errors.New("yarn: malformed id")
	// ErrNoToken means a needed token (AMRMToken, NMToken) is missing.
	ErrNoToken = errors.New("yarn: token missing")
	// ErrRequest means a container request is invalid.
	ErrRequest = errors.New("yarn: invalid container request")
	// ErrContainer means a NodeManager refused a container operation.
	ErrContainer = errors.New("yarn: container operation failed")
	// ErrNotUnregistered means the RM did not confirm the AM's finish.
	ErrNotUnregistered = errors.New("yarn: application master not unregistered")
	// ErrUnknownApplication means the RM does not know the application
	// (ApplicationNotFoundException).
	ErrUnknownApplication = errors.New("yarn: unknown application")
)

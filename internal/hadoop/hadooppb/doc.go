// Package hadooppb holds the protobuf messages floe exchanges with Hadoop:
// the IPC connection header and SASL, and the YARN client, ApplicationMaster
// and container-management protocols. The .proto files in proto/hadoop are
// floe's own, trimmed to what it uses with Hadoop's field numbers; this
// package is generated from them (make proto) and is not edited by hand.
package hadooppb

// Package token reads and writes Hadoop credentials: the token files that
// YARN hands to containers (HADOOP_TOKEN_FILE_LOCATION, "container_tokens")
// and the bytes of ContainerLaunchContext.tokens.
//
// The format is "HDTS", a version byte, then either version 0, Hadoop's
// Writable encoding (WritableUtils vints, Text strings), or version 1, a
// length-delimited CredentialsProto. Both are parsed; Marshal writes either.
// Parsing is defensive: it never allocates more than the input's length and
// returns ErrFormat for anything malformed.
package token

import "errors"

// Well-known token kinds.
const (
	KindAMRMToken      = "YARN_AM_RM_TOKEN"
	KindNMToken        = "NMToken"
	KindContainerToken = "ContainerToken"
	KindHDFSDelegation = "HDFS_DELEGATION_TOKEN"
)

// EnvTokenFile names the environment variable YARN sets in containers.
const EnvTokenFile = "HADOOP_TOKEN_FILE_LOCATION"

// Sentinel errors.
var (
	// ErrFormat means the bytes are not a valid token file.
	ErrFormat = errors.New("token: malformed token file")
	// ErrNotFound means no token of the wanted kind or service is present.
	ErrNotFound = errors.New("token: not found")
	// ErrNoTokenFile means HADOOP_TOKEN_FILE_LOCATION is unset.
	ErrNoTokenFile = errors.New("token: " + EnvTokenFile + " is not set")
)

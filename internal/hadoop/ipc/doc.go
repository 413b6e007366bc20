// Package ipc is a Hadoop IPC (RPC version 9) client for the protobuf RPC
// engine, in pure Go.
//
// # Model
//
// A connection starts with the preamble "hrpc", version 9, service class 0
// and the auth protocol (0 none, 0xDF SASL). With SASL, the client and server
// exchange RpcSaslProto messages under call id -33 until SUCCESS (see
// negotiation.go, a pure state machine). The client then sends an
// IpcConnectionContextProto (call id -3) naming the protocol and, for SIMPLE
// authentication, the user. After that every request is one frame: a 4-byte
// big-endian length, then varint-delimited RpcRequestHeaderProto,
// RequestHeaderProto and the request message. Responses carry the call id
// back, so many calls are in flight on one connection; one reader goroutine
// per connection hands each response to its caller. While calls wait, a
// ping (call id -4) goes out every ping interval.
//
// A Client owns at most one live connection to one of several addresses (a
// ResourceManager HA pair, say). It dials lazily, redials after an idle
// period or a broken connection, retries calls on network errors and
// StandbyException with backoff, and fails over to the next address. Every
// wait is bounded: dial and handshake by the connect timeout, calls by the
// caller's context and the call timeout.
//
// Errors from the server come back as *RemoteError with the Java exception
// class and message. Authentication is pluggable (Authenticator): Simple and
// Token (DIGEST-MD5) are here; Kerberos (GSSAPI) will be another
// Authenticator.
package ipc

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them, a
// *RemoteError, a context error or a network error.
var (
	// ErrClosed means the client or connection was closed.
	ErrClosed = errors.New("ipc: connection closed")
	// ErrMalformed means the server sent bytes that are not a valid frame.
	ErrMalformed = errors.New("ipc: malformed frame")
	// ErrFrameTooLarge means a response exceeded the maximum length.
	ErrFrameTooLarge = errors.New("ipc: response frame too large")
	// ErrAuth means authentication with the server failed.
	ErrAuth = errors.New("ipc: authentication failed")
	// ErrNoAddress means the client was given no server address.
	ErrNoAddress = errors.New("ipc: no server address")
	// ErrExhausted means a call used up its attempts on errors worth
	// retrying (connection errors, StandbyException): no server answered.
	ErrExhausted = errors.New("ipc: no server answered")
)

package ipc

import (
	"errors"
	"strings"

	"floe/internal/hadoop/hadooppb"
)

// RemoteError is an exception thrown by the server, as the response header
// reports it. Use errors.As to get at it.
type RemoteError struct {
	// Class is the Java exception class, e.g.
	// "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException".
	Class string
	// Message is the server's message; it may hold a stack trace.
	Message string
	// Code is the RPC error code, e.g. ERROR_APPLICATION.
	Code hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto
	// Fatal is true when the server closed the connection after it.
	Fatal bool
}

func (e *RemoteError) Error() string {
	msg := e.Message
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if msg == "" {
		return "ipc: remote " + e.Class
	}
	return "ipc: remote " + e.Class + ": " + strings.TrimSpace(msg)
}

// SimpleClass is the class name without its package.
func (e *RemoteError) SimpleClass() string {
	return e.Class[strings.LastIndexByte(e.Class, '.')+1:]
}

// IsRemote reports whether err is (or wraps) a RemoteError whose class is
// class, given fully qualified or as its simple name.
func IsRemote(err error, class string) bool {
	var re *RemoteError
	if !errors.As(err, &re) {
		return false
	}
	return re.Class == class || re.SimpleClass() == class
}

// Exception classes the client treats specially.
const (
	classStandby   = "org.apache.hadoop.ipc.StandbyException"
	classRetriable = "org.apache.hadoop.ipc.RetriableException"
)

package rpc

import "google.golang.org/grpc"

// The data plane's transport settings: a TaskManager's connections to other
// TaskManagers carry record batches of about 100 KB back to back. gRPC's
// defaults (a 64 KB stream window, grown by its bandwidth estimate, and
// 32 KB socket buffers) make a producer wait for window updates in the
// middle of a batch and write it in many small syscalls.
const (
	// DataStreamWindow is the flow-control window of one data stream: the
	// consumer's credit (a few batches) fits in it, so credit-based flow
	// control, not HTTP/2's, is what holds a producer back.
	DataStreamWindow = 8 << 20
	// DataConnWindow is the window of one connection, shared by its streams.
	DataConnWindow = 16 << 20
	// dataSocketBuffer is what gRPC buffers per connection before a write
	// syscall, and reads per syscall.
	dataSocketBuffer = 256 << 10
)

// DataDialOptions are DialOptions(secret) for a connection of the data
// plane (a consumer TaskManager to a producer TaskManager).
func DataDialOptions(secret string) []grpc.DialOption {
	return append(DialOptions(secret),
		grpc.WithInitialWindowSize(DataStreamWindow),
		grpc.WithInitialConnWindowSize(DataConnWindow),
		grpc.WithReadBufferSize(dataSocketBuffer),
		grpc.WithWriteBufferSize(dataSocketBuffer))
}

// DataServerOptions are ServerOptions(secret) for a server that serves the
// data plane (a TaskManager's).
func DataServerOptions(secret string) []grpc.ServerOption {
	return append(ServerOptions(secret),
		grpc.InitialWindowSize(DataStreamWindow),
		grpc.InitialConnWindowSize(DataConnWindow),
		grpc.ReadBufferSize(dataSocketBuffer),
		grpc.WriteBufferSize(dataSocketBuffer))
}

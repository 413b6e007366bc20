package rpc

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// AttemptHeader carries the JobManager's attempt number, the fencing token
// of an ApplicationMaster attempt (internal/failover): on every call the
// JobManager makes to a TaskManager, and in the header of its answer to a
// TaskManager's registration. A JobManager outside YARN sends none (attempt 0).
const AttemptHeader = "floe-jobmanager-attempt"

// WithAttempt is a dial option that stamps every unary call with attempt.
func WithAttempt(attempt int32) grpc.DialOption {
	v := strconv.Itoa(int(attempt))
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, AttemptHeader, v), method, req, reply, cc, opts...)
	})
}

// IncomingAttempt is the attempt number a call carries (0 without one).
func IncomingAttempt(ctx context.Context) int32 {
	md, _ := metadata.FromIncomingContext(ctx)
	return AttemptOf(md)
}

// AttemptOf reads the attempt number from metadata (0 without one).
func AttemptOf(md metadata.MD) int32 {
	vs := md.Get(AttemptHeader)
	if len(vs) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(vs[len(vs)-1], 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

package rpc

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc/floepb"
)

type jm struct {
	floepb.UnimplementedJobManagerServer
}

func (jm) Heartbeat(context.Context, *floepb.HeartbeatRequest) (*floepb.HeartbeatResponse, error) {
	return &floepb.HeartbeatResponse{}, nil
}

func TestSecretIsChecked(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions("right")...)
	floepb.RegisterJobManagerServer(srv, jm{})
	go srv.Serve(lis)
	defer srv.Stop()

	for _, tc := range []struct {
		secret string
		want   codes.Code
	}{{"right", codes.OK}, {"wrong", codes.Unauthenticated}, {"", codes.Unauthenticated}} {
		conn, err := grpc.NewClient(lis.Addr().String(), DialOptions(tc.secret)...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = floepb.NewJobManagerClient(conn).Heartbeat(context.Background(), &floepb.HeartbeatRequest{})
		if got := status.Code(err); got != tc.want {
			t.Errorf("secret %q: code %v, want %v (%v)", tc.secret, got, tc.want, err)
		}
		conn.Close()
	}
}

package rpc

import (
	"testing"

	"google.golang.org/grpc/mem"
)

var _ mem.BufferPool = sharedPool

// gRPC's buffers come in classes from 512 B to 16 MiB; beyond, they are
// allocated to length.
func TestBufferPoolClasses(t *testing.T) {
	for _, tt := range []struct{ n, wantCap int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {4096, 4096}, {70_000, 1 << 17},
		{1 << 24, 1 << 24}, {1<<24 + 1, 1<<24 + 1},
	} {
		b := sharedPool.Get(tt.n)
		if len(*b) != tt.n || cap(*b) != tt.wantCap {
			t.Fatalf("Get(%d): len %d cap %d, want cap %d", tt.n, len(*b), cap(*b), tt.wantCap)
		}
		*b = (*b)[:0] // gRPC may give back a prefix
		sharedPool.Put(b)
	}
}

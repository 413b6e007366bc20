package rpc

import "testing"

func TestBufferPoolClasses(t *testing.T) {
	p := &bufferPool{}
	for _, n := range []int{0, 1, 512, 513, 4096, 70_000, 1 << 24, 1<<24 + 1} {
		b := p.Get(n)
		if len(*b) != n || cap(*b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		if c := class(n); c >= 0 && cap(*b) != 1<<(c+minClassBits) {
			t.Fatalf("Get(%d): cap %d is not its class size", n, cap(*b))
		}
		(*b) = (*b)[:0] // gRPC may give back a prefix
		p.Put(b)
	}
	// A reused buffer keeps its capacity and takes the asked length.
	b := p.Get(600)
	p.Put(b)
	if b2 := p.Get(700); len(*b2) != 700 || cap(*b2) != 1024 {
		t.Fatalf("reused: len %d cap %d", len(*b2), cap(*b2))
	}
	// Foreign buffers are dropped, not pooled.
	odd := make([]byte, 1000)
	p.Put(&odd)
}

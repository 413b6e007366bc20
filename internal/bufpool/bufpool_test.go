package bufpool

import (
	"testing"
)

// Each request gets its length and its class's capacity; requests beyond the
// largest class get exactly their length.
func TestClasses(t *testing.T) {
	tests := []struct {
		min, max int
		n        int
		wantCap  int
	}{
		{9, 24, 0, 512},
		{9, 24, 1, 512},
		{9, 24, 512, 512},
		{9, 24, 513, 1024},
		{9, 24, 4096, 4096},
		{9, 24, 70_000, 1 << 17},
		{9, 24, 1 << 24, 1 << 24},
		{9, 24, 1<<24 + 1, 1<<24 + 1}, // beyond the largest class
		{6, 31, 0, 64},
		{6, 31, 65, 128},
		{6, 31, 1<<24 + 1, 1 << 25},
	}
	for _, tt := range tests {
		p := New(tt.min, tt.max)
		b := p.Get(tt.n)
		if len(*b) != tt.n || cap(*b) != tt.wantCap {
			t.Errorf("New(%d, %d).Get(%d): len %d cap %d, want len %d cap %d", tt.min, tt.max, tt.n, len(*b), cap(*b), tt.n, tt.wantCap)
		}
		*b = (*b)[:0] // gRPC may give back a prefix
		p.Put(b)
	}
}

// A reused buffer keeps its capacity, takes the asked length and keeps its
// contents (the pool does not zero); foreign buffers are not pooled.
func TestReuse(t *testing.T) {
	p := New(9, 24)
	b := p.Get(600)
	(*b)[0] = 42
	p.Put(b)
	// sync.Pool may drop an item (race detector, GC): look a few times.
	reused := false
	for range 100 {
		b2 := p.Get(700)
		if len(*b2) != 700 || cap(*b2) != 1024 {
			t.Fatalf("Get(700): len %d cap %d, want 700 and 1024", len(*b2), cap(*b2))
		}
		if b2 == b {
			reused = true
			if (*b2)[0] != 42 {
				t.Fatal("reused buffer was zeroed")
			}
			break
		}
		(*b2)[0] = 42
		p.Put(b2)
		b = b2
	}
	if !reused {
		t.Fatal("no buffer was ever reused")
	}
	odd := make([]byte, 1000)
	p.Put(&odd)
	for range 10 {
		if got := p.Get(1000); cap(*got) != 1024 {
			t.Fatalf("foreign buffer of cap %d came back from the pool", cap(*got))
		}
	}
}

func TestNewRejectsBadClasses(t *testing.T) {
	for _, c := range [][2]int{{-1, 4}, {10, 9}, {6, 32}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d, %d) did not panic", c[0], c[1])
				}
			}()
			New(c[0], c[1])
		}()
	}
}

func BenchmarkGetPut(b *testing.B) {
	p := New(9, 24)
	for b.Loop() {
		p.Put(p.Get(32 << 10))
	}
}

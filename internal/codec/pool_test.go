package codec

import "testing"

// Arrow's allocator contract: memory comes zeroed, also when the pool hands
// back a buffer that was written to, and Reallocate zeroes what it adds.
func TestPoolZeroes(t *testing.T) {
	for range 50 { // sync.Pool may drop buffers; dirty many
		b := Pool.Allocate(100)
		for i := range b {
			b[i] = 0xff
		}
		Pool.Free(b)
	}
	for range 50 {
		b := Pool.Allocate(100)
		if len(b) != 100 || cap(b) != 128 {
			t.Fatalf("Allocate(100): len %d cap %d, want 100 and 128", len(b), cap(b))
		}
		for i, v := range b {
			if v != 0 {
				t.Fatalf("Allocate(100)[%d] = %#x, want 0", i, v)
			}
		}
		b[99] = 1
		b = Pool.Reallocate(120, b[:100])
		if len(b) != 120 || b[99] != 1 || b[100] != 0 {
			t.Fatalf("Reallocate(120): len %d, [99]=%d [100]=%d", len(b), b[99], b[100])
		}
		for i := range b {
			b[i] = 0xff
		}
		b = Pool.Reallocate(300, b)
		if len(b) != 300 || b[119] != 0xff || b[120] != 0 || b[299] != 0 {
			t.Fatalf("Reallocate(300): len %d, [119]=%#x [120]=%#x [299]=%#x", len(b), b[119], b[120], b[299])
		}
		Pool.Free(b)
	}
}

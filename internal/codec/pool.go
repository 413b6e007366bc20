package codec

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// poolAllocator recycles Arrow buffers through size-classed pools, so that
// encoding and decoding a stream of batches does not allocate a new buffer
// for every column of every batch. Memory is zeroed on Allocate, as Go's
// allocator would give it. Safe for concurrent use.
type poolAllocator struct {
	pools [32]sync.Pool // class c holds slices of capacity 1<<c
}

// Pool is the process's recycling allocator for batch buffers.
var Pool memory.Allocator = &poolAllocator{}

const minClass = 6 // 64 bytes

func class(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

func (p *poolAllocator) Allocate(n int) []byte {
	c := class(n)
	if c >= len(p.pools) {
		return make([]byte, n)
	}
	if v := p.pools[c].Get(); v != nil {
		b := (*v.(*[]byte))[:n]
		clear(b)
		return b
	}
	return make([]byte, n, 1<<c)
}

func (p *poolAllocator) Reallocate(n int, b []byte) []byte {
	if n <= cap(b) {
		old := len(b)
		b = b[:n]
		if n > old {
			clear(b[old:])
		}
		return b
	}
	nb := p.Allocate(n)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *poolAllocator) Free(b []byte) {
	c := class(cap(b))
	if c >= len(p.pools) || cap(b) != 1<<c {
		return // not one of ours: leave it to the GC
	}
	b = b[:cap(b)]
	p.pools[c].Put(&b)
}

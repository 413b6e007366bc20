package codec

import (
	"github.com/apache/arrow/go/v17/arrow/memory"

	"floe/internal/bufpool"
)

// poolAllocator is Arrow's allocator over a bufpool.Pool, so that encoding
// and decoding a stream of batches does not allocate a new buffer for every
// column of every batch. Memory is zeroed on Allocate, as Go's allocator
// would give it and as Arrow expects. Safe for concurrent use.
type poolAllocator struct {
	pool *bufpool.Pool
}

// Pool is the process's recycling allocator for batch buffers: classes from
// 64 bytes to 2 GiB.
var Pool memory.Allocator = &poolAllocator{pool: arrowBufs}

// arrowBufs holds the buffers of Pool, and the column buffers a Writer
// fills itself (encodeDirect).
var arrowBufs = bufpool.New(6, 31)

func (p *poolAllocator) Allocate(n int) []byte {
	b := *p.pool.Get(n)
	clear(b)
	return b
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

func (p *poolAllocator) Free(b []byte) { p.pool.Put(&b) }

// Package bufpool recycles byte slices in power-of-two size classes, so that
// a stream of messages or batches does not allocate a new buffer for each.
// It is the one buffer pool of the process's data plane: gRPC's clients and
// servers use a Pool as their mem.BufferPool (internal/rpc), and Arrow
// batches are encoded and decoded in memory from one (internal/codec).
//
// A Pool hands out buffers as they were left: it never zeroes. A user that
// needs zeroed memory, as Arrow's allocator contract does, clears what it
// gets; gRPC reads a message's bytes into the length it asked for, so it
// never sees old contents and does not pay for clearing.
package bufpool

import (
	"fmt"
	"math/bits"
	"sync"
)

// Pool holds buffers of capacity 1<<c for each class c from its smallest to
// its largest; larger requests are allocated and left to the GC, and so are
// buffers given back that are not of a class's exact capacity. Safe for
// concurrent use.
type Pool struct {
	minBits, maxBits int
	classes          [maxClassBits + 1]sync.Pool // by class; below minBits unused
}

// maxClassBits bounds the largest class a Pool can have (2 GiB).
const maxClassBits = 31

// New returns a pool whose classes go from 1<<minBits to 1<<maxBits bytes.
func New(minBits, maxBits int) *Pool {
	if minBits < 0 || minBits > maxBits || maxBits > maxClassBits {
		panic(fmt.Sprintf("bufpool: classes 1<<%d to 1<<%d out of range 1 to 1<<%d", minBits, maxBits, maxClassBits))
	}
	return &Pool{minBits: minBits, maxBits: maxBits}
}

// class is the log2 of the smallest class holding n bytes, or -1 when n is
// larger than the largest class.
func (p *Pool) class(n int) int {
	if n <= 1<<p.minBits {
		return p.minBits
	}
	c := bits.Len(uint(n - 1))
	if c > p.maxBits {
		return -1
	}
	return c
}

// Get returns a buffer of length n, with whatever contents it held before.
// Its capacity is n's class size when n fits in a class.
func (p *Pool) Get(n int) *[]byte {
	c := p.class(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if bp, ok := p.classes[c].Get().(*[]byte); ok {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put gives a buffer back for reuse; its length does not matter. The caller
// must not use it afterwards.
func (p *Pool) Put(bp *[]byte) {
	n := cap(*bp)
	c := p.class(n)
	if c < 0 || n != 1<<c {
		return // not one of ours: leave it to the GC
	}
	*bp = (*bp)[:n]
	p.classes[c].Put(bp)
}

// Messages is the process's pool of whole data-plane messages: gRPC's
// clients and servers read frames into its buffers (internal/rpc), the
// record writers encode each batch's payload into one (internal/codec), and
// a payload goes back to it once written to the socket or decoded.
// Classes from 512 bytes to 16 MiB; larger messages are left to the GC.
var Messages = New(9, 24)

package rpc

import (
	"math/bits"
	"sync"
)

// bufferPool is the buffer pool of floe's gRPC clients and servers. gRPC's
// default pool zeroes every buffer it hands out; on the data plane, where
// every Arrow batch passes through one, that costs about 7% of a query's CPU.
// gRPC reads a message's bytes into the buffer up to the length it asked
// for, so the old contents are never seen: this pool does not zero.
// Buffers come in power-of-two classes from 512 bytes to 16 MiB; larger ones
// are allocated and dropped. Safe for concurrent use.
type bufferPool struct {
	classes [numClasses]sync.Pool
}

const (
	minClassBits = 9  // 512 B
	maxClassBits = 24 // 16 MiB
	numClasses   = maxClassBits - minClassBits + 1
)

var sharedPool = &bufferPool{}

// class is the index of the smallest class holding n bytes, or -1.
func class(n int) int {
	if n <= 1<<minClassBits {
		return 0
	}
	b := bits.Len(uint(n - 1))
	if b > maxClassBits {
		return -1
	}
	return b - minClassBits
}

func (p *bufferPool) Get(length int) *[]byte {
	c := class(length)
	if c < 0 {
		b := make([]byte, length)
		return &b
	}
	if bp, ok := p.classes[c].Get().(*[]byte); ok {
		*bp = (*bp)[:length]
		return bp
	}
	b := make([]byte, length, 1<<(c+minClassBits))
	return &b
}

func (p *bufferPool) Put(bp *[]byte) {
	n := cap(*bp)
	c := class(n)
	if c < 0 || n != 1<<(c+minClassBits) {
		return // not one of ours
	}
	*bp = (*bp)[:n]
	p.classes[c].Put(bp)
}

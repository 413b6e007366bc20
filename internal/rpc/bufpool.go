package rpc

import "floe/internal/bufpool"

// sharedPool is the buffer pool of floe's gRPC clients and servers. gRPC's
// default pool zeroes every buffer it hands out; on the data plane, where
// every Arrow batch passes through one, that costs about 7% of a query's CPU.
// gRPC reads a message's bytes into the buffer up to the length it asked
// for, so the old contents are never seen: bufpool does not zero. Buffers
// come in power-of-two classes from 512 bytes to 16 MiB; larger ones are
// allocated and dropped.
var sharedPool = bufpool.Messages

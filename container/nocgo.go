//go:build !cgo

package container

// cgoEnabled: pebble allocates its memtables and caches on the Go heap.
const cgoEnabled = false

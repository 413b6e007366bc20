//go:build cgo

package container

// cgoEnabled: pebble allocates its memtables and caches with C's malloc.
const cgoEnabled = true

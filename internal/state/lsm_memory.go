package state

import (
	"fmt"
	"strconv"
	"strings"

	"floe/config"
	"floe/internal/spill"
)

// Configuration keys of the pebble backend's memory, after Flink's
// state.backend.rocksdb.memory.* (also in config's registry).
const (
	// KeyMemoryManaged (default true): a store's memtables and block
	// cache come out of the slot's managed memory
	// (taskmanager.memory.managed.size split among the slots).
	KeyMemoryManaged = config.PebbleMemoryManaged
	// KeyMemoryFixedPerSlot, when set, is the store's memory instead of
	// the managed share (Flink's size syntax).
	KeyMemoryFixedPerSlot = config.PebbleMemoryFixedPerSlot
	// KeyMemoryWriteBufferRatio is the share of the store's memory that
	// its memtables take (default 0.5); the block cache has the rest.
	KeyMemoryWriteBufferRatio = config.PebbleMemoryWriteBufferRatio
)

// Memory bounds a pebble store's own memory: its memtables and its block
// cache (the data pebble keeps in memory; what is on disk is not counted).
// Each table's cache of decoded values in front of the store takes at
// most an eighth of Total besides (by its entries' estimated size).
type Memory struct {
	// Total is the bytes of the memtables and the block cache together;
	// 0 keeps the defaults of a store without a budget (lsmDefaultMemory).
	Total int64
	// WriteBufferRatio is the share of Total for the memtables (0: 0.5).
	WriteBufferRatio float64
}

// lsmDefaultMemory is a store's memory without a budget (a backend built
// outside a TaskManager): a 32 MiB block cache and two 4 MiB memtables.
var lsmDefaultMemory = Memory{Total: 40 << 20, WriteBufferRatio: 0.2}

// memTables is how many memtables a store may hold: the one being written
// and one being flushed (pebble's MemTableStopWritesThreshold).
const memTables = 2

// Share is one of n equal shares of m, for n stores of one slot (at least
// 2 MiB each: pebble's floor of a memtable and a cache). A Memory without a
// budget stays without one.
func (m Memory) Share(n int) Memory {
	if m.Total <= 0 || n <= 1 {
		return m
	}
	m.Total = max(m.Total/int64(n), 2<<20)
	return m
}

// total is Total, or the defaults' when unset.
func (m Memory) total() int64 {
	if m.Total <= 0 {
		return lsmDefaultMemory.Total
	}
	return m.Total
}

// sizes are the block cache's size and the size of one memtable.
func (m Memory) sizes() (cache, memTable int64) {
	if m.Total <= 0 {
		m = lsmDefaultMemory
	}
	r := m.WriteBufferRatio
	if r <= 0 || r >= 1 {
		r = 0.5
	}
	w := int64(float64(m.Total) * r)
	// pebble's floor for a memtable; a cache below 1 MiB would not hold
	// the index blocks of a few files.
	memTable = max(w/memTables, 1<<20)
	cache = max(m.Total-w, 1<<20)
	return cache, memTable
}

// MemoryFromConfig is the memory of one store of a task whose slot has
// managed bytes of managed memory (0: unknown, then the TaskManager's
// managed memory of c), from the state.backend.pebble.memory.* keys.
func MemoryFromConfig(c config.Config, managed int64) (Memory, error) {
	var m Memory
	var err error
	if m.WriteBufferRatio, err = ratio(c, KeyMemoryWriteBufferRatio, 0.5); err != nil {
		return m, err
	}
	if _, ok := c.Lookup(KeyMemoryFixedPerSlot); ok {
		if m.Total, err = c.MemoryBytes(KeyMemoryFixedPerSlot, 0); err != nil {
			return m, err
		}
		if m.Total < 2<<20 {
			return m, fmt.Errorf("%w: %s=%q: want at least 2mb", config.ErrInvalid, KeyMemoryFixedPerSlot, c.String(KeyMemoryFixedPerSlot, ""))
		}
		return m, nil
	}
	on, err := c.Bool(KeyMemoryManaged, true)
	if err != nil || !on {
		return Memory{}, err
	}
	if managed <= 0 {
		if managed, err = spill.ManagedMemory(c); err != nil {
			return m, err
		}
	}
	m.Total = max(managed, 2<<20)
	return m, nil
}

// ratio reads a fraction strictly between 0 and 1.
func ratio(c config.Config, key string, def float64) (float64, error) {
	v, ok := c.Lookup(key)
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 || f >= 1 {
		return 0, fmt.Errorf("%w: %s=%q: want a fraction between 0 and 1 (e.g. 0.5)", config.ErrInvalid, key, v)
	}
	return f, nil
}

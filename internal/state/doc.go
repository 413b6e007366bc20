// Package state holds the keyed state of operator subtasks, partitioned by
// key group so that a snapshot taken at one parallelism can be restored at
// another. Two backends keep it: the heap (Go maps, the default) and an
// embedded LSM store (pebble, on local disk, WithLSM) for state larger than
// memory. Both have the same tables with the same semantics and write the
// same snapshot blocks, so a snapshot of one restores into the other.
//
// A Backend belongs to one keyed operator subtask and is used by its task's
// goroutine only. Tables are typed (Value[K, T] returns the table of one
// state name); a Table's methods are the one path to either backend (on the
// heap a nil check and a map access). View is the immutable view a
// checkpoint takes at the barrier (heap: the maps copied, values shared
// copy-on-write; LSM: a pebble snapshot); Encode turns it into one byte
// block per key group, on another goroutine while the operator goes on;
// Restore loads the blocks of the key groups a subtask owns.
//
// Block format, per key group: a sequence of (uvarint name length, name,
// uvarint data length, data), data being one codec message (Arrow IPC with
// its schema and a CRC-32C) of the table's entries in that key group.
//
// LSM keys: key group (2 bytes, big-endian), table id (2 bytes, big-endian,
// in declaration order, not persisted), then the key in the self-delimiting
// binary encoding of rowCodec; values in rowCodec too. A key group is one
// contiguous key range, so a snapshot reads it with one bounded iterator.
package state

// Package state is the heap state backend: keyed state held in Go maps,
// partitioned by key group so that a snapshot taken at one parallelism can be
// restored at another.
//
// A Backend belongs to one keyed operator subtask and is used by its task's
// goroutine only. Tables are typed (Value[K, T] returns the table of one
// state name); Snapshot encodes every table into one byte block per key group
// synchronously, which is the immutable view a checkpoint uploads while the
// operator goes on; Restore loads the blocks of the key groups a subtask owns.
//
// Block format, per key group: a sequence of (uvarint name length, name,
// uvarint data length, data), data being one codec message (Arrow IPC with
// its schema and a CRC-32C) of the table's entries in that key group.
package state

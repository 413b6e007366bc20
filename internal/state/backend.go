package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"floe/internal/codec"
	"floe/internal/keygroup"
)

// ErrCorrupt is wrapped by errors about unreadable state blocks.
var ErrCorrupt = errors.New("state: corrupt snapshot")

// Backend holds the keyed state of one operator subtask.
type Backend[K comparable] struct {
	hasher keygroup.Hasher[K]
	maxPar int
	tables map[string]table[K]
	order  []string
}

type table[K comparable] interface {
	// clone returns a table holding the same entries (a shallow copy).
	clone() table[K]
	// encode appends the entries of each key group to blocks[kg - start].
	encode(groupOf func(K) int, start int, blocks []*bytes.Buffer, name string) error
	decode(data []byte) error
	len() int
}

// NewBackend returns an empty backend for keys of type K.
func NewBackend[K comparable](maxParallelism int) (*Backend[K], error) {
	h, err := keygroup.NewHasher[K]()
	if err != nil {
		return nil, err
	}
	return &Backend[K]{hasher: h, maxPar: maxParallelism, tables: map[string]table[K]{}}, nil
}

// KeyGroup returns k's key group.
func (b *Backend[K]) KeyGroup(k K) int { return keygroup.Of(b.hasher.Hash(k), b.maxPar) }

// Table is the state of one name: a value per key.
type Table[K comparable, T any] struct {
	m map[K]slot[T]
	// gen advances with every View: a value stored at an older gen may be
	// shared with a view, one stored at gen is the table's alone.
	gen uint64
	enc *codec.Codec[entry[K, T]]
}

type slot[T any] struct {
	v   T
	gen uint64
}

type entry[K comparable, T any] struct {
	Key   K
	Value T
}

// Value returns the table called name, creating it on first use. Asking for
// one name with two different value types is an error.
func Value[K comparable, T any](b *Backend[K], name string) (*Table[K, T], error) {
	if t, ok := b.tables[name]; ok {
		tt, ok := t.(*Table[K, T])
		if !ok {
			return nil, fmt.Errorf("state: %q holds another type than %T", name, *new(T))
		}
		return tt, nil
	}
	c, err := codec.For[entry[K, T]]()
	if err != nil {
		return nil, fmt.Errorf("state %q: %w", name, err)
	}
	t := &Table[K, T]{m: map[K]slot[T]{}, enc: c}
	b.tables[name] = t
	b.order = append(b.order, name)
	return t, nil
}

// Get returns k's value.
func (t *Table[K, T]) Get(k K) (T, bool) {
	s, ok := t.m[k]
	return s.v, ok
}

// GetOwned is Get, and tells whether the value is the table's alone: it was
// Put after the last View was taken, so no view shares it. The caller may
// then change what it refers to (a slice's elements) in place before it
// Puts it back; a value that is not owned must be copied first.
func (t *Table[K, T]) GetOwned(k K) (v T, ok, owned bool) {
	s, ok := t.m[k]
	return s.v, ok, ok && s.gen == t.gen
}

// Put sets k's value. The table takes v as its own (see GetOwned): a caller
// that changes values in place must Put copies, never a value that shares
// memory within its length with one it got as not owned.
func (t *Table[K, T]) Put(k K, v T) { t.m[k] = slot[T]{v, t.gen} }

// Delete removes k.
func (t *Table[K, T]) Delete(k K) { delete(t.m, k) }

// Range calls fn for every key and value until fn returns false. fn must
// not add keys (it may Put existing ones and Delete).
func (t *Table[K, T]) Range(fn func(K, T) bool) {
	for k, s := range t.m {
		if !fn(k, s.v) {
			return
		}
	}
}

// Len is the number of keys.
func (t *Table[K, T]) Len() int { return len(t.m) }

func (t *Table[K, T]) len() int { return len(t.m) }

// clone copies the map; the values are shared with the view from now on.
func (t *Table[K, T]) clone() table[K] {
	c := &Table[K, T]{m: maps.Clone(t.m), gen: t.gen, enc: t.enc}
	t.gen++
	return c
}

func (t *Table[K, T]) encode(groupOf func(K) int, start int, blocks []*bytes.Buffer, name string) error {
	groups := make([][]entry[K, T], len(blocks))
	for k, s := range t.m {
		g := groupOf(k) - start
		if g < 0 || g >= len(groups) {
			return fmt.Errorf("state %q: key in key group %d, outside this subtask's range", name, g+start)
		}
		groups[g] = append(groups[g], entry[K, T]{k, s.v})
	}
	var lenBuf [binary.MaxVarintLen64]byte
	for i, es := range groups {
		if len(es) == 0 {
			continue
		}
		msg, err := t.enc.NewWriter(nil).Append(es)
		if err != nil {
			return fmt.Errorf("state %q: %w", name, err)
		}
		b := blocks[i]
		b.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(name)))])
		b.WriteString(name)
		b.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(msg)))])
		b.Write(msg)
	}
	return nil
}

func (t *Table[K, T]) decode(data []byte) error {
	es, err := t.enc.NewReader(nil).Read(data, nil)
	if err != nil {
		return err
	}
	for _, e := range es {
		t.m[e.Key] = slot[T]{e.Value, t.gen}
	}
	return nil
}

// View is an immutable copy of a backend's tables, taken cheaply (maps are
// copied, values are not: a value must not be changed in place once stored,
// unless GetOwned says no view shares it). Encode may run on another
// goroutine while the operator goes on.
type View[K comparable] struct {
	b *Backend[K]
}

// View copies the tables.
func (b *Backend[K]) View() *View[K] {
	v := &Backend[K]{hasher: b.hasher, maxPar: b.maxPar, tables: make(map[string]table[K], len(b.tables)), order: slices.Clone(b.order)}
	for name, t := range b.tables {
		v.tables[name] = t.clone()
	}
	return &View[K]{b: v}
}

// Encode encodes the view's key groups [start, end) as Snapshot does.
func (v *View[K]) Encode(start, end int) ([][]byte, error) { return v.b.Snapshot(start, end) }

// Snapshot encodes the state of key groups [start, end) (the subtask's
// range) into one block per key group. The blocks do not share memory with
// the backend.
func (b *Backend[K]) Snapshot(start, end int) ([][]byte, error) {
	bufs := make([]*bytes.Buffer, end-start)
	for i := range bufs {
		bufs[i] = &bytes.Buffer{}
	}
	for _, name := range b.order {
		if err := b.tables[name].encode(b.KeyGroup, start, bufs, name); err != nil {
			return nil, err
		}
	}
	out := make([][]byte, len(bufs))
	for i, buf := range bufs {
		out[i] = buf.Bytes()
	}
	return out, nil
}

// Restorer creates the table for a state name found in a snapshot.
type Restorer[K comparable] func(b *Backend[K], name string) error

// Restore loads one key group's block. Tables must have been declared
// (Value) before, so their types are known; unknown names are errors unless
// allowUnknown.
func (b *Backend[K]) Restore(block []byte, allowUnknown bool) error {
	for len(block) > 0 {
		n, k := binary.Uvarint(block)
		if k <= 0 || uint64(len(block)-k) < n {
			return fmt.Errorf("%w: bad name length", ErrCorrupt)
		}
		name := string(block[k : k+int(n)])
		block = block[k+int(n):]
		m, k := binary.Uvarint(block)
		if k <= 0 || uint64(len(block)-k) < m {
			return fmt.Errorf("%w: bad data length of %q", ErrCorrupt, name)
		}
		data := block[k : k+int(m)]
		block = block[k+int(m):]
		t, ok := b.tables[name]
		if !ok {
			if allowUnknown {
				continue
			}
			return fmt.Errorf("state: snapshot holds state %q that this operator does not declare", name)
		}
		if err := t.decode(data); err != nil {
			return fmt.Errorf("%w: state %q: %w", ErrCorrupt, name, err)
		}
	}
	return nil
}

// Names lists the declared state names.
func (b *Backend[K]) Names() []string { return slices.Clone(b.order) }

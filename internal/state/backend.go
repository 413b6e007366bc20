package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"

	"floe/internal/codec"
	"floe/internal/keygroup"
)

// ErrCorrupt is wrapped by errors about unreadable state blocks.
var ErrCorrupt = errors.New("state: corrupt snapshot")

// Backend holds the keyed state of one operator subtask: on the heap (Go
// maps, the default) or in an LSM store on local disk (WithLSM). Both keep
// the same tables with the same semantics and write the same snapshot
// blocks, so a snapshot of one restores into the other.
type Backend[K comparable] struct {
	hasher keygroup.Hasher[K]
	maxPar int
	tables map[string]table[K]
	order  []string
	lsm    *lsmStore // nil: the heap
}

type table[K comparable] interface {
	// clone returns a table holding the same entries (a shallow copy; heap only).
	clone() table[K]
	// encode appends the entries of each key group to blocks[kg - start] (heap).
	encode(groupOf func(K) int, start int, blocks []*bytes.Buffer, name string) error
	// encodeGroup appends key group kg's entries, read from r (LSM).
	encodeGroup(r pebble.Reader, kg int, buf *bytes.Buffer, name string) error
	// flushLSM writes cached writes to the store (LSM; a no-op on the heap).
	flushLSM()
	decode(data []byte) error
	len() int
}

// Option configures a Backend.
type Option func(*options)

type options struct {
	lsmDir string
	mem    Memory
	log    zerolog.Logger
}

// WithLSM keeps the state in a pebble store in a new directory under dir
// (removed by Close) instead of on the heap.
func WithLSM(dir string) Option { return func(o *options) { o.lsmDir = dir } }

// WithMemory bounds the LSM store's memtables and block cache (without
// it, a 32 MiB cache and 4 MiB memtables).
func WithMemory(m Memory) Option { return func(o *options) { o.mem = m } }

// WithLogger is where the LSM store's messages go.
func WithLogger(log zerolog.Logger) Option { return func(o *options) { o.log = log } }

// NewBackend returns an empty backend for keys of type K.
func NewBackend[K comparable](maxParallelism int, opts ...Option) (*Backend[K], error) {
	o := options{log: zerolog.Nop()}
	for _, opt := range opts {
		opt(&o)
	}
	h, err := keygroup.NewHasher[K]()
	if err != nil {
		return nil, err
	}
	if maxParallelism > 1<<16 {
		return nil, fmt.Errorf("state: max parallelism %d above %d", maxParallelism, 1<<16)
	}
	b := &Backend[K]{hasher: h, maxPar: maxParallelism, tables: map[string]table[K]{}}
	if o.lsmDir != "" {
		if b.lsm, err = openLSM(o.lsmDir, o.mem, o.log); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Close releases the backend: an LSM store's files are removed once the
// views still being encoded are released too. The backend is not used after.
func (b *Backend[K]) Close() error {
	if b.lsm == nil {
		return nil
	}
	s := b.lsm
	b.lsm = nil
	return s.release()
}

// KeyGroup returns k's key group.
func (b *Backend[K]) KeyGroup(k K) int { return keygroup.Of(b.hasher.Hash(k), b.maxPar) }

// Table is the state of one name: a value per key.
//
// On the LSM backend a value is always owned: Get decodes a value of the
// table's own, or returns the one a bounded cache in front of the store
// holds (the value last Put or read, which no view shares: a view encodes
// the cached values when it is taken).
type Table[K comparable, T any] struct {
	m map[K]slot[T]
	// lsm, when set, holds the entries instead of m (the heap path stays
	// a nil check and a map access).
	lsm *lsmTable[K, T]
	// gen advances with every View: a value stored at an older gen may be
	// shared with a view, one stored at gen is the table's alone.
	gen uint64
	enc *codec.Codec[entry[K, T]]
	ttl *ttlHooks[K, T] // a state with a time-to-live (ttl.go), else nil
	// one: K has no size (a non-keyed stream's windows, NoKey), so the
	// table holds one entry at most, kept in z (set if zok) instead of m: a
	// Go map still hashes and probes a key of no size on every access.
	one bool
	zok bool
	z   slot[T]
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
	t := &Table[K, T]{m: map[K]slot[T]{}, enc: c, one: reflect.TypeFor[K]().Size() == 0}
	if b.lsm != nil {
		t.one = false
		if len(b.order) >= 0xfffe {
			return nil, fmt.Errorf("state %q: too many states", name)
		}
		if t.lsm, err = newLSMTable[K, T](b.lsm, uint16(len(b.order)+1), b.KeyGroup, b.maxPar); err != nil {
			return nil, fmt.Errorf("state %q: %w", name, err)
		}
		t.m = nil
	}
	b.tables[name] = t
	b.order = append(b.order, name)
	return t, nil
}

// Get returns k's value.
func (t *Table[K, T]) Get(k K) (T, bool) {
	if t.lsm != nil {
		return t.lsm.get(k)
	}
	if t.one {
		return t.z.v, t.zok
	}
	s, ok := t.m[k]
	return s.v, ok
}

// GetOwned is Get, and tells whether the value is the table's alone: it was
// Put after the last View was taken, so no view shares it. The caller may
// then change what it refers to (a slice's elements) in place before it
// Puts it back; a value that is not owned must be copied first.
func (t *Table[K, T]) GetOwned(k K) (v T, ok, owned bool) {
	if t.lsm != nil {
		v, ok = t.lsm.get(k)
		return v, ok, ok
	}
	if t.one {
		return t.z.v, t.zok, t.zok && t.z.gen == t.gen
	}
	s, ok := t.m[k]
	return s.v, ok, ok && s.gen == t.gen
}

// Put sets k's value. The table takes v as its own (see GetOwned): a caller
// that changes values in place must Put copies, never a value that shares
// memory within its length with one it got as not owned.
func (t *Table[K, T]) Put(k K, v T) {
	if t.lsm != nil {
		t.lsm.put(k, v)
		return
	}
	t.set(k, slot[T]{v, t.gen})
}

// set stores s at k on the heap.
func (t *Table[K, T]) set(k K, s slot[T]) {
	if t.one {
		t.z, t.zok = s, true
		return
	}
	t.m[k] = s
}

// del removes k on the heap.
func (t *Table[K, T]) del(k K) {
	if t.one {
		t.z, t.zok = slot[T]{}, false
		return
	}
	delete(t.m, k)
}

// each calls fn for every heap entry until fn returns false; fn may set
// and delete the key it is given.
func (t *Table[K, T]) each(fn func(K, slot[T]) bool) {
	if t.one {
		if t.zok {
			var k K
			fn(k, t.z)
		}
		return
	}
	for k, s := range t.m {
		if !fn(k, s) {
			return
		}
	}
}

// Changed is Put of a value GetOwned returned as owned and the caller only
// changed in place (elements of the same slice, the length unchanged). On
// the heap that value is already the table's, so Changed costs nothing; the
// LSM backend writes it as Put does.
func (t *Table[K, T]) Changed(k K, v T) {
	if t.lsm != nil {
		t.lsm.put(k, v)
	}
}

// Delete removes k.
func (t *Table[K, T]) Delete(k K) {
	if t.lsm != nil {
		t.lsm.delete(k)
		return
	}
	t.del(k)
}

// Range calls fn for every key and value until fn returns false. fn must
// not add keys (it may Put existing ones and Delete).
func (t *Table[K, T]) Range(fn func(K, T) bool) {
	if t.lsm != nil {
		t.lsm.rangeAll(fn)
		return
	}
	t.each(func(k K, s slot[T]) bool { return fn(k, s.v) })
}

// Len is the number of keys (on the LSM backend, a scan).
func (t *Table[K, T]) Len() int { return t.len() }

func (t *Table[K, T]) len() int {
	if t.lsm != nil {
		n := 0
		t.lsm.rangeAll(func(K, T) bool { n++; return true })
		return n
	}
	if t.one {
		if t.zok {
			return 1
		}
		return 0
	}
	return len(t.m)
}

// clone copies the map; the values are shared with the view from now on.
// (An LSM table's clone shares the store: it has no map.)
func (t *Table[K, T]) clone() table[K] {
	c := &Table[K, T]{m: maps.Clone(t.m), lsm: t.lsm, gen: t.gen, enc: t.enc, ttl: t.ttl.frozen(), one: t.one, zok: t.zok, z: t.z}
	t.gen++
	return c
}

func (t *Table[K, T]) encode(groupOf func(K) int, start int, blocks []*bytes.Buffer, name string) error {
	groups := make([][]entry[K, T], len(blocks))
	now := t.ttl.snapshotNow()
	var err error
	t.each(func(k K, s slot[T]) bool {
		g := groupOf(k) - start
		if g < 0 || g >= len(groups) {
			err = fmt.Errorf("state %q: key in key group %d, outside this subtask's range", name, g+start)
			return false
		}
		if v, ok := t.ttl.keep(s.v, now); ok { // expired entries stay out of snapshots
			groups[g] = append(groups[g], entry[K, T]{k, v})
		}
		return true
	})
	if err != nil {
		return err
	}
	for i, es := range groups {
		if err := t.appendBlock(blocks[i], es, name); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table[K, T]) decode(data []byte) error {
	es, err := t.enc.NewReader(nil).Read(data, nil)
	es, err = t.ttl.restored(data, es, err)
	if err != nil {
		return err
	}
	if t.lsm != nil {
		return t.lsm.load(es)
	}
	for _, e := range es {
		t.set(e.Key, slot[T]{e.Value, t.gen})
	}
	return nil
}

// View is an immutable copy of a backend's tables, taken cheaply: on the
// heap, maps are copied and values are not (a value must not be changed in
// place once stored, unless GetOwned says no view shares it); on the LSM
// backend, a pebble snapshot. Encode may run on another goroutine while the
// operator goes on; Release ends the view (the LSM store keeps its files
// until every view is released).
type View[K comparable] struct {
	b    *Backend[K]
	snap *pebble.Snapshot
	lsm  *lsmStore
}

// View copies the tables.
func (b *Backend[K]) View() *View[K] {
	if b.lsm != nil {
		b.lsm.retain()
		for _, t := range b.tables {
			t.flushLSM()
		}
		// The tables as of now (the task may declare more while the view is encoded).
		v := &Backend[K]{hasher: b.hasher, maxPar: b.maxPar, tables: maps.Clone(b.tables), order: slices.Clone(b.order)}
		for name, t := range v.tables {
			v.tables[name] = t.clone() // the store is shared; a TTL table keeps the view's time (ttl.go)
		}
		return &View[K]{b: v, snap: b.lsm.db.NewSnapshot(), lsm: b.lsm}
	}
	v := &Backend[K]{hasher: b.hasher, maxPar: b.maxPar, tables: make(map[string]table[K], len(b.tables)), order: slices.Clone(b.order)}
	for name, t := range b.tables {
		v.tables[name] = t.clone()
	}
	return &View[K]{b: v}
}

// Encode encodes the view's key groups [start, end) as Snapshot does.
func (v *View[K]) Encode(start, end int) ([][]byte, error) {
	if v.snap == nil {
		return v.b.Snapshot(start, end)
	}
	return collect(start, end, func(emit func(int, []byte) error) error { return v.EncodeTo(start, end, emit) })
}

// EncodeTo is Encode one key group at a time: it hands each key group's
// block of [start, end) to emit, in order (empty ones too); emit must not
// keep the block. On the LSM backend one key group is in memory at a time
// (a state larger than memory is written out as it is read); on the heap
// the view is in memory anyway and is encoded whole first.
func (v *View[K]) EncodeTo(start, end int, emit func(kg int, block []byte) error) error {
	if v.snap != nil {
		return v.b.encodeTo(v.snap, start, end, emit)
	}
	blocks, err := v.b.Snapshot(start, end)
	if err != nil {
		return err
	}
	for i, blk := range blocks {
		if err := emit(start+i, blk); err != nil {
			return err
		}
	}
	return nil
}

// Release ends the view; it is not encoded after.
func (v *View[K]) Release() error {
	if v.snap == nil {
		return nil
	}
	err := v.snap.Close()
	v.snap = nil
	if rerr := v.lsm.release(); err == nil {
		err = rerr
	}
	return err
}

// Snapshot encodes the state of key groups [start, end) (the subtask's
// range) into one block per key group. The blocks do not share memory with
// the backend.
func (b *Backend[K]) Snapshot(start, end int) ([][]byte, error) {
	if b.lsm != nil {
		v := b.View()
		blocks, err := v.Encode(start, end)
		if rerr := v.Release(); err == nil {
			err = rerr
		}
		return blocks, err
	}
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

// LocalDir picks the parent directory of subtask n's LSM store from dirs
// (config.Config.LocalDirs): subtasks take them in turn.
func LocalDir(dirs []string, n int) string {
	if len(dirs) == 0 {
		return os.TempDir()
	}
	return dirs[n%len(dirs)]
}

package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/rs/zerolog"
)

// lsmStore is one pebble database holding a backend's tables, in a
// directory of its own that is removed when the last user closes it: the
// backend, and every view a checkpoint still encodes.
//
// Keys: key group (2 bytes, big-endian), table id (2 bytes, big-endian),
// then the encoded key (rowCodec, self-delimiting). So a key group's
// entries are one contiguous range, and a table's within it too.
type lsmStore struct {
	db  *pebble.DB
	dir string // the database's: root/db, or where a restore put it
	// root holds dir and the local checkpoints of incremental checkpoints
	// (lsm_incremental.go); removed with the store.
	root string
	opts *pebble.Options // to reopen the database on a restore
	// cache is the block cache of the database and of the read-only
	// stores a restore or a savepoint opens beside it (one budget).
	cache *pebble.Cache
	// cacheBytes bounds each table's cache of decoded values (lsm.go).
	cacheBytes int64
	inc        incremental

	mu   sync.Mutex
	refs int // the backend and its open views
}

const lsmPrefix = 4 // key group + table id

// openLSM creates a store in a new directory under parent, its memtables
// and block cache sized by mem (lsm_memory.go).
func openLSM(parent string, mem Memory, log zerolog.Logger) (*lsmStore, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("state: pebble store under %s: %w", parent, err)
	}
	root, err := os.MkdirTemp(parent, "floe-state-")
	if err != nil {
		return nil, fmt.Errorf("state: pebble store under %s: %w", parent, err)
	}
	dir := root + "/db"
	cacheSize, memTable := mem.sizes()
	opts := lsmOptions(memTable, log)
	log.Debug().Str("dir", dir).Int64("block_cache", cacheSize).Int64("memtable", memTable).Msg("pebble store")
	s := &lsmStore{dir: dir, root: root, opts: opts, cache: pebble.NewCache(cacheSize), refs: 1, inc: newIncremental(),
		cacheBytes: mem.total() / lsmCacheShare}
	opts.Cache = s.cache
	if s.db, err = openDB(dir, opts); err != nil {
		s.cache.Unref()
		os.RemoveAll(root)
		return nil, err
	}
	return s, nil
}

// lsmOptions are a store's pebble options. They are runtime options only:
// a store's files open under any of them, so a checkpoint taken with
// earlier options restores with these.
func lsmOptions(memTable int64, log zerolog.Logger) *pebble.Options {
	opts := &pebble.Options{
		// The store is rebuilt from a checkpoint after a failure, never
		// from its own log or files: no write-ahead log, no fsync.
		DisableWAL:                  true,
		FS:                          lsmFS,
		Logger:                      pebbleLogger{log},
		MemTableSize:                uint64(memTable),
		MemTableStopWritesThreshold: memTables,
		// Updates spread over the whole key space make every L0 file
		// overlap all of the base level: compacting L0 at 8 sublevels
		// rather than pebble's 4 rewrites the base level half as often
		// (fewer bytes for the next incremental checkpoint), and writes
		// stall at 32 rather than 12, so a burst of updates does not stop
		// the task while compactions catch up (reads: more L0 files to
		// check, most ruled out by their bloom filters). A second
		// compaction may run when pebble sees a backlog.
		L0CompactionThreshold:      8,
		L0StopWritesThreshold:      32,
		CompactionConcurrencyRange: func() (int, int) { return 1, 2 },
	}
	// The levels' target file sizes stay pebble's (2 MiB in L0, doubling
	// per level down from the base level): larger files mean fewer hard
	// links at a checkpoint, but a compaction rewrites whole files, so
	// each checkpoint uploads more (docs/benchmarks.md, 2026-12-02).
	for i := range opts.Levels {
		// A point lookup of an absent key (a key's first access) skips
		// the files a bloom filter rules out; blocks stay uncompressed
		// (local, temporary files: CPU over disk space).
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	if lsmTune != nil {
		lsmTune(opts)
	}
	return opts
}

// lsmTune, when set (benchmarks), adjusts the options of new stores.
var lsmTune func(*pebble.Options)

// openDB opens the database in dir with opts (and their block cache).
func openDB(dir string, opts *pebble.Options) (*pebble.DB, error) {
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("state: open pebble store %s: %w", dir, err)
	}
	return db, nil
}

// openReadOnly opens the store files in dir read-only, sharing s's block
// cache (s may be nil: a heap backend restoring pebble files, which gets
// a small cache of its own).
func openReadOnly(s *lsmStore, dir string) (*pebble.DB, error) {
	opts := &pebble.Options{ReadOnly: true, Logger: pebbleLogger{zerolog.Nop()}}
	if s != nil {
		opts.Logger, opts.Cache = s.opts.Logger, s.cache
	} else {
		opts.CacheSize = 8 << 20
	}
	return pebble.Open(dir, opts)
}

// retain adds a user (a view).
func (s *lsmStore) retain() {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
}

// release drops a user; the last closes the database and removes its files.
func (s *lsmStore) release() error {
	s.mu.Lock()
	s.refs--
	last := s.refs == 0
	s.mu.Unlock()
	if !last {
		return nil
	}
	err := s.db.Close()
	s.cache.Unref() // after the database's, whose own reference it drops on Close
	if rerr := os.RemoveAll(s.root); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("state: close pebble store %s: %w", s.dir, err)
	}
	return nil
}

func appendPrefix(b []byte, kg int, id uint16) []byte {
	return append(b, byte(kg>>8), byte(kg), byte(id>>8), byte(id))
}

// lsmTable is the part of a Table that lives in a store. Its buffers are
// reused by every access: driven by the task's goroutine only.
//
// In front of the store sits a bounded write-back cache of decoded values:
// the newest state of the keys used lately, present or absent. A hit costs
// a map access, as on the heap; writes stay in the cache (dirty) until it
// fills, a view is taken or the store is scanned, and then go to the store
// in one batch (one commit for many writes instead of one each). The store
// plus the cache is the table; the store alone is once flush has run.
type lsmTable[K comparable, T any] struct {
	s       *lsmStore
	id      uint16
	groupOf func(K) int
	maxPar  int
	kc      *rowCodec[K]
	vc      *rowCodec[T]
	kbuf    []byte
	vbuf    []byte
	cache   map[K]cached[T]
	dirty   int // entries of cache not yet in the store
	batch   *pebble.Batch
	// entryBytes estimates a cached entry's memory (a running mean of the
	// encoded sizes seen, plus the map's overhead), for cacheLimit.
	entryBytes int
}

// cached is one key's newest state: ok false is absent (deleted, or not in
// the store).
type cached[T any] struct {
	v     T
	ok    bool
	dirty bool
}

// lsmCacheSize bounds a table's cache (entries). When full it is written
// out and emptied: hot keys come back on their next access.
const lsmCacheSize = 8192

// lsmCacheShare is the part of a store's memory (Memory.Total) that each
// table's cache of decoded values may take, by the entries' estimated
// size: large values make a cache of fewer entries (at least
// lsmCacheMin).
const (
	lsmCacheShare = 8
	lsmCacheMin   = 64
	entryOverhead = 64 // a map slot, the key, a value's header
)

// cacheLimit is how many entries the cache holds before it is written out.
func (t *lsmTable[K, T]) cacheLimit() int {
	if t.entryBytes == 0 {
		return lsmCacheSize
	}
	return min(lsmCacheSize, max(lsmCacheMin, int(t.s.cacheBytes)/t.entryBytes))
}

// noteSize adds an entry's encoded size n to the running mean.
func (t *lsmTable[K, T]) noteSize(n int) {
	n += entryOverhead
	if t.entryBytes == 0 {
		t.entryBytes = n
		return
	}
	t.entryBytes += (n - t.entryBytes) / 16
}

func newLSMTable[K comparable, T any](s *lsmStore, id uint16, groupOf func(K) int, maxPar int) (*lsmTable[K, T], error) {
	kc, err := newRowCodec[K]()
	if err != nil {
		return nil, err
	}
	vc, err := newRowCodec[T]()
	if err != nil {
		return nil, err
	}
	return &lsmTable[K, T]{s: s, id: id, groupOf: groupOf, maxPar: maxPar, kc: kc, vc: vc, cache: map[K]cached[T]{}}, nil
}

func (t *lsmTable[K, T]) key(k K) []byte {
	t.kbuf = t.kc.append(appendPrefix(t.kbuf[:0], t.groupOf(k), t.id), &k)
	return t.kbuf
}

// Errors of the store on the per-record path unwind the task as a panic
// (the operator contract), naming the store.
func (t *lsmTable[K, T]) fail(op string, err error) {
	panic(fmt.Errorf("state: pebble store %s: %s: %w", t.s.dir, op, err))
}

func (t *lsmTable[K, T]) get(k K) (T, bool) {
	if c, hit := t.cache[k]; hit {
		return c.v, c.ok
	}
	var v T
	raw, closer, err := t.s.db.Get(t.key(k))
	ok := true
	if errors.Is(err, pebble.ErrNotFound) {
		ok = false
	} else {
		if err != nil {
			t.fail("get", err)
		}
		t.noteSize(len(raw))
		_, err = t.vc.decode(raw, &v)
		closer.Close()
		if err != nil {
			t.fail("decode", err)
		}
	}
	t.remember(k, cached[T]{v: v, ok: ok})
	return v, ok
}

// remember caches c as k's state, writing the cache out first if it is
// full and k is not in it.
func (t *lsmTable[K, T]) remember(k K, c cached[T]) {
	old, hit := t.cache[k]
	if !hit && len(t.cache) >= t.cacheLimit() {
		t.flush(true)
	}
	if c.dirty && !(hit && old.dirty) {
		t.dirty++
	}
	t.cache[k] = c
}

func (t *lsmTable[K, T]) put(k K, v T) {
	t.remember(k, cached[T]{v: v, ok: true, dirty: true})
}

func (t *lsmTable[K, T]) delete(k K) {
	t.remember(k, cached[T]{dirty: true})
}

// flush writes the dirty entries to the store in one batch; the cache is
// emptied if drop, or else keeps its entries, clean.
func (t *lsmTable[K, T]) flush(drop bool) {
	if t.dirty > 0 {
		if t.batch == nil {
			t.batch = t.s.db.NewBatch()
		}
		b := t.batch
		for k, c := range t.cache {
			if !c.dirty {
				continue
			}
			var err error
			if c.ok {
				t.vbuf = t.vc.append(t.vbuf[:0], &c.v)
				t.noteSize(len(t.vbuf))
				err = b.Set(t.key(k), t.vbuf, nil)
			} else {
				err = b.Delete(t.key(k), nil)
			}
			if err != nil {
				t.fail("batch", err)
			}
			if !drop {
				c.dirty = false
				t.cache[k] = c
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.fail("commit", err)
		}
		b.Reset()
		t.dirty = 0
	}
	if drop {
		clear(t.cache)
	}
}

// scan calls fn with every entry of key group kg in r, in key order, and
// its stored size (key and value bytes). It may run on another goroutine
// than the table's other methods (a view's encoding).
func (t *lsmTable[K, T]) scan(r pebble.Reader, kg int, fn func(k K, v T, size int) bool) error {
	lo := appendPrefix(nil, kg, t.id)
	hi := appendPrefix(nil, kg, t.id+1) // ids stay below 0xffff: no overflow
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		var k K
		var v T
		rest, err := t.kc.decode(it.Key()[lsmPrefix:], &k)
		if err != nil || len(rest) != 0 {
			it.Close()
			return fmt.Errorf("%w: key %x", ErrCorrupt, it.Key())
		}
		raw, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if _, err := t.vc.decode(raw, &v); err != nil {
			it.Close()
			return err
		}
		if !fn(k, v, len(it.Key())+len(raw)) {
			break
		}
	}
	return it.Close()
}

// load writes restored entries in one batch (the cache is written out and
// emptied first: it may remember these keys as absent).
func (t *lsmTable[K, T]) load(es []entry[K, T]) error {
	t.flush(true)
	batch := t.s.db.NewBatch()
	defer batch.Close()
	for i := range es {
		t.vbuf = t.vc.append(t.vbuf[:0], &es[i].Value)
		if err := batch.Set(t.key(es[i].Key), t.vbuf, nil); err != nil {
			return err
		}
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("state: pebble store %s: restore: %w", t.s.dir, err)
	}
	return nil
}

// rangeAll is Range: every key group in turn, on the live store.
func (t *lsmTable[K, T]) rangeAll(fn func(K, T) bool) {
	t.flush(false)
	stop := false
	for kg := 0; kg < t.maxPar && !stop; kg++ {
		if err := t.scan(t.s.db, kg, func(k K, v T, _ int) bool {
			stop = !fn(k, v)
			return !stop
		}); err != nil {
			t.fail("scan", err)
		}
	}
}

// encodeGroup appends key group kg's entries in r as Table.encode does for
// the heap: one codec message, so the block format is the same for both
// backends.
// flushLSM writes the table's cached writes to the store (before a view).
func (t *Table[K, T]) flushLSM() {
	if t.lsm != nil {
		t.lsm.flush(false)
	}
}

// encodeChunk bounds the stored bytes of the entries one record of a
// block holds: a key group larger than that becomes several records of the
// same state name, each decoded on its own by Restore.
const encodeChunk = 4 << 20

func (t *Table[K, T]) encodeGroup(r pebble.Reader, kg int, buf *bytes.Buffer, name string) error {
	var es []entry[K, T]
	size := 0
	var err error
	now := t.ttl.snapshotNow()
	if serr := t.lsm.scan(r, kg, func(k K, v T, n int) bool {
		if v, ok := t.ttl.keep(v, now); ok { // expired entries stay out of snapshots
			es = append(es, entry[K, T]{k, v})
			size += n
		}
		if size >= encodeChunk {
			err = t.appendBlock(buf, es, name)
			clear(es)
			es, size = es[:0], 0
		}
		return err == nil
	}); serr != nil {
		return fmt.Errorf("state %q: %w", name, serr)
	}
	if err != nil {
		return err
	}
	return t.appendBlock(buf, es, name)
}

// appendBlock appends one (name, message) record of es to buf.
func (t *Table[K, T]) appendBlock(b *bytes.Buffer, es []entry[K, T], name string) error {
	if len(es) == 0 {
		return nil
	}
	msg, err := t.enc.NewWriter(nil).Append(es)
	if err != nil {
		return fmt.Errorf("state %q: %w", name, err)
	}
	var lenBuf [binary.MaxVarintLen64]byte
	b.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(name)))])
	b.WriteString(name)
	b.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(msg)))])
	b.Write(msg)
	return nil
}

// pebbleLogger hands pebble's messages to the task's logger.
type pebbleLogger struct{ log zerolog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) { l.log.Debug().Msgf(format, args...) }
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error().Str("component", "pebble").Msgf(format, args...)
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

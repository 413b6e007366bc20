package state

import (
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"floe/internal/codec"
)

// TTL is a state's time-to-live, as Flink's StateTtlConfig: every value
// (every element of a list, every entry of a map) is stored with the
// processing time of its last write (or, with UpdateOnRead, of its last
// access too), and is expired once TTL has passed since.
//
// Expired values are removed when they are accessed, left out of every
// snapshot (and of what a restore loads), and removed by an incremental
// cleanup that looks at CleanupSize stored keys every CleanupEvery
// accesses of the state. The cleanup plays the part of Flink's RocksDB
// compaction filter on both backends: pebble has no hook that lets a
// compaction drop or rewrite a value (its Merger sees merge operands only,
// its EventListener is told of compactions but cannot change them), so
// floe scans the table itself, a bounded slice at a time, from a cursor
// that wraps around (pebble), or from Go's random map starting point
// (heap).
type TTL struct {
	TTL time.Duration
	// UpdateOnRead refreshes a value's timestamp when it is read
	// (Flink's OnReadAndWrite; else OnCreateAndWrite).
	UpdateOnRead bool
	// ReturnExpired returns an expired value that is still stored, once,
	// on the access that removes it (Flink's ReturnExpiredIfNotCleanedUp;
	// else NeverReturnExpired).
	ReturnExpired bool
	// Now is the processing time in epoch milliseconds (nil: the wall
	// clock), called on the task's goroutine (a view takes its time when
	// it is taken, and drops what had expired then when it is encoded).
	Now func() int64
	// CleanupEvery is the number of accesses between two cleanup steps
	// (0: 1024); CleanupSize the number of keys a step looks at (0: 1024).
	CleanupEvery, CleanupSize int
}

const (
	ttlCleanupEvery = 1024
	ttlCleanupSize  = 1024
)

// stamped is a value with the processing time (epoch ms) it was last
// written (or read, with UpdateOnRead). TS comes first: in the LSM store's
// encoding it is the value's first 8 bytes.
type stamped[T any] struct {
	TS int64
	V  T
}

// MapKV is one entry of a TTL map (TTLMap).
type MapKV[UK comparable, UV any] struct {
	Key   UK
	Value UV
}

// ttlClock is what every TTL state shares: its configuration, the clock
// and the count of accesses that drives the incremental cleanup.
type ttlClock struct {
	ms            int64
	updateOnRead  bool
	returnExpired bool
	now           func() int64
	every, size   int
	n             int
	cleanup       func(size int) (seen, removed int)
}

func newTTLClock(cfg TTL) (*ttlClock, error) {
	if cfg.TTL < time.Millisecond {
		return nil, fmt.Errorf("state: time-to-live %v: want at least 1ms", cfg.TTL)
	}
	c := &ttlClock{ms: cfg.TTL.Milliseconds(), updateOnRead: cfg.UpdateOnRead, returnExpired: cfg.ReturnExpired,
		now: cfg.Now, every: cfg.CleanupEvery, size: cfg.CleanupSize}
	if c.now == nil {
		c.now = func() int64 { return time.Now().UnixMilli() }
	}
	if c.every <= 0 {
		c.every = ttlCleanupEvery
	}
	if c.size <= 0 {
		c.size = ttlCleanupSize
	}
	return c, nil
}

// expired tells whether a value stamped ts is expired at now (a clock that
// went back expires nothing).
func (c *ttlClock) expired(ts, now int64) bool { return now-ts >= c.ms }

// access counts one access and runs a cleanup step when it is due.
func (c *ttlClock) access() {
	c.n++
	if c.n >= c.every {
		c.n = 0
		c.cleanup(c.size)
	}
}

// ttlHooks is what a table with a time-to-live adds to the table's paths
// in backend.go and lsm.go: snapshots and restores keep live entries only,
// and a block written without TTL still restores.
type ttlHooks[K comparable, T any] struct {
	clock *ttlClock
	// live returns v without its expired parts at now: ok false when
	// nothing is left, changed when something was dropped (v itself is
	// never changed: a view may share it).
	live func(v T, now int64) (kept T, ok, changed bool)
	// legacy reads a block written by the state without TTL, stamping
	// its values with now.
	legacy func(data []byte, now int64) ([]entry[K, T], error)
	owner  any    // the TTLValue, TTLList or TTLMap of the table
	after  []byte // LSM cleanup cursor: the last key looked at (nil: start of kg)
	kg     int    // LSM cleanup cursor: key group
	// at is the time of the view these hooks belong to (frozen).
	at     int64
	isView bool
}

// frozen returns the hooks of a view taken now: its snapshot drops what
// had expired when it was taken (at the barrier, on the task's goroutine),
// whenever it is encoded.
func (h *ttlHooks[K, T]) frozen() *ttlHooks[K, T] {
	if h == nil {
		return nil
	}
	return &ttlHooks[K, T]{clock: h.clock, live: h.live, legacy: h.legacy, owner: h.owner, at: h.clock.now(), isView: true}
}

// snapshotNow is the time a snapshot drops expired entries at (0 without TTL).
func (h *ttlHooks[K, T]) snapshotNow() int64 {
	switch {
	case h == nil:
		return 0
	case h.isView:
		return h.at
	}
	return h.clock.now()
}

// keep is the entry a snapshot writes of v: all of it without TTL.
func (h *ttlHooks[K, T]) keep(v T, now int64) (T, bool) {
	if h == nil {
		return v, true
	}
	v, ok, _ := h.live(v, now)
	return v, ok
}

// restored is what a restore loads of a block's entries (es, err as read
// with the table's codec): a block of the state without TTL is read with
// the legacy codec, and expired entries are dropped.
func (h *ttlHooks[K, T]) restored(data []byte, es []entry[K, T], err error) ([]entry[K, T], error) {
	if h == nil {
		return es, err
	}
	now := h.clock.now()
	if err != nil {
		var lerr error
		if es, lerr = h.legacy(data, now); lerr != nil {
			return nil, fmt.Errorf("%w (read without time-to-live: %w)", err, lerr)
		}
	}
	kept := es[:0]
	for _, e := range es {
		if v, ok := h.keep(e.Value, now); ok {
			kept = append(kept, entry[K, T]{e.Key, v})
		}
	}
	return kept, nil
}

// withTTL turns the table called name into a TTL table (once: the same
// owner comes back on later calls). T is the stored type (stamped values).
func withTTL[K comparable, T, O any](b *Backend[K], name string, cfg TTL,
	live func(T, int64) (T, bool, bool), legacy func([]byte, int64) ([]entry[K, T], error),
	owner func(*Table[K, T], *ttlClock) O) (O, error) {
	var zero O
	tab, err := Value[K, T](b, name)
	if err != nil {
		return zero, err
	}
	if tab.ttl != nil {
		o, ok := tab.ttl.owner.(O)
		if !ok {
			return zero, fmt.Errorf("state: %q is declared as another kind of state", name)
		}
		return o, nil
	}
	clock, err := newTTLClock(cfg)
	if err != nil {
		return zero, fmt.Errorf("state %q: %w", name, err)
	}
	h := &ttlHooks[K, T]{clock: clock, live: live, legacy: legacy}
	clock.cleanup = tab.ttlCleanup
	o := owner(tab, clock)
	h.owner = o
	tab.ttl = h
	return o, nil
}

// legacyReader reads blocks of entry[K, P] (the state as it was stored
// without TTL) and turns them into the TTL table's entries.
func legacyReader[K comparable, P, T any](conv func(P, int64) T) func([]byte, int64) ([]entry[K, T], error) {
	return func(data []byte, now int64) ([]entry[K, T], error) {
		c, err := codec.For[entry[K, P]]()
		if err != nil {
			return nil, err
		}
		ps, err := c.NewReader(nil).Read(data, nil)
		if err != nil {
			return nil, err
		}
		es := make([]entry[K, T], len(ps))
		for i, p := range ps {
			es[i] = entry[K, T]{p.Key, conv(p.Value, now)}
		}
		return es, nil
	}
}

// ttlCleanup is one step of the incremental cleanup: it looks at up to
// size keys and removes what is expired. On pebble it goes on from where
// the last step stopped, key group after key group, and wraps around; on
// the heap it starts where Go's map iteration does (at random).
func (t *Table[K, T]) ttlCleanup(size int) (seen, removed int) {
	h := t.ttl
	now := h.clock.now()
	if t.lsm != nil {
		return h.lsmCleanup(t.lsm, size, now)
	}
	t.each(func(k K, s slot[T]) bool {
		if seen == size {
			return false
		}
		seen++
		v, ok, changed := h.live(s.v, now)
		switch {
		case !ok:
			t.del(k)
			removed++
		case changed:
			t.set(k, slot[T]{v, t.gen})
		}
		return true
	})
	return seen, removed
}

// lsmCleanup scans the store from the cursor. The cache is written out
// first so the store holds every key's newest state; the changes go
// through the cache (delete, put) and are written out at the end, so the
// store no longer holds the expired keys when the step returns.
func (h *ttlHooks[K, T]) lsmCleanup(lt *lsmTable[K, T], size int, now int64) (seen, removed int) {
	lt.flush(false)
	for groups := 0; groups <= lt.maxPar && seen < size; groups++ {
		lo := appendPrefix(nil, h.kg, lt.id)
		if h.after != nil {
			lo = append(slices.Clone(h.after), 0) // the first key after the last one looked at
		}
		it, err := lt.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: appendPrefix(nil, h.kg, lt.id+1)})
		if err != nil {
			lt.fail("ttl cleanup", err)
		}
		ok := it.First()
		for ; ok && seen < size; ok = it.Next() {
			seen++
			var k K
			var v T
			if rest, err := lt.kc.decode(it.Key()[lsmPrefix:], &k); err != nil || len(rest) != 0 {
				it.Close()
				lt.fail("ttl cleanup", fmt.Errorf("%w: key %x", ErrCorrupt, it.Key()))
			}
			raw, err := it.ValueAndErr()
			if err == nil {
				_, err = lt.vc.decode(raw, &v)
			}
			if err != nil {
				it.Close()
				lt.fail("ttl cleanup", err)
			}
			h.after = append(h.after[:0], it.Key()...)
			kept, live, changed := h.live(v, now)
			switch {
			case !live:
				lt.delete(k)
				removed++
			case changed:
				lt.put(k, kept)
			}
		}
		if err := it.Close(); err != nil {
			lt.fail("ttl cleanup", err)
		}
		if !ok { // the key group is done: on to the next
			h.after = nil
			h.kg = (h.kg + 1) % lt.maxPar
		}
	}
	lt.flush(false)
	return seen, removed
}

// TTLValue is a value per key with a time-to-live (value and reducing
// states). Driven by the task's goroutine only.
type TTLValue[K comparable, T any] struct {
	tab *Table[K, stamped[T]]
	c   *ttlClock
}

// NewTTLValue returns the TTL value table called name, creating it on
// first use (later calls return the same one, whatever cfg).
func NewTTLValue[K comparable, T any](b *Backend[K], name string, cfg TTL) (*TTLValue[K, T], error) {
	ms := cfg.TTL.Milliseconds()
	return withTTL(b, name, cfg,
		func(v stamped[T], now int64) (stamped[T], bool, bool) { return v, now-v.TS < ms, false },
		legacyReader[K](func(v T, now int64) stamped[T] { return stamped[T]{now, v} }),
		func(tab *Table[K, stamped[T]], c *ttlClock) *TTLValue[K, T] { return &TTLValue[K, T]{tab, c} })
}

// Get returns k's value unless it is expired. An expired value is removed
// (and returned this once with ReturnExpired); a live one is stamped anew
// with UpdateOnRead.
func (s *TTLValue[K, T]) Get(k K) (T, bool) {
	s.c.access()
	var zero T
	e, ok := s.tab.Get(k)
	if !ok {
		return zero, false
	}
	now := s.c.now()
	if s.c.expired(e.TS, now) {
		s.tab.Delete(k)
		if s.c.returnExpired {
			return e.V, true
		}
		return zero, false
	}
	if s.c.updateOnRead {
		s.tab.Put(k, stamped[T]{now, e.V})
	}
	return e.V, true
}

// Put sets k's value, stamped now.
func (s *TTLValue[K, T]) Put(k K, v T) {
	s.c.access()
	s.tab.Put(k, stamped[T]{s.c.now(), v})
}

// Delete removes k's value.
func (s *TTLValue[K, T]) Delete(k K) { s.tab.Delete(k) }

// liveElems is live for a list of stamped elements (lists and maps): a
// copy without the expired elements when there are any.
func liveElems[E any](ms int64) func([]stamped[E], int64) ([]stamped[E], bool, bool) {
	return func(l []stamped[E], now int64) ([]stamped[E], bool, bool) {
		i := slices.IndexFunc(l, func(e stamped[E]) bool { return now-e.TS >= ms })
		if i < 0 {
			return l, len(l) > 0, false
		}
		kept := make([]stamped[E], i, len(l)-1)
		copy(kept, l[:i])
		for _, e := range l[i+1:] {
			if now-e.TS < ms {
				kept = append(kept, e)
			}
		}
		return kept, len(kept) > 0, true
	}
}

// readAll is a read of a whole list: the elements to return, and the list
// to store instead of l when write (expired elements dropped, the others
// stamped anew with UpdateOnRead).
func readAll[E any](c *ttlClock, l []stamped[E]) (out []E, kept []stamped[E], write bool) {
	now := c.now()
	dropped := 0
	for _, e := range l {
		if c.expired(e.TS, now) {
			dropped++
			if !c.returnExpired {
				continue
			}
		}
		out = append(out, e.V)
	}
	if dropped == 0 && !c.updateOnRead {
		return out, nil, false
	}
	kept = make([]stamped[E], 0, len(l)-dropped)
	for _, e := range l {
		if !c.expired(e.TS, now) {
			if c.updateOnRead {
				e.TS = now
			}
			kept = append(kept, e)
		}
	}
	return out, kept, true
}

func stampAll[E any](vs []E, now int64) []stamped[E] {
	if vs == nil {
		return nil
	}
	l := make([]stamped[E], len(vs))
	for i, v := range vs {
		l[i] = stamped[E]{now, v}
	}
	return l
}

// TTLList is a list per key whose elements each have a time-to-live.
// Driven by the task's goroutine only.
type TTLList[K comparable, T any] struct {
	tab *Table[K, []stamped[T]]
	c   *ttlClock
}

// NewTTLList returns the TTL list table called name, creating it on first
// use. A block written by the state without TTL ([]T per key) restores.
func NewTTLList[K comparable, T any](b *Backend[K], name string, cfg TTL) (*TTLList[K, T], error) {
	return withTTL(b, name, cfg, liveElems[T](cfg.TTL.Milliseconds()),
		legacyReader[K](stampAll[T]),
		func(tab *Table[K, []stamped[T]], c *ttlClock) *TTLList[K, T] { return &TTLList[K, T]{tab, c} })
}

// Get returns k's live elements in order, in a new slice (nil when none).
// Expired elements are removed (and returned this once with
// ReturnExpired); the live ones are stamped anew with UpdateOnRead.
func (s *TTLList[K, T]) Get(k K) []T {
	s.c.access()
	l, ok := s.tab.Get(k)
	if !ok {
		return nil
	}
	out, kept, write := readAll(s.c, l)
	if write {
		s.put(k, kept)
	}
	return out
}

// Add appends v to k's list, stamped now. Timestamps only grow along a
// list (while the clock does), so the expired elements are a prefix, and
// Add drops it.
func (s *TTLList[K, T]) Add(k K, v T) {
	s.c.access()
	now := s.c.now()
	l, _ := s.tab.Get(k)
	if len(l) > 0 && s.c.expired(l[0].TS, now) {
		i := 1
		for i < len(l) && s.c.expired(l[i].TS, now) {
			i++
		}
		l = l[i:len(l):len(l)] // a new backing array on append: a view may share l
	}
	s.tab.Put(k, append(l, stamped[T]{now, v}))
}

// Update replaces k's list, every element stamped now.
func (s *TTLList[K, T]) Update(k K, vs []T) {
	s.c.access()
	s.put(k, stampAll(vs, s.c.now()))
}

func (s *TTLList[K, T]) put(k K, l []stamped[T]) {
	if len(l) == 0 {
		s.tab.Delete(k)
		return
	}
	s.tab.Put(k, l)
}

// Clear removes k's list.
func (s *TTLList[K, T]) Clear(k K) { s.tab.Delete(k) }

// TTLMap is a map per key whose entries each have a time-to-live, kept as
// a list of entries as the state without TTL is. Driven by the task's
// goroutine only.
type TTLMap[K comparable, UK comparable, UV any] struct {
	tab *Table[K, []stamped[MapKV[UK, UV]]]
	c   *ttlClock
}

// NewTTLMap returns the TTL map table called name, creating it on first
// use. A block written by the state without TTL (a list of {Key, Value}
// per key) restores.
func NewTTLMap[K comparable, UK comparable, UV any](b *Backend[K], name string, cfg TTL) (*TTLMap[K, UK, UV], error) {
	return withTTL(b, name, cfg, liveElems[MapKV[UK, UV]](cfg.TTL.Milliseconds()),
		legacyReader[K](stampAll[MapKV[UK, UV]]),
		func(tab *Table[K, []stamped[MapKV[UK, UV]]], c *ttlClock) *TTLMap[K, UK, UV] {
			return &TTLMap[K, UK, UV]{tab, c}
		})
}

func (s *TTLMap[K, UK, UV]) find(l []stamped[MapKV[UK, UV]], uk UK) int {
	return slices.IndexFunc(l, func(e stamped[MapKV[UK, UV]]) bool { return e.V.Key == uk })
}

// Get returns uk's value under k unless it is expired: an expired entry is
// removed (and returned this once with ReturnExpired), a live one stamped
// anew with UpdateOnRead.
func (s *TTLMap[K, UK, UV]) Get(k K, uk UK) (UV, bool) {
	s.c.access()
	var zero UV
	l, _ := s.tab.Get(k)
	i := s.find(l, uk)
	if i < 0 {
		return zero, false
	}
	now := s.c.now()
	e := l[i]
	switch {
	case s.c.expired(e.TS, now):
		s.put(k, slices.Delete(slices.Clone(l), i, i+1)) // copy on write: a view may share l
		if !s.c.returnExpired {
			return zero, false
		}
	case s.c.updateOnRead:
		l = slices.Clone(l)
		l[i].TS = now
		s.tab.Put(k, l)
	}
	return e.V.Value, true
}

// Put sets uk to v under k, stamped now.
func (s *TTLMap[K, UK, UV]) Put(k K, uk UK, v UV) {
	s.c.access()
	now := s.c.now()
	l, _ := s.tab.Get(k)
	e := stamped[MapKV[UK, UV]]{now, MapKV[UK, UV]{uk, v}}
	if i := s.find(l, uk); i >= 0 {
		l = slices.Clone(l)
		l[i] = e
		s.tab.Put(k, l)
		return
	}
	s.tab.Put(k, append(l, e))
}

// Remove deletes uk under k.
func (s *TTLMap[K, UK, UV]) Remove(k K, uk UK) {
	s.c.access()
	l, _ := s.tab.Get(k)
	if i := s.find(l, uk); i >= 0 {
		s.put(k, slices.Delete(slices.Clone(l), i, i+1))
	}
}

// Entries returns k's live entries in a new slice (nil when none), as Get
// does for each.
func (s *TTLMap[K, UK, UV]) Entries(k K) []MapKV[UK, UV] {
	s.c.access()
	l, ok := s.tab.Get(k)
	if !ok {
		return nil
	}
	out, kept, write := readAll(s.c, l)
	if write {
		s.put(k, kept)
	}
	return out
}

func (s *TTLMap[K, UK, UV]) put(k K, l []stamped[MapKV[UK, UV]]) {
	if len(l) == 0 {
		s.tab.Delete(k)
		return
	}
	s.tab.Put(k, l)
}

// Clear removes k's map.
func (s *TTLMap[K, UK, UV]) Clear(k K) { s.tab.Delete(k) }

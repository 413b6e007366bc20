package datastream

import (
	"time"

	"floe/internal/state"
)

// StateTTL is the time-to-live of a keyed state, as Flink's StateTtlConfig:
// give it to a state descriptor with WithTTL. Each value (each element of a
// ListState, each entry of a MapState) is stored with the processing time
// (the wall clock) of its last write, or of its last access with
// OnReadAndWrite, and expires TTL after it.
//
// An expired value is removed when it is accessed, is never written into a
// checkpoint or savepoint, and is removed from state that nobody reads by
// an incremental cleanup (a slice of the stored keys every 1024 accesses of
// the state, on either backend: it stands in for the RocksDB compaction
// filter of Flink, which pebble has no equivalent of). See docs/state.md.
//
// The timestamps are kept in savepoints, so a restored job expires values
// when the job that took the savepoint would have. A savepoint of a state
// declared without a TTL restores into the same state declared with one
// (its values stamped with the time of the restore); the other way round
// (removing a TTL) is not supported, as in Flink.
type StateTTL struct {
	TTL        time.Duration // at least a millisecond
	Update     TTLUpdate
	Visibility TTLVisibility

	now func() int64 // the clock (epoch ms); nil: the wall clock (tests set one)
}

// TTLUpdate says which accesses refresh a value's timestamp.
type TTLUpdate int

const (
	// OnCreateAndWrite refreshes it on writes only (the default).
	OnCreateAndWrite TTLUpdate = iota
	// OnReadAndWrite refreshes it on reads too (a read then writes).
	OnReadAndWrite
)

// TTLVisibility says whether an expired value that is still stored is
// returned.
type TTLVisibility int

const (
	// NeverReturnExpired never returns an expired value (the default).
	NeverReturnExpired TTLVisibility = iota
	// ReturnExpiredIfNotCleanedUp returns an expired value that no cleanup
	// has removed yet, once: the access that returns it removes it.
	ReturnExpiredIfNotCleanedUp
)

func (c *StateTTL) config() state.TTL {
	return state.TTL{TTL: c.TTL, UpdateOnRead: c.Update == OnReadAndWrite,
		ReturnExpired: c.Visibility == ReturnExpiredIfNotCleanedUp, Now: c.now}
}

// WithTTL returns the descriptor with a time-to-live.
func (s ValueState[K, T]) WithTTL(ttl StateTTL) ValueState[K, T] { s.ttl = &ttl; return s }

// WithTTL returns the descriptor with a time-to-live per element.
func (s ListState[K, T]) WithTTL(ttl StateTTL) ListState[K, T] { s.ttl = &ttl; return s }

// WithTTL returns the descriptor with a time-to-live per entry.
func (s MapState[K, UK, UV]) WithTTL(ttl StateTTL) MapState[K, UK, UV] { s.ttl = &ttl; return s }

// WithTTL returns the descriptor with a time-to-live of the reduced value
// (an Add folds into an expired value only with ReturnExpiredIfNotCleanedUp).
func (s ReducingState[K, T]) WithTTL(ttl StateTTL) ReducingState[K, T] { s.ttl = &ttl; return s }

// ttlState returns the operator's TTL table called name (one of
// state.TTLValue, TTLList, TTLMap), as table does for the others.
func ttlState[K comparable, S any](c *KeyedContext[K], name string, ttl *StateTTL,
	declare func(*state.Backend[K], string, state.TTL) (S, error)) S {
	for _, e := range c.tables {
		if e.name == name {
			if t, ok := e.table.(S); ok {
				return t
			}
			break // another kind under this name: declare says so
		}
	}
	t, err := declare(c.backend, name, ttl.config())
	if err != nil {
		panic(err) // declared as another kind or type: a programming error
	}
	c.tables = append(c.tables, namedTable{name, t})
	return t
}

func (s ValueState[K, T]) ttlTable(c *KeyedContext[K]) *state.TTLValue[K, T] {
	return ttlState(c, s.name, s.ttl, state.NewTTLValue[K, T])
}

func (s ReducingState[K, T]) ttlTable(c *KeyedContext[K]) *state.TTLValue[K, T] {
	return ttlState(c, s.name, s.ttl, state.NewTTLValue[K, T])
}

func (s ListState[K, T]) ttlTable(c *KeyedContext[K]) *state.TTLList[K, T] {
	return ttlState(c, s.name, s.ttl, state.NewTTLList[K, T])
}

func (s MapState[K, UK, UV]) ttlTable(c *KeyedContext[K]) *state.TTLMap[K, UK, UV] {
	return ttlState(c, s.name, s.ttl, state.NewTTLMap[K, UK, UV])
}

// declareTTL declares a descriptor's TTL table on b.
func declareTTL[K comparable, S any](b *state.Backend[K], name string, ttl *StateTTL,
	declare func(*state.Backend[K], string, state.TTL) (S, error)) error {
	_, err := declare(b, name, ttl.config())
	return err
}

// ttlEntries returns a TTL map's entries as MapEntry values.
func ttlEntries[UK comparable, UV any](kvs []state.MapKV[UK, UV]) []MapEntry[UK, UV] {
	if kvs == nil {
		return nil
	}
	out := make([]MapEntry[UK, UV], len(kvs))
	for i, kv := range kvs {
		out[i] = MapEntry[UK, UV](kv)
	}
	return out
}

// reduceTTL folds v into the key's value of a TTL reducing state.
func reduceTTL[K comparable, T any](t *state.TTLValue[K, T], k K, v T, reduce func(acc, v T) T) {
	if acc, ok := t.Get(k); ok {
		v = reduce(acc, v)
	}
	t.Put(k, v)
}

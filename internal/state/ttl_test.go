package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// fakeClock is a processing-time clock the test moves (safe for the
// snapshot's goroutine).
type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) now() int64      { return c.ms.Load() }
func (c *fakeClock) advance(d int64) { c.ms.Add(d) }
func (c *fakeClock) set(ms int64)    { c.ms.Store(ms) }
func ttlConfig(c *fakeClock, ttl time.Duration, onRead, returnExpired bool) TTL {
	// No incremental cleanup unless a test asks: it would remove expired
	// values at moments the model does not know.
	return TTL{TTL: ttl, UpdateOnRead: onRead, ReturnExpired: returnExpired, Now: c.now, CleanupEvery: 1 << 30}
}

// ttlModel is the semantics of a TTL state, written plainly: per key a
// list of stamped elements (one for a value, one per entry for a map).
type ttlModel struct {
	ms            int64
	onRead, retEx bool
	m             map[string][]stamped[MapKV[int, int]]
}

func (m *ttlModel) expired(e stamped[MapKV[int, int]], now int64) bool { return now-e.TS >= m.ms }

// readAll returns a key's elements as a read of all of them sees them,
// and stores what is left.
func (m *ttlModel) readAll(k string, now int64) []MapKV[int, int] {
	var out []MapKV[int, int]
	var kept []stamped[MapKV[int, int]]
	for _, e := range m.m[k] {
		if m.expired(e, now) {
			if m.retEx {
				out = append(out, e.V)
			}
			continue
		}
		out = append(out, e.V)
		if m.onRead {
			e.TS = now
		}
		kept = append(kept, e)
	}
	m.store(k, kept)
	return out
}

func (m *ttlModel) store(k string, l []stamped[MapKV[int, int]]) {
	if len(l) == 0 {
		delete(m.m, k)
	} else {
		m.m[k] = l
	}
}

// getOne is a read of one map entry (or the value: user key 0).
func (m *ttlModel) getOne(k string, uk int, now int64) (int, bool) {
	l := slices.Clone(m.m[k])
	i := slices.IndexFunc(l, func(e stamped[MapKV[int, int]]) bool { return e.V.Key == uk })
	if i < 0 {
		return 0, false
	}
	e := l[i]
	if m.expired(e, now) {
		m.store(k, slices.Delete(l, i, i+1))
		return e.V.Value, m.retEx
	}
	if m.onRead {
		l[i].TS = now
		m.store(k, l)
	}
	return e.V.Value, true
}

func (m *ttlModel) putOne(k string, uk, v int, now int64) {
	l := slices.Clone(m.m[k])
	e := stamped[MapKV[int, int]]{now, MapKV[int, int]{uk, v}}
	if i := slices.IndexFunc(l, func(e stamped[MapKV[int, int]]) bool { return e.V.Key == uk }); i >= 0 {
		l[i] = e
	} else {
		l = append(l, e)
	}
	m.store(k, l)
}

// add appends to a list: an access, so the expired elements go.
func (m *ttlModel) add(k string, v int, now int64) {
	var l []stamped[MapKV[int, int]]
	for _, e := range m.m[k] {
		if !m.expired(e, now) {
			l = append(l, e)
		}
	}
	m.store(k, append(l, stamped[MapKV[int, int]]{now, MapKV[int, int]{0, v}}))
}

// live is the model's state as a snapshot at now keeps it.
func (m *ttlModel) live(now int64) map[string][]stamped[MapKV[int, int]] {
	out := map[string][]stamped[MapKV[int, int]]{}
	for k, l := range m.m {
		var kept []stamped[MapKV[int, int]]
		for _, e := range l {
			if !m.expired(e, now) {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 {
			out[k] = kept
		}
	}
	return out
}

// ttlCase is one state kind driven against the model.
type ttlCase struct {
	name string
	// declare declares the state on b and returns its operations.
	declare func(b *Backend[string], cfg TTL) (ttlOps, error)
}

type ttlOps struct {
	step func(rng *rand.Rand, k string, m *ttlModel, now int64) error
	raw  func() map[string][]stamped[MapKV[int, int]] // the stored entries, as the model keeps them
}

var ttlCases = []ttlCase{
	{"value", func(b *Backend[string], cfg TTL) (ttlOps, error) {
		s, err := NewTTLValue[string, int](b, "v", cfg)
		if err != nil {
			return ttlOps{}, err
		}
		return ttlOps{
			step: func(rng *rand.Rand, k string, m *ttlModel, now int64) error {
				switch rng.IntN(5) {
				case 0, 1:
					v := rng.IntN(100)
					s.Put(k, v)
					m.putOne(k, 0, v, now)
				case 2:
					s.Delete(k)
					delete(m.m, k)
				default:
					got, ok := s.Get(k)
					want, wok := m.getOne(k, 0, now)
					if ok != wok || (ok && got != want) {
						return fmt.Errorf("Get(%s) = %d %v, want %d %v", k, got, ok, want, wok)
					}
				}
				return nil
			},
			raw: func() map[string][]stamped[MapKV[int, int]] {
				out := map[string][]stamped[MapKV[int, int]]{}
				for k, e := range contents(s.tab) {
					out[k] = []stamped[MapKV[int, int]]{{e.TS, MapKV[int, int]{0, e.V}}}
				}
				return out
			},
		}, nil
	}},
	{"list", func(b *Backend[string], cfg TTL) (ttlOps, error) {
		s, err := NewTTLList[string, int](b, "l", cfg)
		if err != nil {
			return ttlOps{}, err
		}
		return ttlOps{
			step: func(rng *rand.Rand, k string, m *ttlModel, now int64) error {
				switch rng.IntN(8) {
				case 0, 1, 2:
					v := rng.IntN(100)
					s.Add(k, v)
					m.add(k, v, now)
				case 3:
					vs := []int{rng.IntN(100), rng.IntN(100)}
					s.Update(k, vs)
					m.store(k, []stamped[MapKV[int, int]]{{now, MapKV[int, int]{0, vs[0]}}, {now, MapKV[int, int]{0, vs[1]}}})
				case 4:
					s.Clear(k)
					delete(m.m, k)
				default:
					got := s.Get(k)
					var want []int
					for _, e := range m.readAll(k, now) {
						want = append(want, e.Value)
					}
					if !slices.Equal(got, want) {
						return fmt.Errorf("Get(%s) = %v, want %v", k, got, want)
					}
				}
				return nil
			},
			raw: func() map[string][]stamped[MapKV[int, int]] {
				out := map[string][]stamped[MapKV[int, int]]{}
				for k, l := range contents(s.tab) {
					for _, e := range l {
						out[k] = append(out[k], stamped[MapKV[int, int]]{e.TS, MapKV[int, int]{0, e.V}})
					}
				}
				return out
			},
		}, nil
	}},
	{"map", func(b *Backend[string], cfg TTL) (ttlOps, error) {
		s, err := NewTTLMap[string, int, int](b, "m", cfg)
		if err != nil {
			return ttlOps{}, err
		}
		return ttlOps{
			step: func(rng *rand.Rand, k string, m *ttlModel, now int64) error {
				uk := rng.IntN(4)
				switch rng.IntN(7) {
				case 0, 1, 2:
					v := rng.IntN(100)
					s.Put(k, uk, v)
					m.putOne(k, uk, v, now)
				case 3:
					s.Remove(k, uk)
					l := slices.DeleteFunc(slices.Clone(m.m[k]), func(e stamped[MapKV[int, int]]) bool { return e.V.Key == uk })
					m.store(k, l)
				case 4:
					got := s.Entries(k)
					if want := m.readAll(k, now); !slices.Equal(got, want) {
						return fmt.Errorf("Entries(%s) = %v, want %v", k, got, want)
					}
				default:
					got, ok := s.Get(k, uk)
					want, wok := m.getOne(k, uk, now)
					if ok != wok || (ok && got != want) {
						return fmt.Errorf("Get(%s, %d) = %d %v, want %d %v", k, uk, got, ok, want, wok)
					}
				}
				return nil
			},
			raw: func() map[string][]stamped[MapKV[int, int]] { return contents(s.tab) },
		}, nil
	}},
}

// Every TTL state, on both backends, with either update type and either
// visibility, against the model, with a fake clock that moves by random
// steps around the time-to-live. A snapshot at the end restores, into
// either backend, exactly the model's live entries with their timestamps.
func TestTTLStates(t *testing.T) {
	const maxP = 8
	for _, tc := range ttlCases {
		for _, kind := range kinds {
			for _, onRead := range []bool{false, true} {
				for _, retEx := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/onRead=%v/returnExpired=%v", tc.name, kind, onRead, retEx)
					t.Run(name, func(t *testing.T) {
						clock := &fakeClock{}
						clock.set(1_000_000)
						cfg := ttlConfig(clock, 100*time.Millisecond, onRead, retEx)
						b := newBackend[string](t, kind, maxP)
						ops, err := tc.declare(b, cfg)
						if err != nil {
							t.Fatal(err)
						}
						m := &ttlModel{ms: 100, onRead: onRead, retEx: retEx, m: map[string][]stamped[MapKV[int, int]]{}}
						rng := rand.New(rand.NewPCG(7, uint64(len(name))))
						for i := range 4000 {
							clock.advance(rng.Int64N(8))
							k := fmt.Sprint("k", rng.IntN(20))
							if err := ops.step(rng, k, m, clock.now()); err != nil {
								t.Fatalf("step %d at %d: %v", i, clock.now(), err)
							}
							if i%500 == 0 {
								if got := ops.raw(); !reflect.DeepEqual(got, m.m) {
									t.Fatalf("step %d: stored %v, model %v", i, got, m.m)
								}
							}
						}
						blocks, err := b.Snapshot(0, maxP)
						if err != nil {
							t.Fatal(err)
						}
						want := m.live(clock.now())
						if len(want) == 0 || len(want) == len(m.m) && reflect.DeepEqual(want, m.m) {
							t.Logf("the snapshot drops nothing here (%d keys live of %d)", len(want), len(m.m))
						}
						for _, to := range kinds {
							r := newBackend[string](t, to, maxP)
							rops, err := tc.declare(r, cfg)
							if err != nil {
								t.Fatal(err)
							}
							for _, blk := range blocks {
								if err := r.Restore(blk, false); err != nil {
									t.Fatal(err)
								}
							}
							if got := rops.raw(); !reflect.DeepEqual(got, want) {
								t.Fatalf("restored into %s: %v, want %v", to, got, want)
							}
						}
					})
				}
			}
		}
	}
}

// A snapshot leaves out what had expired when its view was taken (at the
// barrier), whenever it is encoded; a restore leaves out what has expired
// by its own time.
func TestTTLSnapshotDropsExpired(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			clock := &fakeClock{}
			cfg := ttlConfig(clock, time.Second, false, true)
			b := newBackend[string](t, kind, 4)
			s, err := NewTTLValue[string, string](b, "v", cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.Put("old", "a")
			clock.set(500)
			s.Put("young", "b")
			clock.set(1000) // "old" expires
			view := b.View()
			clock.set(1600) // "young" expires after the view, before its encoding
			blocks, err := view.Encode(0, 4)
			if rerr := view.Release(); err == nil {
				err = rerr
			}
			if err != nil {
				t.Fatal(err)
			}
			restore := func(at int64) map[string]stamped[string] {
				clock.set(at)
				r := newBackend[string](t, kind, 4)
				rs, err := NewTTLValue[string, string](r, "v", cfg)
				if err != nil {
					t.Fatal(err)
				}
				for _, blk := range blocks {
					if err := r.Restore(blk, false); err != nil {
						t.Fatal(err)
					}
				}
				return contents(rs.tab)
			}
			if got, want := restore(0), map[string]stamped[string]{"young": {500, "b"}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("restored %v, want %v", got, want)
			}
			if got := restore(1500); len(got) != 0 {
				t.Fatalf("restored after its expiry: %v", got)
			}
			// ReturnExpired returns a stored expired value, but the
			// snapshot did not store it.
			if v, ok := s.Get("old"); !ok || v != "a" {
				t.Fatalf("the live backend's expired value: %q %v, want it once (ReturnExpired)", v, ok)
			}
			if _, ok := s.Get("old"); ok {
				t.Fatal("an expired value returned twice")
			}
		})
	}
}

// storedKeys counts the keys a table holds: on pebble, in the store itself
// (after the cache is written out), on the heap, in the map.
func storedKeys[K comparable, T any](t *testing.T, tab *Table[K, T]) int {
	t.Helper()
	if tab.lsm == nil {
		return len(tab.m)
	}
	tab.lsm.flush(false)
	it, err := tab.lsm.s.db.NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// The incremental cleanup removes expired keys that are never read again:
// after enough accesses to other keys, the store (counted key by key) holds
// the live keys only; a step looks at no more keys than it is given.
func TestTTLIncrementalCleanup(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			clock := &fakeClock{}
			cfg := ttlConfig(clock, time.Second, false, false)
			cfg.CleanupEvery, cfg.CleanupSize = 10, 50
			b := newBackend[int](t, kind, 16)
			s, err := NewTTLList[int, int](b, "l", cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000
			for k := range n {
				s.Add(k, k)
			}
			// Half the keys get a young element too: the cleanup drops their
			// old one and keeps the key.
			clock.set(600)
			for k := 0; k < n; k += 2 {
				s.Add(k, -k)
			}
			if got := storedKeys(t, s.tab); got != n {
				t.Fatalf("%d keys stored before expiry, want %d", got, n)
			}
			if seen, removed := s.tab.ttlCleanup(50); seen != 50 || removed != 0 {
				t.Fatalf("a step before expiry looked at %d keys and removed %d, want 50 and 0", seen, removed)
			}
			clock.set(1200)
			// Accesses to one other key only: 600 of them, a step every 10,
			// 50 keys a step, 3000 keys looked at in all (the pebble cursor
			// goes around once; the heap starts at random, so it may miss a
			// few: it gets more).
			for i := range 600 {
				s.Update(n+1, []int{i})
			}
			if kind == "heap" {
				for range 2000 {
					s.tab.ttlCleanup(50)
				}
			}
			if got := storedKeys(t, s.tab); got != n/2+1 {
				t.Fatalf("%d keys stored after the cleanup, want %d", got, n/2+1)
			}
			for k := range n {
				l, _ := s.tab.Get(k)
				if k%2 == 1 && l != nil || k%2 == 0 && (len(l) != 1 || l[0].V != -k) {
					t.Fatalf("key %d holds %v after the cleanup", k, l)
				}
			}
		})
	}
}

// plainEntry stands for datastream's MapEntry: another Go type of the same
// shape as MapKV.
type plainEntry struct {
	Key   int
	Value int
}

// A snapshot of states declared without TTL restores into the same states
// declared with TTL, on either backend: the values are stamped with the
// time of the restore.
func TestTTLRestoresStateWithoutTTL(t *testing.T) {
	for _, from := range kinds {
		for _, to := range kinds {
			t.Run(from+"->"+to, func(t *testing.T) {
				b := newBackend[string](t, from, 4)
				v, _ := Value[string, int](b, "v")
				l, _ := Value[string, []int](b, "l")
				m, _ := Value[string, []plainEntry](b, "m")
				v.Put("a", 1)
				l.Put("a", []int{1, 2})
				m.Put("a", []plainEntry{{1, 10}, {2, 20}})
				blocks, err := b.Snapshot(0, 4)
				if err != nil {
					t.Fatal(err)
				}
				clock := &fakeClock{}
				clock.set(5000)
				cfg := ttlConfig(clock, time.Second, false, false)
				r := newBackend[string](t, to, 4)
				tv, err1 := NewTTLValue[string, int](r, "v", cfg)
				tl, err2 := NewTTLList[string, int](r, "l", cfg)
				tm, err3 := NewTTLMap[string, int, int](r, "m", cfg)
				if err := errors.Join(err1, err2, err3); err != nil {
					t.Fatal(err)
				}
				for _, blk := range blocks {
					if err := r.Restore(blk, false); err != nil {
						t.Fatal(err)
					}
				}
				if got, want := contents(tv.tab), map[string]stamped[int]{"a": {5000, 1}}; !reflect.DeepEqual(got, want) {
					t.Errorf("value: %v, want %v", got, want)
				}
				if got, want := contents(tl.tab), map[string][]stamped[int]{"a": {{5000, 1}, {5000, 2}}}; !reflect.DeepEqual(got, want) {
					t.Errorf("list: %v, want %v", got, want)
				}
				want := map[string][]stamped[MapKV[int, int]]{"a": {{5000, MapKV[int, int]{1, 10}}, {5000, MapKV[int, int]{2, 20}}}}
				if got := contents(tm.tab); !reflect.DeepEqual(got, want) {
					t.Errorf("map: %v, want %v", got, want)
				}
				clock.set(6000)
				if got, ok := tv.Get("a"); ok {
					t.Errorf("a restored value lives past its time-to-live: %d", got)
				}
			})
		}
	}
}

// A state declared once with TTL and once without, or as two kinds of TTL
// state, is an error; declaring the same TTL state twice returns it.
func TestTTLDeclare(t *testing.T) {
	b := newBackend[string](t, "heap", 4)
	cfg := TTL{TTL: time.Second}
	a, err := NewTTLValue[string, int](b, "v", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := NewTTLValue[string, int](b, "v", cfg); err != nil || again != a {
		t.Fatalf("declared again: %p %v, want %p", again, err, a)
	}
	if _, err := Value[string, int](b, "v"); err == nil {
		t.Fatal("a TTL state read as one without TTL")
	}
	if _, err := NewTTLList[string, int](b, "v", cfg); err == nil {
		t.Fatal("a TTL value declared as a list too")
	}
	if _, err := NewTTLValue[string, int](b, "w", TTL{}); err == nil {
		t.Fatal("a zero time-to-live accepted")
	}
}

// A snapshot of a TTL state does not restore into the state declared
// without TTL (as in Flink): the restore fails and says which state.
func TestTTLStateDoesNotRestoreWithoutTTL(t *testing.T) {
	for _, kind := range kinds {
		b := newBackend[string](t, kind, 4)
		s, _ := NewTTLValue[string, int](b, "v", TTL{TTL: time.Hour})
		s.Put("a", 1)
		blocks, err := b.Snapshot(0, 4)
		if err != nil {
			t.Fatal(err)
		}
		r := newBackend[string](t, kind, 4)
		Value[string, int](r, "v")
		var rerr error
		for _, blk := range blocks {
			if err := r.Restore(blk, false); err != nil {
				rerr = err
			}
		}
		if !errors.Is(rerr, ErrCorrupt) || !strings.Contains(rerr.Error(), `"v"`) {
			t.Fatalf("%s: restoring a TTL state without TTL: %v", kind, rerr)
		}
		t.Logf("%s: %v", kind, rerr)
	}
}

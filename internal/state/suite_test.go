package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"
)

type rich struct {
	Name  string
	N     int32
	F     float64
	OK    bool
	Raw   []byte
	At    time.Time
	D     time.Duration
	Tags  []string
	Inner []inner
}

type inner struct {
	U uint16
	S string
}

type structKey struct {
	A string
	B int64
}

// Random operations on a table, checked against a Go map after each step,
// on both backends; then a snapshot of each restores into the other.
func TestTableAgainstMap(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			b := newBackend[structKey](t, kind, 32)
			tab, err := Value[structKey, rich](b, "r")
			if err != nil {
				t.Fatal(err)
			}
			model := map[structKey]rich{}
			for i := range 3000 {
				k := structKey{A: fmt.Sprint("k", rng.IntN(200)), B: int64(rng.IntN(3))}
				switch op := rng.IntN(10); {
				case op < 6:
					v := randomRich(rng)
					tab.Put(k, v)
					model[k] = v
				case op < 8:
					tab.Delete(k)
					delete(model, k)
				default:
					got, ok, owned := tab.GetOwned(k)
					want, wok := model[k]
					if ok != wok || !reflect.DeepEqual(got, want) {
						t.Fatalf("step %d: Get(%v) = %v %v, want %v %v", i, k, got, ok, want, wok)
					}
					if kind == "pebble" && owned != ok {
						t.Fatalf("a value read from the store is not owned")
					}
				}
			}
			if got := contents(tab); !reflect.DeepEqual(got, model) {
				t.Fatalf("Range: %d entries, want %d", len(got), len(model))
			}
			if tab.Len() != len(model) {
				t.Fatalf("Len %d, want %d", tab.Len(), len(model))
			}
			blocks, err := b.Snapshot(0, 32)
			if err != nil {
				t.Fatal(err)
			}
			for _, other := range kinds {
				r := newBackend[structKey](t, other, 32)
				rt, _ := Value[structKey, rich](r, "r")
				for _, blk := range blocks {
					if err := r.Restore(blk, false); err != nil {
						t.Fatal(err)
					}
				}
				if got := contents(rt); !reflect.DeepEqual(got, model) {
					t.Fatalf("restored into %s: %d entries, want %d", other, len(got), len(model))
				}
			}
		})
	}
}

func randomRich(rng *rand.Rand) rich {
	v := rich{Name: fmt.Sprint("n", rng.IntN(1000)), N: rng.Int32(), F: rng.Float64(), OK: rng.IntN(2) == 0,
		D: time.Duration(rng.Int64())}
	if rng.IntN(2) == 0 {
		v.Raw = []byte(fmt.Sprint(rng.Int()))
	}
	if rng.IntN(2) == 0 {
		v.At = time.Unix(0, rng.Int64()).UTC()
	}
	for range rng.IntN(3) {
		v.Tags = append(v.Tags, fmt.Sprint(rng.IntN(10)))
		v.Inner = append(v.Inner, inner{U: uint16(rng.IntN(1 << 16)), S: "x"})
	}
	return v
}

// The pebble store's directory goes when the backend is closed and the
// last view is released, not before.
func TestLSMClose(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBackend[int64](4, WithLSM(dir))
	if err != nil {
		t.Fatal(err)
	}
	tab, _ := Value[int64, string](b, "s")
	tab.Put(1, "one")
	view := b.View()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	blocks, err := view.Encode(0, 4)
	if err != nil {
		t.Fatalf("encoding a view after the backend closed: %v", err)
	}
	if entries(t, dir) != 1 {
		t.Fatal("the store was removed while a view was open")
	}
	if err := view.Release(); err != nil {
		t.Fatal(err)
	}
	if n := entries(t, dir); n != 0 {
		t.Fatalf("%d entries left in the local dir after close", n)
	}
	r, _ := NewBackend[int64](4)
	rt, _ := Value[int64, string](r, "s")
	for _, blk := range blocks {
		if err := r.Restore(blk, false); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := rt.Get(1); v != "one" {
		t.Fatalf("restored %q", v)
	}
}

func entries(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestRowCodecRoundTrip(t *testing.T) {
	c, err := newRowCodec[rich]()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		v := randomRich(rng)
		b := c.append([]byte("prefix"), &v)
		var got rich
		rest, err := c.decode(append(b[len("prefix"):], "tail"...), &got)
		if err != nil || string(rest) != "tail" || !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip: %+v %q %v, want %+v", got, rest, err, v)
		}
	}
	if _, err := newRowCodec[map[string]int](); err == nil {
		t.Fatal("a map type accepted")
	}
	if _, err := newRowCodec[struct{ x int }](); err == nil {
		t.Fatal("an unexported field accepted")
	}
}

func FuzzRowCodecDecode(f *testing.F) {
	c, err := newRowCodec[rich]()
	if err != nil {
		f.Fatal(err)
	}
	v := randomRich(rand.New(rand.NewPCG(5, 6)))
	f.Add(c.append(nil, &v))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got rich
		if _, err := c.decode(b, &got); err == nil {
			// What decodes encodes to the bytes it was read from.
			if enc := c.append(nil, &got); len(enc) > len(b) {
				t.Fatalf("decoded %d bytes into a value of %d", len(b), len(enc))
			}
		}
	})
}

// Over more keys than the LSM backend's cache holds (so it is written out
// and emptied many times), reads agree with a plain map, and views taken
// along the way hold the state as of when they were taken, whatever is
// written after.
func TestTableBeyondCache(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			b := newBackend[int64](t, kind, 16)
			tab, err := Value[int64, int64](b, "n")
			if err != nil {
				t.Fatal(err)
			}
			model := map[int64]int64{}
			type taken struct {
				view *View[int64]
				want map[int64]int64
			}
			var views []taken
			keys := int64(3 * lsmCacheSize)
			for i := range 60_000 {
				k := rng.Int64N(keys)
				switch op := rng.IntN(10); {
				case op < 5:
					v := rng.Int64()
					tab.Put(k, v)
					model[k] = v
				case op < 6:
					tab.Delete(k)
					delete(model, k)
				default:
					got, ok := tab.Get(k)
					want, wok := model[k]
					if ok != wok || got != want {
						t.Fatalf("step %d: Get(%d) = %d %v, want %d %v", i, k, got, ok, want, wok)
					}
				}
				if i%15_000 == 14_999 {
					views = append(views, taken{b.View(), maps.Clone(model)})
				}
			}
			if got := contents(tab); !maps.Equal(got, model) {
				t.Fatalf("Range: %d entries, want %d", len(got), len(model))
			}
			for n, v := range views {
				blocks, err := v.view.Encode(0, 16)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.view.Release(); err != nil {
					t.Fatal(err)
				}
				r := newBackend[int64](t, "heap", 16)
				rt, _ := Value[int64, int64](r, "n")
				for _, blk := range blocks {
					if err := r.Restore(blk, false); err != nil {
						t.Fatal(err)
					}
				}
				if got := contents(rt); !maps.Equal(got, v.want) {
					t.Fatalf("view %d: %d entries, want %d", n, len(got), len(v.want))
				}
			}
		})
	}
}

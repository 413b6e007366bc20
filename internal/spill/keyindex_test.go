package spill

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// The open-addressing index holds what a Go map holds, through growth,
// for clustered, sequential and random keys, negative ones too.
func TestKeyIndexEqualsMap(t *testing.T) {
	type orderKey int64
	r := rand.New(rand.NewPCG(1, 2))
	for _, gen := range []func(i int) orderKey{
		func(i int) orderKey { return orderKey(i) },
		func(i int) orderKey { return orderKey(i * 4096) },
		func(i int) orderKey { return orderKey(r.Int64N(5000) - 2500) },
		func(i int) orderKey { return orderKey(r.Uint64()) },
	} {
		x := newKeyIndex[orderKey](0)
		if x.ints == nil {
			t.Fatal("an int64 key type is not in the integer index")
		}
		want := map[orderKey]int32{}
		for i := range 20000 {
			k := gen(i)
			v, ok := x.get(k)
			w, wok := want[k]
			if ok != wok || v != w {
				t.Fatalf("get %d: %d %v, want %d %v", k, v, ok, w, wok)
			}
			x.put(k, int32(i))
			want[k] = int32(i)
			if x.len() != len(want) {
				t.Fatalf("%d keys, want %d", x.len(), len(want))
			}
		}
		for k, w := range want {
			if v, ok := x.get(k); !ok || v != w {
				t.Fatalf("get %d: %d %v, want %d", k, v, ok, w)
			}
		}
		for range 1000 {
			k := orderKey(r.Uint64())
			if _, ok := want[k]; ok {
				continue
			}
			if _, ok := x.get(k); ok {
				t.Fatalf("%d found, never put", k)
			}
		}
	}
	if s := newKeyIndex[string](0); s.ints != nil || s.m == nil {
		t.Fatal("string keys not in a map")
	}
	if s := newKeyIndex[int32](0); s.ints != nil {
		t.Fatal("4-byte keys in the 8-byte index")
	}
}

// keyHash spreads integer keys over partitions.
func TestKeyHashSpreads(t *testing.T) {
	h := keyHash[int64](newSeed())
	const parts = 16
	var n [parts]int
	for k := range int64(160000) {
		n[h(k*8)%parts]++
	}
	for p, c := range n {
		if c < 9000 || c > 11000 {
			t.Fatalf("partition %d holds %d of 160000 sequential keys", p, c)
		}
	}
}

func newSeed() maphash.Seed { return maphash.MakeSeed() }

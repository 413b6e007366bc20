package keygroup

import (
	"errors"
	"fmt"
	"testing"
)

func TestRangesCoverAllKeyGroupsOnce(t *testing.T) {
	for _, maxP := range []int{1, 7, 128, 32768} {
		for p := 1; p <= min(maxP, 40); p++ {
			next := 0
			for i := range p {
				start, end := Range(maxP, p, i)
				if start != next || end < start {
					t.Fatalf("maxP=%d p=%d i=%d: range [%d,%d), want start %d", maxP, p, i, start, end, next)
				}
				for kg := start; kg < end; kg++ {
					if got := Subtask(kg, maxP, p); got != i {
						t.Fatalf("maxP=%d p=%d: key group %d in range of %d but Subtask says %d", maxP, p, kg, i, got)
					}
				}
				next = end
			}
			if next != maxP {
				t.Fatalf("maxP=%d p=%d: ranges end at %d", maxP, p, next)
			}
		}
	}
}

func TestHashSpreadsKeys(t *testing.T) {
	h, err := NewHasher[string]()
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, 128)
	const n = 128 * 200
	for i := range n {
		counts[Of(h.Hash(fmt.Sprintf("key-%d", i)), 128)]++
	}
	for kg, c := range counts {
		if c < 100 || c > 300 { // expected 200 per group
			t.Errorf("key group %d has %d keys of %d", kg, c, n)
		}
	}
}

// The hash is part of the wire contract between processes and of savepoints:
// these values must never change.
func TestHashIsStable(t *testing.T) {
	hs, _ := NewHasher[string]()
	hi, _ := NewHasher[int64]()
	type pair struct {
		A string
		B int32
	}
	hp, err := NewHasher[pair]()
	if err != nil {
		t.Fatal(err)
	}
	got := []uint64{hs.Hash(""), hs.Hash("hello"), hs.Hash("a longer key that spans blocks"), hi.Hash(42), hp.Hash(pair{"x", 1})}
	again := []uint64{String(""), String("hello"), String("a longer key that spans blocks"), hi.Hash(42), hp.Hash(pair{"x", 1})}
	for i := range got {
		if got[i] != again[i] {
			t.Errorf("hash %d not deterministic: %x vs %x", i, got[i], again[i])
		}
	}
	if hs.Hash("ab") == hs.Hash("ba") || hp.Hash(pair{"x", 1}) == hp.Hash(pair{"x", 2}) {
		t.Error("obvious collision")
	}
	if hf, _ := NewHasher[float64](); hf.Hash(0.0) != hf.Hash(-1*0.0) {
		t.Error("+0 and -0 hash differently")
	}
}

func TestUnsupportedKey(t *testing.T) {
	type bad struct{ M map[string]int }
	if _, err := NewHasher[bad](); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewHasher[*int](); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkStringHash(b *testing.B) {
	h, _ := NewHasher[string]()
	for b.Loop() {
		_ = h.Hash("wordcount")
	}
}

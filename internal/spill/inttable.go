package spill

import (
	"math/bits"
	"reflect"
	"unsafe"

	"floe/internal/keygroup"
)

// intKeys reports whether K is an 8-byte integer (int64, uint64, int,
// uint, or a type defined on one): such keys are equal exactly when their
// bits are, so they can be hashed and compared as uint64 (asUint64).
func intKeys[K comparable]() bool {
	t := reflect.TypeFor[K]()
	if t.Size() != 8 {
		return false
	}
	switch t.Kind() {
	case reflect.Int64, reflect.Uint64, reflect.Int, reflect.Uint, reflect.Uintptr:
		return true
	}
	return false
}

// asUint64 is k's bits; only for a K of which intKeys holds.
func asUint64[K comparable](k K) uint64 { return *(*uint64)(unsafe.Pointer(&k)) }

// reduce maps a well-mixed h onto [0, n) by its high bits (no division).
func reduce(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// intTable is the index of records by an 8-byte integer key that table uses
// in place of a Go map: open addressing with linear probing over flat
// arrays, a power of two of slots, at most half full. A slot holds a key
// and the index+1 of its newest record; the records of one key are chained
// through table.next, newest first. Key 0 marks an empty slot, so a lookup
// that misses reads only the keys; the records of key 0 itself are held
// beside the slots (zeroHead).
//
// Where the keys spread evenly over their range, a key's home slot is its
// position in the range scaled to the slots ((k-min) * slots / range): keys
// close together sit in slots close together, so a probe side that comes in
// key order (lineitem by order key) walks the slots like an array instead
// of missing the cache on every new key. A build whose keys crowd into few
// home slots (the probes of its inserts grow past a few per key) is redone
// with homes from keygroup.Mix of the key and a seed instead.
type intTable struct {
	keys     []uint64
	heads    []int32
	zeroHead int32
	mask     uint64
	min      uint64
	scale    uint64 // home = hi64((k-min) * scale); 0: home = k-min (the range fits the slots)
	mixed    bool
	seed     uint64
}

// intTableSlots is how many slots a table of n records has.
func intTableSlots(n int) int {
	return 1 << bits.Len(uint(max(2*n-1, 7)))
}

// intTableCost is the estimated bytes of an intTable's slots over n records.
func intTableCost(n int) int64 {
	return int64(intTableSlots(n)) * (8 + 4)
}

func (t *intTable) home(k uint64) uint64 {
	if t.mixed {
		return keygroup.Mix(k^t.seed) & t.mask
	}
	d := k - t.min
	if t.scale != 0 {
		d, _ = bits.Mul64(d, t.scale)
	}
	return d & t.mask
}

// build indexes keys key(0..n-1), linking equal ones through next.
func (t *intTable) build(n int, key func(i int) uint64, next []int32, seed uint64) {
	size := intTableSlots(n)
	t.mask, t.seed, t.mixed, t.scale = uint64(size-1), seed, false, 0
	t.keys, t.heads, t.zeroHead = make([]uint64, size), make([]int32, size), 0
	if n == 0 {
		return
	}
	// The range of the keys as signed numbers: negative and positive int64
	// keys together then make a small range.
	lo, hi := ^uint64(0), uint64(0)
	for i := range n {
		k := key(i) ^ (1 << 63)
		lo, hi = min(lo, k), max(hi, k)
	}
	t.min = lo ^ (1 << 63)
	switch r := hi - lo; {
	case r == ^uint64(0):
		t.mixed = true
	case r >= uint64(size):
		t.scale, _ = bits.Div64(uint64(size), 0, r+1)
	}
	if !t.mixed && t.insertAll(n, key, next, int64(4*n+64)) {
		return
	}
	t.mixed, t.zeroHead = true, 0
	clear(t.keys)
	clear(t.heads)
	t.insertAll(n, key, next, -1)
}

// insertAll inserts the n keys; false when their probes passed limit slots
// in all first (-1: no limit).
func (t *intTable) insertAll(n int, key func(i int) uint64, next []int32, limit int64) bool {
	var probes int64
	for i := range n {
		k := key(i)
		if k == 0 {
			next[i] = t.zeroHead - 1
			t.zeroHead = int32(i + 1)
			continue
		}
		s := t.home(k)
		for {
			if t.keys[s] == 0 {
				t.keys[s], t.heads[s] = k, int32(i+1)
				next[i] = -1
				break
			}
			if t.keys[s] == k {
				next[i] = t.heads[s] - 1
				t.heads[s] = int32(i + 1)
				break
			}
			s = (s + 1) & t.mask
			probes++
		}
		if limit >= 0 && probes > limit {
			return false
		}
	}
	return true
}

// first is the index of k's newest record, -1 when there is none.
func (t *intTable) first(k uint64) int32 {
	if k == 0 {
		return t.zeroHead - 1
	}
	for s := t.home(k); ; s = (s + 1) & t.mask {
		switch t.keys[s] {
		case k:
			return t.heads[s] - 1
		case 0:
			return -1
		}
	}
}

package spill

import (
	"hash/maphash"
	"math/bits"
	"reflect"
	"unsafe"
)

// keyIndex maps keys to non-negative int32s (a group's or a chain's
// index). Keys of an 8-byte integer type (int64, uint64, int, uint, and
// types defined on them: TPC-H's and most join keys) go into an
// open-addressing table with linear probing, which costs a multiply and
// mostly one cache line per lookup; other keys into a Go map.
type keyIndex[K comparable] struct {
	m    map[K]int32
	ints *intIndex
}

// intKey tells whether K is an 8-byte integer type.
func intKey[K comparable]() bool {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.Int64, reflect.Uint64, reflect.Int, reflect.Uint, reflect.Uintptr:
		return unsafe.Sizeof(*new(K)) == 8
	}
	return false
}

// newKeyIndex returns an empty index with room for about n keys.
func newKeyIndex[K comparable](n int) keyIndex[K] {
	if intKey[K]() {
		return keyIndex[K]{ints: newIntIndex(n)}
	}
	return keyIndex[K]{m: make(map[K]int32, n)}
}

func asUint64[K comparable](k K) uint64 { return *(*uint64)(unsafe.Pointer(&k)) }

func (x *keyIndex[K]) get(k K) (int32, bool) {
	if x.ints != nil {
		return x.ints.get(asUint64(k))
	}
	v, ok := x.m[k]
	return v, ok
}

// put sets k's value to v (>= 0).
func (x *keyIndex[K]) put(k K, v int32) {
	if x.ints != nil {
		x.ints.put(asUint64(k), v)
		return
	}
	x.m[k] = v
}

// reset empties x, keeping its room.
func (x *keyIndex[K]) reset() {
	if x.ints != nil {
		clear(x.ints.slots)
		x.ints.n = 0
		return
	}
	if x.m == nil {
		*x = newKeyIndex[K](0)
		return
	}
	clear(x.m)
}

// entryCost is the estimated bytes of one key's entry in an index of K:
// for the integer table a 16-byte slot at a load between a quarter and a
// half, else the key, the value and a Go map's overhead.
func entryCost[K comparable]() int64 {
	if intKey[K]() {
		return 3 * int64(unsafe.Sizeof(intSlot{}))
	}
	return int64(unsafe.Sizeof(*new(K))) + 4 + mapEntryOverhead
}

// room is the bytes the integer table's slots take (0 for a map).
func (x *keyIndex[K]) room() int64 {
	if x.ints != nil {
		return int64(len(x.ints.slots)) * int64(unsafe.Sizeof(intSlot{}))
	}
	return 0
}

func (x *keyIndex[K]) len() int {
	if x.ints != nil {
		return x.ints.n
	}
	return len(x.m)
}

// intIndex is an open-addressing hash table of uint64 keys to int32
// values, at most half full. A slot's val is the value plus one (0:
// empty).
type intIndex struct {
	slots []intSlot
	shift uint   // 64 - log2(len(slots))
	seed  uint64 // keys are mixed with it: each table places keys differently
	n     int
}

type intSlot struct {
	key uint64
	val int32
}

func newIntIndex(n int) *intIndex {
	size := 16
	for size < 2*n {
		size *= 2
	}
	var seed [8]byte
	h := maphash.Bytes(maphash.MakeSeed(), seed[:])
	return &intIndex{slots: make([]intSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size))), seed: h | 1}
}

// slot is where k's probe sequence starts.
func (t *intIndex) slot(k uint64) int {
	return int(((k ^ t.seed) * 0x9E3779B97F4A7C15) >> t.shift)
}

func (t *intIndex) get(k uint64) (int32, bool) {
	mask := len(t.slots) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.val == 0 {
			return 0, false
		}
		if s.key == k {
			return s.val - 1, true
		}
	}
}

func (t *intIndex) put(k uint64, v int32) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := len(t.slots) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.val == 0 {
			s.key, s.val = k, v+1
			t.n++
			return
		}
		if s.key == k {
			s.val = v + 1
			return
		}
	}
}

func (t *intIndex) grow() {
	old := t.slots
	t.slots = make([]intSlot, 2*len(old))
	t.shift--
	mask := len(t.slots) - 1
	for _, s := range old {
		if s.val == 0 {
			continue
		}
		i := t.slot(s.key)
		for t.slots[i].val != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// keyHash returns a hash of K by seed: for 8-byte integer keys a
// multiply-xorshift mix, for others maphash.Comparable.
func keyHash[K comparable](seed maphash.Seed) func(K) uint64 {
	if intKey[K]() {
		var b [8]byte
		s := maphash.Bytes(seed, b[:])
		return func(k K) uint64 {
			h := (asUint64(k) ^ s) * 0x9E3779B97F4A7C15
			h ^= h >> 29
			h *= 0xBF58476D1CE4E5B9
			return h ^ h>>32
		}
	}
	return func(k K) uint64 { return maphash.Comparable(seed, k) }
}

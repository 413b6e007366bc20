// Package keygroup maps keys to key groups and key groups to subtasks.
//
// A key's group is fixed by its hash and the job's max parallelism, never by
// the current parallelism, so keyed state partitioned by key group can be
// redistributed when a job is restored at another parallelism: subtask i of p
// owns the contiguous range Range(maxParallelism, p, i).
//
// Hashes must agree across processes and runs (a TaskManager in another
// process routes the same key to the same subtask), so this package uses its
// own seedless hash rather than hash/maphash.
package keygroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"unsafe"
)

// DefaultMaxParallelism is the number of key groups when a job sets none.
const DefaultMaxParallelism = 128

// ErrUnsupportedKey is returned for key types that cannot be hashed stably.
var ErrUnsupportedKey = errors.New("keygroup: unsupported key type")

// Of returns the key group of a key hash.
func Of(hash uint64, maxParallelism int) int {
	return int(Mix(hash) % uint64(maxParallelism))
}

// Subtask returns the subtask that owns keyGroup at parallelism p.
func Subtask(keyGroup, maxParallelism, p int) int {
	return keyGroup * p / maxParallelism
}

// Range returns the half-open range [start, end) of key groups owned by subtask i of p.
func Range(maxParallelism, p, i int) (start, end int) {
	start = (i*maxParallelism + p - 1) / p
	end = ((i+1)*maxParallelism-1)/p + 1
	return start, end
}

// Hasher hashes values of K stably across processes.
type Hasher[K any] struct {
	h func(p unsafe.Pointer) uint64
}

// Hash returns k's hash.
func (h Hasher[K]) Hash(k K) uint64 { return h.h(unsafe.Pointer(&k)) }

// NewHasher derives the hasher of K: strings, booleans, integers, floats, and
// structs and arrays of those.
func NewHasher[K any]() (Hasher[K], error) {
	t := reflect.TypeFor[K]()
	f, err := hasherOf(t, t.String())
	if err != nil {
		return Hasher[K]{}, err
	}
	return Hasher[K]{h: f}, nil
}

func hasherOf(t reflect.Type, path string) (func(unsafe.Pointer) uint64, error) {
	switch t.Kind() {
	case reflect.String:
		return func(p unsafe.Pointer) uint64 { return String(*(*string)(p)) }, nil
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		return func(p unsafe.Pointer) uint64 { return Mix(uint64(*(*uint8)(p))) }, nil
	case reflect.Int16, reflect.Uint16:
		return func(p unsafe.Pointer) uint64 { return Mix(uint64(*(*uint16)(p))) }, nil
	case reflect.Int32, reflect.Uint32:
		return func(p unsafe.Pointer) uint64 { return Mix(uint64(*(*uint32)(p))) }, nil
	case reflect.Int, reflect.Uint, reflect.Int64, reflect.Uint64, reflect.Uintptr:
		return func(p unsafe.Pointer) uint64 { return Mix(*(*uint64)(p)) }, nil
	case reflect.Float32:
		return func(p unsafe.Pointer) uint64 {
			f := *(*float32)(p)
			if f == 0 { // +0 and -0 are equal keys
				f = 0
			}
			return Mix(uint64(math.Float32bits(f)))
		}, nil
	case reflect.Float64:
		return func(p unsafe.Pointer) uint64 {
			f := *(*float64)(p)
			if f == 0 {
				f = 0
			}
			return Mix(math.Float64bits(f))
		}, nil
	case reflect.Struct:
		type field struct {
			off uintptr
			h   func(unsafe.Pointer) uint64
		}
		var fields []field
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.Name == "_" {
				continue
			}
			fh, err := hasherOf(sf.Type, path+"."+sf.Name)
			if err != nil {
				return nil, err
			}
			fields = append(fields, field{sf.Offset, fh})
		}
		return func(p unsafe.Pointer) uint64 {
			h := uint64(len(fields))
			for _, f := range fields {
				h = combine(h, f.h(unsafe.Add(p, f.off)))
			}
			return h
		}, nil
	case reflect.Array:
		eh, err := hasherOf(t.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		n, size := t.Len(), t.Elem().Size()
		return func(p unsafe.Pointer) uint64 {
			h := uint64(n)
			for i := range n {
				h = combine(h, eh(unsafe.Add(p, uintptr(i)*size)))
			}
			return h
		}, nil
	}
	return nil, fmt.Errorf("%w: %s at %s (use strings, numbers, booleans or structs of them)", ErrUnsupportedKey, t, path)
}

// String hashes s: 8 bytes at a time, multiply and rotate, then a final mix.
func String(s string) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := uint64(len(s)) * m
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for len(b) >= 8 {
		h = bits.RotateLeft64(h^binary.LittleEndian.Uint64(b)*m, 29) * 0xbf58476d1ce4e5b9
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	h = bits.RotateLeft64(h^tail*m, 29) * 0xbf58476d1ce4e5b9
	return Mix(h)
}

func combine(h, v uint64) uint64 { return (h ^ v) * 0x94d049bb133111eb }

// Mix is the splitmix64 finaliser: every input bit affects every output bit.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

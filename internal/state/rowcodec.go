package state

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"time"
	"unsafe"
)

// rowCodec encodes one Go value to bytes and back, for the LSM backend's
// keys and values. It covers the types package codec does (booleans,
// numbers, strings, []byte, time.Time, time.Duration, structs of exported
// fields, slices), and its encoding is self-delimiting: a key's bytes
// followed by more bytes (a map state's user key) still parse, and no
// encoded key is a prefix of another. Derived once per type; the functions
// work through unsafe offsets, without reflection per value. Immutable.
type rowCodec[T any] struct {
	enc encFn
	dec decFn
}

type (
	encFn func(b []byte, p unsafe.Pointer) []byte
	decFn func(b []byte, p unsafe.Pointer) ([]byte, error)
)

func newRowCodec[T any]() (*rowCodec[T], error) {
	t := reflect.TypeFor[T]()
	enc, dec, err := rowFuncs(t, t.String())
	if err != nil {
		return nil, err
	}
	return &rowCodec[T]{enc: enc, dec: dec}, nil
}

// append appends v's encoding to b.
func (c *rowCodec[T]) append(b []byte, v *T) []byte { return c.enc(b, unsafe.Pointer(v)) }

// decode sets *v from the start of b and returns the bytes after it.
func (c *rowCodec[T]) decode(b []byte, v *T) ([]byte, error) { return c.dec(b, unsafe.Pointer(v)) }

var errShort = fmt.Errorf("%w: value truncated", ErrCorrupt)

func fixed(n int, put func(b []byte, p unsafe.Pointer) []byte, get func(b []byte, p unsafe.Pointer)) (encFn, decFn) {
	return put, func(b []byte, p unsafe.Pointer) ([]byte, error) {
		if len(b) < n {
			return nil, errShort
		}
		get(b, p)
		return b[n:], nil
	}
}

var timeType = reflect.TypeFor[time.Time]()

func rowFuncs(t reflect.Type, path string) (encFn, decFn, error) {
	if t == timeType {
		// Nanoseconds since the epoch, in UTC, the zero Time kept apart (as
		// package codec: the location is not kept).
		enc, dec := fixed(9, func(b []byte, p unsafe.Pointer) []byte {
			tm := (*time.Time)(p)
			if tm.IsZero() {
				return append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0)
			}
			return binary.LittleEndian.AppendUint64(append(b, 1), uint64(tm.UnixNano()))
		}, func(b []byte, p unsafe.Pointer) {
			if b[0] == 0 {
				*(*time.Time)(p) = time.Time{}
			} else {
				*(*time.Time)(p) = time.Unix(0, int64(binary.LittleEndian.Uint64(b[1:]))).UTC()
			}
		})
		return enc, dec, nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		enc, dec := fixed(1, func(b []byte, p unsafe.Pointer) []byte { return append(b, *(*uint8)(p)) },
			func(b []byte, p unsafe.Pointer) { *(*uint8)(p) = b[0] })
		if t.Kind() == reflect.Bool {
			dec = func(b []byte, p unsafe.Pointer) ([]byte, error) {
				if len(b) < 1 {
					return nil, errShort
				}
				*(*bool)(p) = b[0] != 0
				return b[1:], nil
			}
		}
		return enc, dec, nil
	case reflect.Int16, reflect.Uint16:
		enc, dec := fixed(2, func(b []byte, p unsafe.Pointer) []byte { return binary.LittleEndian.AppendUint16(b, *(*uint16)(p)) },
			func(b []byte, p unsafe.Pointer) { *(*uint16)(p) = binary.LittleEndian.Uint16(b) })
		return enc, dec, nil
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		enc, dec := fixed(4, func(b []byte, p unsafe.Pointer) []byte { return binary.LittleEndian.AppendUint32(b, *(*uint32)(p)) },
			func(b []byte, p unsafe.Pointer) { *(*uint32)(p) = binary.LittleEndian.Uint32(b) })
		return enc, dec, nil
	case reflect.Int, reflect.Uint, reflect.Int64, reflect.Uint64, reflect.Float64:
		enc, dec := fixed(8, func(b []byte, p unsafe.Pointer) []byte { return binary.LittleEndian.AppendUint64(b, *(*uint64)(p)) },
			func(b []byte, p unsafe.Pointer) { *(*uint64)(p) = binary.LittleEndian.Uint64(b) })
		return enc, dec, nil
	case reflect.String:
		return func(b []byte, p unsafe.Pointer) []byte {
				s := *(*string)(p)
				return append(binary.AppendUvarint(b, uint64(len(s))), s...)
			}, func(b []byte, p unsafe.Pointer) ([]byte, error) {
				n, k := binary.Uvarint(b)
				if k <= 0 || uint64(len(b)-k) < n {
					return nil, errShort
				}
				*(*string)(p) = string(b[k : k+int(n)])
				return b[k+int(n):], nil
			}, nil
	case reflect.Struct:
		type field struct {
			off uintptr
			enc encFn
			dec decFn
		}
		var fields []field
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				return nil, nil, fmt.Errorf("state: unexported field %s.%s: not encodable", path, sf.Name)
			}
			e, d, err := rowFuncs(sf.Type, path+"."+sf.Name)
			if err != nil {
				return nil, nil, err
			}
			fields = append(fields, field{off: sf.Offset, enc: e, dec: d})
		}
		return func(b []byte, p unsafe.Pointer) []byte {
				for _, f := range fields {
					b = f.enc(b, unsafe.Add(p, f.off))
				}
				return b
			}, func(b []byte, p unsafe.Pointer) ([]byte, error) {
				var err error
				for _, f := range fields {
					if b, err = f.dec(b, unsafe.Add(p, f.off)); err != nil {
						return nil, err
					}
				}
				return b, nil
			}, nil
	case reflect.Slice:
		// Length+1 first, 0 for a nil slice (nil and empty stay apart, as in
		// package codec).
		if t.Elem().Kind() == reflect.Uint8 {
			return func(b []byte, p unsafe.Pointer) []byte {
					s := *(*[]byte)(p)
					if s == nil {
						return append(b, 0)
					}
					return append(binary.AppendUvarint(b, uint64(len(s))+1), s...)
				}, func(b []byte, p unsafe.Pointer) ([]byte, error) {
					n, k := binary.Uvarint(b)
					if k <= 0 || (n > 0 && uint64(len(b)-k) < n-1) {
						return nil, errShort
					}
					if n == 0 {
						*(*[]byte)(p) = nil
						return b[k:], nil
					}
					*(*[]byte)(p) = append([]byte{}, b[k:k+int(n-1)]...)
					return b[k+int(n-1):], nil
				}, nil
		}
		ee, ed, err := rowFuncs(t.Elem(), path+"[]")
		if err != nil {
			return nil, nil, err
		}
		size := t.Elem().Size()
		return func(b []byte, p unsafe.Pointer) []byte {
				h := (*sliceHeader)(p)
				if h.data == nil {
					return append(b, 0)
				}
				b = binary.AppendUvarint(b, uint64(h.len)+1)
				for i := range h.len {
					b = ee(b, unsafe.Add(h.data, uintptr(i)*size))
				}
				return b
			}, func(b []byte, p unsafe.Pointer) ([]byte, error) {
				n, k := binary.Uvarint(b)
				if k <= 0 || n > uint64(len(b)-k)+1 || n > math.MaxInt32 {
					// A count beyond the bytes left is corrupt (elements of
					// empty structs, which take none, are not supported).
					return nil, errShort
				}
				b = b[k:]
				if n == 0 {
					reflect.NewAt(t, p).Elem().SetZero()
					return b, nil
				}
				s := reflect.MakeSlice(t, int(n-1), int(n-1))
				reflect.NewAt(t, p).Elem().Set(s)
				data := s.UnsafePointer()
				var err error
				for i := range int(n - 1) {
					if b, err = ed(b, unsafe.Add(data, uintptr(i)*size)); err != nil {
						return nil, err
					}
				}
				return b, nil
			}, nil
	}
	return nil, nil, fmt.Errorf("state: %s at %s: not encodable (use numbers, strings, booleans, []byte, time.Time, structs and slices of them)", t, path)
}

// sliceHeader is the layout of a Go slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

package spill

import (
	"reflect"
	"strings"
	"sync"
	"unsafe"
)

// shape is what the package knows of a type's memory, derived once per type
// by reflection: the fixed size of a value, plus functions over the parts a
// value points to (string bytes, slice backing arrays, map entries). Values
// without such parts cost one constant.
type shape struct {
	fixed int64
	// extra returns the bytes a value at p refers to; nil when there are none.
	extra func(p unsafe.Pointer) int64
	// own replaces the parts of the value at p that may be shared with other
	// values (strings and slices decoded from one batch share a buffer) with
	// copies of its own; nil when there is nothing to copy.
	own func(p unsafe.Pointer)
}

var shapes sync.Map // reflect.Type -> *shape

func shapeOf[T any]() *shape {
	t := reflect.TypeFor[T]()
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s, _ := shapes.LoadOrStore(t, deriveShape(t))
	return s.(*shape)
}

// size is the estimated bytes of *v: its fixed size and what it refers to.
func (s *shape) size(p unsafe.Pointer) int64 {
	if s.extra == nil {
		return s.fixed
	}
	return s.fixed + s.extra(p)
}

func deriveShape(t reflect.Type) *shape {
	s := &shape{fixed: int64(t.Size())}
	s.extra, s.own = parts(t)
	return s
}

// mapEntryOverhead approximates a Go map's cost per entry beyond its key and
// value (control bytes, group slack at the load factor).
const mapEntryOverhead = 16

// parts returns the extra and own functions of t (nil, nil when a t refers
// to nothing).
func parts(t reflect.Type) (extra func(unsafe.Pointer) int64, own func(unsafe.Pointer)) {
	switch t.Kind() {
	case reflect.String:
		return func(p unsafe.Pointer) int64 { return int64(len(*(*string)(p))) },
			func(p unsafe.Pointer) {
				if sp := (*string)(p); len(*sp) > 0 {
					*sp = strings.Clone(*sp)
				}
			}
	case reflect.Slice:
		et := t.Elem()
		esize := et.Size()
		eextra, eown := parts(et)
		extra = func(p unsafe.Pointer) int64 {
			h := (*sliceHeader)(p)
			n := int64(h.cap) * int64(esize)
			if eextra != nil {
				for i := range h.len {
					n += eextra(unsafe.Add(h.data, uintptr(i)*esize))
				}
			}
			return n
		}
		own = func(p unsafe.Pointer) {
			h := (*sliceHeader)(p)
			if h.data == nil {
				return
			}
			cp := reflect.MakeSlice(t, h.len, h.len)
			if h.len > 0 {
				reflect.Copy(cp, reflect.NewAt(t, p).Elem())
			}
			reflect.NewAt(t, p).Elem().Set(cp)
			if eown != nil {
				h = (*sliceHeader)(p)
				for i := range h.len {
					eown(unsafe.Add(h.data, uintptr(i)*esize))
				}
			}
		}
		return extra, own
	case reflect.Array:
		eextra, eown := parts(t.Elem())
		if eextra == nil {
			return nil, nil
		}
		n, esize := t.Len(), t.Elem().Size()
		return func(p unsafe.Pointer) int64 {
				var s int64
				for i := range n {
					s += eextra(unsafe.Add(p, uintptr(i)*esize))
				}
				return s
			}, func(p unsafe.Pointer) {
				for i := range n {
					eown(unsafe.Add(p, uintptr(i)*esize))
				}
			}
	case reflect.Struct:
		type field struct {
			off   uintptr
			extra func(unsafe.Pointer) int64
			own   func(unsafe.Pointer)
		}
		var fs []field
		for i := range t.NumField() {
			f := t.Field(i)
			e, o := parts(f.Type)
			if e != nil {
				fs = append(fs, field{f.Offset, e, o})
			}
		}
		if len(fs) == 0 {
			return nil, nil
		}
		return func(p unsafe.Pointer) int64 {
				var s int64
				for _, f := range fs {
					s += f.extra(unsafe.Add(p, f.off))
				}
				return s
			}, func(p unsafe.Pointer) {
				for _, f := range fs {
					if f.own != nil {
						f.own(unsafe.Add(p, f.off))
					}
				}
			}
	case reflect.Map:
		per := int64(t.Key().Size() + t.Elem().Size() + mapEntryOverhead)
		// Keys and values a map holds are not walked: maps do not cross the
		// spill codec, so they only appear in accumulators kept in memory,
		// and their entries' fixed size is the bulk of them.
		return func(p unsafe.Pointer) int64 { return int64(reflect.NewAt(t, p).Elem().Len()) * per }, nil
	}
	// Pointers, interfaces, channels and functions: what they point to may be
	// shared, so it is not counted (the codec refuses them anyway).
	return nil, nil
}

type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

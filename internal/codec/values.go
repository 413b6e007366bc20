package codec

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// valueCodec encodes and decodes values of one Go type at a pointer.
type valueCodec interface {
	dataType() arrow.DataType
	// appendAll appends n values found at base + i*stride + off.
	appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr)
	// decodeAll writes a's n values to base + i*stride + off.
	decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr)
	appendOne(b array.Builder, p unsafe.Pointer)
	decodeOne(a arrow.Array, i int, p unsafe.Pointer)
}

// directCodec is a valueCodec that can also build a whole column straight
// into buffers of its own, without a builder: it writes every byte of them,
// so they need no zeroing. get returns a buffer of n bytes that stays valid
// until the column has been written out.
type directCodec interface {
	buildAll(base unsafe.Pointer, n int, stride, off uintptr, get func(n int) []byte) (arrow.Array, bool)
}

func valueCodecOf(t reflect.Type, path string) (valueCodec, error) {
	switch t {
	case timeType:
		return timeCodec{}, nil
	case durationType:
		return prim[int64](arrow.FixedWidthTypes.Duration_ns,
			func(b array.Builder, v []int64) {
				b.(*array.DurationBuilder).AppendValues(unsafe.Slice((*arrow.Duration)(unsafe.Pointer(unsafe.SliceData(v))), len(v)), nil)
			},
			func(a arrow.Array) []int64 {
				d := a.(*array.Duration).DurationValues()
				return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(d))), len(d))
			}), nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return boolCodec{}, nil
	case reflect.Int8:
		return prim[int8](arrow.PrimitiveTypes.Int8, func(b array.Builder, v []int8) { b.(*array.Int8Builder).AppendValues(v, nil) },
			func(a arrow.Array) []int8 { return a.(*array.Int8).Int8Values() }), nil
	case reflect.Int16:
		return prim[int16](arrow.PrimitiveTypes.Int16, func(b array.Builder, v []int16) { b.(*array.Int16Builder).AppendValues(v, nil) },
			func(a arrow.Array) []int16 { return a.(*array.Int16).Int16Values() }), nil
	case reflect.Int32:
		return prim[int32](arrow.PrimitiveTypes.Int32, func(b array.Builder, v []int32) { b.(*array.Int32Builder).AppendValues(v, nil) },
			func(a arrow.Array) []int32 { return a.(*array.Int32).Int32Values() }), nil
	case reflect.Int64, reflect.Int:
		return prim[int64](arrow.PrimitiveTypes.Int64, func(b array.Builder, v []int64) { b.(*array.Int64Builder).AppendValues(v, nil) },
			func(a arrow.Array) []int64 { return a.(*array.Int64).Int64Values() }), nil
	case reflect.Uint8:
		return prim[uint8](arrow.PrimitiveTypes.Uint8, func(b array.Builder, v []uint8) { b.(*array.Uint8Builder).AppendValues(v, nil) },
			func(a arrow.Array) []uint8 { return a.(*array.Uint8).Uint8Values() }), nil
	case reflect.Uint16:
		return prim[uint16](arrow.PrimitiveTypes.Uint16, func(b array.Builder, v []uint16) { b.(*array.Uint16Builder).AppendValues(v, nil) },
			func(a arrow.Array) []uint16 { return a.(*array.Uint16).Uint16Values() }), nil
	case reflect.Uint32:
		return prim[uint32](arrow.PrimitiveTypes.Uint32, func(b array.Builder, v []uint32) { b.(*array.Uint32Builder).AppendValues(v, nil) },
			func(a arrow.Array) []uint32 { return a.(*array.Uint32).Uint32Values() }), nil
	case reflect.Uint64, reflect.Uint:
		return prim[uint64](arrow.PrimitiveTypes.Uint64, func(b array.Builder, v []uint64) { b.(*array.Uint64Builder).AppendValues(v, nil) },
			func(a arrow.Array) []uint64 { return a.(*array.Uint64).Uint64Values() }), nil
	case reflect.Float32:
		return prim[float32](arrow.PrimitiveTypes.Float32, func(b array.Builder, v []float32) { b.(*array.Float32Builder).AppendValues(v, nil) },
			func(a arrow.Array) []float32 { return a.(*array.Float32).Float32Values() }), nil
	case reflect.Float64:
		return prim[float64](arrow.PrimitiveTypes.Float64, func(b array.Builder, v []float64) { b.(*array.Float64Builder).AppendValues(v, nil) },
			func(a arrow.Array) []float64 { return a.(*array.Float64).Float64Values() }), nil
	case reflect.String:
		return stringCodec{}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return bytesCodec{}, nil
		}
		ec, err := valueCodecOf(t.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		return &listCodec{t: t, elem: ec, esize: t.Elem().Size(), dt: arrow.ListOf(ec.dataType())}, nil
	case reflect.Struct:
		sc := &structCodec{}
		var fields []arrow.Field
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return nil, fmt.Errorf("%w: unexported field %s.%s at %s (records cross processes; export it)", ErrUnsupportedType, t, f.Name, path)
			}
			name := f.Name
			if tag := f.Tag.Get("floe"); tag != "" {
				name = tag
			}
			fc, err := valueCodecOf(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			sc.fields = append(sc.fields, fc)
			sc.offs = append(sc.offs, f.Offset)
			fields = append(fields, arrow.Field{Name: name, Type: fc.dataType(), Nullable: true})
		}
		sc.dt = arrow.StructOf(fields...)
		return sc, nil
	}
	return nil, fmt.Errorf("%w: %s at %s (use structs of numbers, strings, bools, []byte, time.Time, time.Duration and slices)", ErrUnsupportedType, t, path)
}

// primCodec is a fixed-width number stored as is. Columns are gathered into
// a Go slice and appended in one copy.
type primCodec[N any] struct {
	dt      arrow.DataType
	add     func(array.Builder, []N)
	values  func(arrow.Array) []N
	scratch sync.Pool // of *[]N, for appendAll
}

func prim[N any](dt arrow.DataType, add func(array.Builder, []N), values func(arrow.Array) []N) *primCodec[N] {
	return &primCodec[N]{dt: dt, add: add, values: values}
}

func (c *primCodec[N]) dataType() arrow.DataType { return c.dt }

func (c *primCodec[N]) appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr) {
	// Through a pooled slice: the codec is shared by every goroutine, and a
	// slice made per call was most of what a nested struct's encoding
	// allocated (an array on the stack escapes through c.add).
	sp, _ := c.scratch.Get().(*[]N)
	if sp == nil {
		sp = new([]N)
	}
	vals := slices.Grow((*sp)[:0], n)[:n]
	// Never form a pointer past the last row: the GC checks pointers.
	for i := range vals {
		vals[i] = *(*N)(unsafe.Add(base, uintptr(i)*stride+off))
	}
	c.add(b, vals)
	if cap(vals) <= 1<<16 {
		*sp = vals[:0]
		c.scratch.Put(sp)
	}
}

func (c *primCodec[N]) buildAll(base unsafe.Pointer, n int, stride, off uintptr, get func(int) []byte) (arrow.Array, bool) {
	size := int(unsafe.Sizeof(*new(N)))
	buf := get(n * size)
	if n > 0 {
		vals := unsafe.Slice((*N)(unsafe.Pointer(unsafe.SliceData(buf))), n)
		for i := range vals {
			vals[i] = *(*N)(unsafe.Add(base, uintptr(i)*stride+off))
		}
	}
	data := array.NewData(c.dt, n, []*memory.Buffer{nil, memory.NewBufferBytes(buf)}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data), true
}

func (c *primCodec[N]) decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr) {
	vals := c.values(a)[:n]
	for i, v := range vals {
		*(*N)(unsafe.Add(base, uintptr(i)*stride+off)) = v
	}
}

func (c *primCodec[N]) appendOne(b array.Builder, p unsafe.Pointer) {
	c.add(b, []N{*(*N)(p)})
}

func (c *primCodec[N]) decodeOne(a arrow.Array, i int, p unsafe.Pointer) { *(*N)(p) = c.values(a)[i] }

type boolCodec struct{}

func (boolCodec) dataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (boolCodec) appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr) {
	bb := b.(*array.BooleanBuilder)
	bb.Reserve(n)
	for i := range n {
		bb.UnsafeAppend(*(*bool)(unsafe.Add(base, uintptr(i)*stride+off)))
	}
}
func (boolCodec) decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr) {
	ba := a.(*array.Boolean)
	for i := range n {
		*(*bool)(unsafe.Add(base, uintptr(i)*stride+off)) = ba.Value(i)
	}
}
func (boolCodec) appendOne(b array.Builder, p unsafe.Pointer) {
	b.(*array.BooleanBuilder).Append(*(*bool)(p))
}
func (boolCodec) decodeOne(a arrow.Array, i int, p unsafe.Pointer) {
	*(*bool)(p) = a.(*array.Boolean).Value(i)
}

type stringCodec struct{}

func (stringCodec) dataType() arrow.DataType { return arrow.BinaryTypes.String }
func (stringCodec) appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr) {
	sb := b.(*array.StringBuilder)
	total := 0
	for i := range n {
		total += len(*(*string)(unsafe.Add(base, uintptr(i)*stride+off)))
	}
	sb.Reserve(n)
	sb.ReserveData(total)
	for i := range n {
		sb.Append(*(*string)(unsafe.Add(base, uintptr(i)*stride+off)))
	}
}

// buildAll writes the offsets and the characters of the column in one pass
// each (a StringBuilder checks capacity and the null bitmap per value).
func (stringCodec) buildAll(base unsafe.Pointer, n int, stride, off uintptr, get func(int) []byte) (arrow.Array, bool) {
	total := 0
	for i := range n {
		total += len(*(*string)(unsafe.Add(base, uintptr(i)*stride+off)))
	}
	if total > math.MaxInt32 {
		return nil, false // beyond String's 32-bit offsets: the builder reports it
	}
	ob := get(4 * (n + 1))
	offs := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(ob))), n+1)
	chars := get(total)
	pos := 0
	for i := range n {
		offs[i] = int32(pos)
		pos += copy(chars[pos:], *(*string)(unsafe.Add(base, uintptr(i)*stride+off)))
	}
	offs[n] = int32(pos)
	data := array.NewData(arrow.BinaryTypes.String, n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(ob), memory.NewBufferBytes(chars)}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data), true
}

// decodeAll copies the column's character data once and slices it: one
// allocation per batch instead of one per string.
func (stringCodec) decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr) {
	sa := a.(*array.String)
	offs := sa.ValueOffsets()
	data := string(sa.ValueBytes())
	first := offs[0]
	for i := range n {
		*(*string)(unsafe.Add(base, uintptr(i)*stride+off)) = data[offs[i]-first : offs[i+1]-first]
	}
}
func (stringCodec) appendOne(b array.Builder, p unsafe.Pointer) {
	b.(*array.StringBuilder).Append(*(*string)(p))
}
func (stringCodec) decodeOne(a arrow.Array, i int, p unsafe.Pointer) {
	*(*string)(p) = string([]byte(a.(*array.String).Value(i)))
}

type bytesCodec struct{}

func (bytesCodec) dataType() arrow.DataType { return arrow.BinaryTypes.Binary }
func (c bytesCodec) appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr) {
	b.Reserve(n)
	for i := range n {
		c.appendOne(b, unsafe.Add(base, uintptr(i)*stride+off))
	}
}
func (c bytesCodec) decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr) {
	for i := range n {
		c.decodeOne(a, i, unsafe.Add(base, uintptr(i)*stride+off))
	}
}
func (bytesCodec) appendOne(b array.Builder, p unsafe.Pointer) {
	v := *(*[]byte)(p)
	bb := b.(*array.BinaryBuilder)
	if v == nil {
		bb.AppendNull()
		return
	}
	bb.Append(v)
}
func (bytesCodec) decodeOne(a arrow.Array, i int, p unsafe.Pointer) {
	ba := a.(*array.Binary)
	if ba.IsNull(i) {
		*(*[]byte)(p) = nil
		return
	}
	v := ba.Value(i)
	out := make([]byte, len(v))
	copy(out, v)
	*(*[]byte)(p) = out
}

// timeCodec stores time.Time as UTC nanoseconds; the zero Time is null.
type timeCodec struct{}

var timestampNS = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}

func (timeCodec) dataType() arrow.DataType { return timestampNS }
func (c timeCodec) appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr) {
	b.Reserve(n)
	for i := range n {
		c.appendOne(b, unsafe.Add(base, uintptr(i)*stride+off))
	}
}
func (c timeCodec) decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr) {
	for i := range n {
		c.decodeOne(a, i, unsafe.Add(base, uintptr(i)*stride+off))
	}
}
func (timeCodec) appendOne(b array.Builder, p unsafe.Pointer) {
	t := *(*time.Time)(p)
	tb := b.(*array.TimestampBuilder)
	if t.IsZero() {
		tb.AppendNull()
		return
	}
	tb.Append(arrow.Timestamp(t.UnixNano()))
}
func (timeCodec) decodeOne(a arrow.Array, i int, p unsafe.Pointer) {
	ta := a.(*array.Timestamp)
	if ta.IsNull(i) {
		*(*time.Time)(p) = time.Time{}
		return
	}
	*(*time.Time)(p) = time.Unix(0, int64(ta.Value(i))).UTC()
}

// structCodec is a nested struct as an Arrow Struct.
type structCodec struct {
	dt     arrow.DataType
	fields []valueCodec
	offs   []uintptr
}

func (c *structCodec) dataType() arrow.DataType { return c.dt }
func (c *structCodec) appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr) {
	sb := b.(*array.StructBuilder)
	sb.Reserve(n)
	for range n {
		sb.Append(true)
	}
	for j, f := range c.fields {
		f.appendAll(sb.FieldBuilder(j), base, n, stride, off+c.offs[j])
	}
}
func (c *structCodec) decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr) {
	sa := a.(*array.Struct)
	for j, f := range c.fields {
		f.decodeAll(sa.Field(j), base, n, stride, off+c.offs[j])
	}
}
func (c *structCodec) appendOne(b array.Builder, p unsafe.Pointer) {
	sb := b.(*array.StructBuilder)
	sb.Append(true)
	for j, f := range c.fields {
		f.appendOne(sb.FieldBuilder(j), unsafe.Add(p, c.offs[j]))
	}
}
func (c *structCodec) decodeOne(a arrow.Array, i int, p unsafe.Pointer) {
	sa := a.(*array.Struct)
	for j, f := range c.fields {
		f.decodeOne(sa.Field(j), i, unsafe.Add(p, c.offs[j]))
	}
}

// listCodec is a slice as an Arrow List; a nil slice is null.
type listCodec struct {
	t     reflect.Type
	elem  valueCodec
	esize uintptr
	dt    arrow.DataType
}

func (c *listCodec) dataType() arrow.DataType { return c.dt }
func (c *listCodec) appendAll(b array.Builder, base unsafe.Pointer, n int, stride, off uintptr) {
	b.Reserve(n)
	for i := range n {
		c.appendOne(b, unsafe.Add(base, uintptr(i)*stride+off))
	}
}
func (c *listCodec) decodeAll(a arrow.Array, base unsafe.Pointer, n int, stride, off uintptr) {
	for i := range n {
		c.decodeOne(a, i, unsafe.Add(base, uintptr(i)*stride+off))
	}
}

// sliceHeader mirrors the runtime's slice layout.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

func (c *listCodec) appendOne(b array.Builder, p unsafe.Pointer) {
	lb := b.(*array.ListBuilder)
	h := (*sliceHeader)(p)
	if h.data == nil {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	if h.len > 0 {
		c.elem.appendAll(lb.ValueBuilder(), h.data, h.len, c.esize, 0)
	}
}
func (c *listCodec) decodeOne(a arrow.Array, i int, p unsafe.Pointer) {
	la := a.(*array.List)
	if la.IsNull(i) {
		reflect.NewAt(c.t, p).Elem().SetZero()
		return
	}
	start, end := la.ValueOffsets(i)
	if start < 0 || end < start || end > int64(la.ListValues().Len()) {
		// Offsets come from the message: check them before allocating.
		panic(fmt.Sprintf("list %d: values %d to %d of %d", i, start, end, la.ListValues().Len()))
	}
	n := int(end - start)
	s := reflect.MakeSlice(c.t, n, n)
	reflect.NewAt(c.t, p).Elem().Set(s)
	if n == 0 {
		return
	}
	vals := array.NewSlice(la.ListValues(), start, end)
	defer vals.Release()
	c.elem.decodeAll(vals, (*sliceHeader)(p).data, n, c.esize, 0)
}

package codec

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ErrUnsupportedType is wrapped by errors about types without an Arrow mapping.
var ErrUnsupportedType = errors.New("codec: unsupported type")

// ErrMalformed is wrapped by errors about records or messages that do not
// match the codec's schema.
var ErrMalformed = errors.New("codec: malformed input")

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	cache        sync.Map // reflect.Type -> *codecOrErr
)

type codecOrErr struct {
	c   any
	err error
}

// Codec converts between []T and Arrow records. It is immutable.
type Codec[T any] struct {
	schema *arrow.Schema
	cols   []column
	stride uintptr
}

// column is one top-level column: a value codec at an offset in T.
type column struct {
	name string
	off  uintptr
	vc   valueCodec
}

// For returns the codec of T, derived on first use.
func For[T any]() (*Codec[T], error) {
	t := reflect.TypeFor[T]()
	if v, ok := cache.Load(t); ok {
		ce := v.(*codecOrErr)
		if ce.err != nil {
			return nil, ce.err
		}
		return ce.c.(*Codec[T]), nil
	}
	c, err := derive[T](t)
	v, _ := cache.LoadOrStore(t, &codecOrErr{c: c, err: err})
	ce := v.(*codecOrErr)
	if ce.err != nil {
		return nil, ce.err
	}
	return ce.c.(*Codec[T]), nil
}

func derive[T any](t reflect.Type) (*Codec[T], error) {
	c := &Codec[T]{stride: t.Size()}
	if t.Kind() == reflect.Struct && t != timeType {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Name
			if tag := f.Tag.Get("floe"); tag != "" {
				name = tag
			}
			if !f.IsExported() {
				return nil, fmt.Errorf("%w: unexported field %s.%s (records cross processes; export it)", ErrUnsupportedType, t, f.Name)
			}
			vc, err := valueCodecOf(f.Type, t.String()+"."+f.Name)
			if err != nil {
				return nil, err
			}
			c.cols = append(c.cols, column{name: name, off: f.Offset, vc: vc})
		}
	} else {
		vc, err := valueCodecOf(t, t.String())
		if err != nil {
			return nil, err
		}
		c.cols = []column{{name: "value", vc: vc}}
	}
	fields := make([]arrow.Field, len(c.cols))
	for i, col := range c.cols {
		fields[i] = arrow.Field{Name: col.name, Type: col.vc.dataType(), Nullable: true}
	}
	c.schema = arrow.NewSchema(fields, nil)
	return c, nil
}

// Schema is the Arrow schema of T's records.
func (c *Codec[T]) Schema() *arrow.Schema { return c.schema }

// Encode builds one record batch of rows; the caller releases it.
func (c *Codec[T]) Encode(mem memory.Allocator, rows []T) (arrow.Record, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	b := array.NewRecordBuilder(mem, c.schema)
	defer b.Release()
	return c.encodeWith(b, rows), nil
}

func (c *Codec[T]) encodeWith(b *array.RecordBuilder, rows []T) arrow.Record {
	n := len(rows)
	var base unsafe.Pointer
	if n > 0 {
		base = unsafe.Pointer(&rows[0])
	}
	for i, col := range c.cols {
		col.vc.appendAll(b.Field(i), base, n, c.stride, col.off)
	}
	return b.NewRecord()
}

// encodeDirect is encodeWith for a record that is written out and released
// before get's buffers are reused: columns that can are built straight into
// get's buffers, the others through b.
func (c *Codec[T]) encodeDirect(b *array.RecordBuilder, rows []T, get func(int) []byte) arrow.Record {
	n := len(rows)
	var base unsafe.Pointer
	if n > 0 {
		base = unsafe.Pointer(&rows[0])
	}
	cols := make([]arrow.Array, len(c.cols))
	for i, col := range c.cols {
		if d, ok := col.vc.(directCodec); ok {
			if a, ok := d.buildAll(base, n, c.stride, col.off, get); ok {
				cols[i] = a
				continue
			}
		}
		fb := b.Field(i)
		col.vc.appendAll(fb, base, n, c.stride, col.off)
		cols[i] = fb.NewArray()
	}
	rec := array.NewRecord(c.schema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	return rec
}

// Decode appends rec's rows to dst and returns it. Nothing in dst refers to
// rec's memory afterwards.
func (c *Codec[T]) Decode(rec arrow.Record, dst []T) (out []T, err error) {
	if int(rec.NumCols()) != len(c.cols) {
		return dst, fmt.Errorf("%w: record has %d columns, %T has %d", ErrMalformed, rec.NumCols(), *new(T), len(c.cols))
	}
	for i, col := range c.cols {
		if !arrow.TypeEqual(rec.Column(i).DataType(), col.vc.dataType()) {
			return dst, fmt.Errorf("%w: column %q is %s, want %s", ErrMalformed, col.name, rec.Column(i).DataType(), col.vc.dataType())
		}
	}
	n := int(rec.NumRows())
	for i := range c.cols {
		if rec.Column(i).Len() != n {
			return dst, fmt.Errorf("%w: column %d has %d values for %d rows", ErrMalformed, i, rec.Column(i).Len(), n)
		}
	}
	orig := dst
	defer func() { // arrow panics on some inconsistent arrays
		if p := recover(); p != nil {
			out, err = orig, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	clear(dst[start:]) // decoders set fields; lists and nulls expect zero values
	if n == 0 {
		return dst, nil
	}
	base := unsafe.Pointer(&dst[start])
	for i, col := range c.cols {
		col.vc.decodeAll(rec.Column(i), base, n, c.stride, col.off)
	}
	return dst, nil
}

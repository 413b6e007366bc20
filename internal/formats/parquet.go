package formats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"floe/internal/fsys"
)

// Parquet is the Parquet format of records T: T's fields read the top-level
// columns of the same name (case-insensitively); other columns are not
// read. Column types convert to field types where no information is lost
// in kind: integers to integers (a value out of the field's range is a
// RecordError) and floats, floats and decimals to floats, decimals of scale
// 0 to integers, dates and timestamps to time.Time, durations to
// time.Duration, strings and binaries to string and []byte, and strings to
// any field through its text form. Nulls leave the zero value. It is
// immutable and safe for concurrent use.
//
// Row groups whose columns are flat and encoded PLAIN or with
// dictionaries (as most writers do) are decoded without Arrow arrays
// (pqdirect.go); others through pqarrow.
type Parquet[T any] struct {
	fs        *fields
	arrowOnly bool // read every row group through pqarrow (tests compare the two)
}

// NewParquet checks T.
func NewParquet[T any]() (*Parquet[T], error) {
	fs, err := fieldsOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	for _, f := range fs.list {
		if f.kind == kindOther {
			return nil, fmt.Errorf("%w: field %s.%s is a %s (Parquet fields are numbers, bools, strings, []byte, time.Time, time.Duration)",
				ErrUnsupportedType, fs.typ, f.goName, f.typ)
		}
	}
	return &Parquet[T]{fs: fs}, nil
}

// footerKey names one version of a file: its path, size and modification
// time.
type footerKey struct {
	path string
	size int64
	mod  int64
}

// footers caches parsed Parquet footers: a file is opened once per row
// group (split), and parsing a footer of many row groups and columns costs
// more than reading a small row group's column. At most maxFooters are
// kept (then the cache starts again).
var footers struct {
	sync.Mutex
	m map[footerKey]*metadata.FileMetaData
}

const maxFooters = 256

// openParquet opens the Parquet file path.
func openParquet(ctx context.Context, path string) (*file.Reader, io.Closer, error) {
	fsy, p, err := fsys.Resolve(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := fsy.Stat(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	key := footerKey{path: path, size: st.Size, mod: st.ModTime.UnixNano()}
	f, err := fsy.Open(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	ra, ok := f.(parquet.ReaderAtSeeker)
	if !ok {
		f.Close()
		return nil, nil, fmt.Errorf("%s: the filesystem cannot read at offsets", path)
	}
	var opts []file.ReadOption
	footers.Lock()
	md := footers.m[key]
	footers.Unlock()
	if md != nil {
		opts = append(opts, file.WithMetadata(md))
	}
	pf, err := newParquetReader(ra, opts)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a Parquet file: %w", path, err)
	}
	if md == nil {
		footers.Lock()
		if footers.m == nil || len(footers.m) >= maxFooters {
			footers.m = map[footerKey]*metadata.FileMetaData{}
		}
		footers.m[key] = pf.MetaData()
		footers.Unlock()
	}
	return pf, f, nil
}

func newParquetReader(ra parquet.ReaderAtSeeker, opts []file.ReadOption) (pf *file.Reader, err error) {
	defer catch(&err)
	return file.NewParquetReader(ra, opts...)
}

// Splits makes one split per row group (size is not used), and checks that
// every file's columns fit T.
func (pq *Parquet[T]) Splits(ctx context.Context, files []string, _ int64) ([]Split, error) {
	var splits []Split
	for _, path := range files {
		pf, c, err := openParquet(ctx, path)
		if err != nil {
			return nil, err
		}
		more, err := pq.fileSplits(path, pf)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		splits = append(splits, more...)
	}
	return splits, nil
}

// fileSplits checks that pf's columns fit T and returns its row groups.
func (pq *Parquet[T]) fileSplits(path string, pf *file.Reader) (splits []Split, err error) {
	defer catch(&err)
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	if _, err := pq.leaves(fr); err != nil {
		return nil, err
	}
	for g := range pf.NumRowGroups() {
		splits = append(splits, Split{Path: path, RowGroup: g, Rows: pf.MetaData().RowGroup(g).NumRows()})
	}
	return splits, nil
}

// leaves returns the leaf column index of each of T's fields.
func (pq *Parquet[T]) leaves(fr *pqarrow.FileReader) ([]int, error) {
	byName := map[string]*pqarrow.SchemaField{}
	var names []string
	for i := range fr.Manifest.Fields {
		sf := &fr.Manifest.Fields[i]
		byName[strings.ToLower(sf.Field.Name)] = sf
		names = append(names, sf.Field.Name)
	}
	cols := make([]int, len(pq.fs.list))
	var missing []string
	for k, f := range pq.fs.list {
		sf, ok := byName[f.lower]
		if !ok {
			missing = append(missing, f.name)
			continue
		}
		if !sf.IsLeaf() {
			return nil, fmt.Errorf("%w: column %s is nested (%s)", ErrMapping, sf.Field.Name, sf.Field.Type)
		}
		if _, err := converter(&pq.fs.list[k], sf.Field.Type); err != nil {
			return nil, err
		}
		cols[k] = sf.ColIndex
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: no column for field(s) %s of %s (columns: %s)", ErrMapping,
			strings.Join(missing, ", "), pq.fs.typ, clip(strings.Join(names, ", ")))
	}
	return cols, nil
}

// Open reads row group s.RowGroup, skipping the first from rows.
func (pq *Parquet[T]) Open(ctx context.Context, s Split, from int64) (Reader[T], error) {
	pf, c, err := openParquet(ctx, s.Path)
	if err != nil {
		return nil, err
	}
	r, err := pq.openGroup(ctx, pf, c, s)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: row group %d: %w", s.Path, s.RowGroup, err)
	}
	if err := r.skip(from); err != nil {
		r.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: row group %d has fewer than %d rows (did the file change?)", s.Path, s.RowGroup, from)
		}
		return nil, err
	}
	return r, nil
}

// groupReader is a Reader of a row group that can pass over its first
// rows.
type groupReader[T any] interface {
	Reader[T]
	// skip passes over the first from rows (io.EOF: there are fewer).
	skip(from int64) error
}

// openGroup is Open after the file is open: the direct reader, or Arrow's
// when a column needs it.
func (pq *Parquet[T]) openGroup(ctx context.Context, pf *file.Reader, c io.Closer, s Split) (_ groupReader[T], err error) {
	defer catch(&err)
	fail := func(err error) (groupReader[T], error) { return nil, err }
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 14}, memory.DefaultAllocator)
	if err != nil {
		return fail(err)
	}
	cols, err := pq.leaves(fr)
	if err != nil {
		return fail(err)
	}
	if s.RowGroup < 0 || s.RowGroup >= pf.NumRowGroups() {
		return fail(fmt.Errorf("the file has %d row groups (did it change?)", pf.NumRowGroups()))
	}
	if !pq.arrowOnly {
		types := make([]arrow.DataType, len(cols))
		for k, leaf := range cols {
			types[k] = fr.Manifest.ColIndexToField[leaf].Field.Type
		}
		dr, err := pq.openDirect(pf, c, s, cols, types)
		if err != nil {
			return fail(err)
		}
		if dr != nil {
			return dr, nil
		}
	}
	uniq := map[int]bool{}
	var leafs []int
	for _, c := range cols {
		if !uniq[c] {
			uniq[c] = true
			leafs = append(leafs, c)
		}
	}
	rr, err := fr.GetRecordReader(ctx, leafs, []int{s.RowGroup})
	if err != nil {
		return fail(err)
	}
	r := &parquetReader[T]{pq: pq, rr: rr, c: c, split: s}
	for k, f := range pq.fs.list {
		idx := rr.Schema().FieldIndices(fr.Manifest.ColIndexToField[cols[k]].Field.Name)
		if len(idx) != 1 {
			rr.Release()
			return fail(fmt.Errorf("%w: column for field %s not found in what was read", ErrMapping, f.name))
		}
		r.colOf = append(r.colOf, idx[0])
	}
	return r, nil
}

func (r *parquetReader[T]) skip(from int64) error {
	for r.pos < from {
		if err := r.load(); err != nil {
			return err
		}
		skip := min(from-r.pos, int64(r.n-r.i))
		r.i += int(skip)
		r.pos += skip
	}
	return nil
}

type parquetReader[T any] struct {
	pq    *Parquet[T]
	rr    pqarrow.RecordReader
	c     io.Closer
	split Split
	colOf []int // field -> column of the records read
	rec   arrow.Record
	conv  []convert // per field, for rec
	i, n  int       // next row of rec, its rows
	pos   int64     // rows of the row group returned
	err   error     // a panic of the record reader
}

// load makes sure a record with rows left is loaded.
func (r *parquetReader[T]) load() error {
	for r.rec == nil || r.i >= r.n {
		if r.rec != nil {
			r.rec.Release()
			r.rec = nil
		}
		if !r.next() {
			err := r.err
			if err == nil {
				err = r.rr.Err()
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: row group %d: %w", r.split.Path, r.split.RowGroup, err)
			}
			return io.EOF
		}
		r.rec = r.rr.Record()
		r.rec.Retain()
		r.i, r.n = 0, int(r.rec.NumRows())
		r.conv = r.conv[:0]
		for k := range r.pq.fs.list {
			f := &r.pq.fs.list[k]
			mk, err := converter(f, r.rec.Column(r.colOf[k]).DataType())
			if err != nil {
				return err
			}
			r.conv = append(r.conv, mk(r.rec.Column(r.colOf[k])))
		}
	}
	return nil
}

// next is r.rr.Next, a panic (on a malformed page) an error.
func (r *parquetReader[T]) next() (ok bool) {
	var err error
	func() {
		defer catch(&err)
		ok = r.rr.Next()
	}()
	if err != nil {
		r.err = err
		return false
	}
	return ok
}

func (r *parquetReader[T]) Next(v *T) error {
	if err := r.load(); err != nil {
		return err
	}
	row := r.i
	r.i++
	r.pos++
	base := unsafe.Pointer(v)
	for k, conv := range r.conv {
		f := &r.pq.fs.list[k]
		if err := conv(row, unsafe.Add(base, f.off)); err != nil {
			return &RecordError{Path: r.split.Path, Offset: -1, RowGroup: r.split.RowGroup, Row: r.pos - 1,
				Err: fmt.Errorf("column %s: %w", f.name, err)}
		}
	}
	return nil
}

func (r *parquetReader[T]) Pos() int64 { return r.pos }

func (r *parquetReader[T]) Close() error {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	r.rr.Release()
	return r.c.Close()
}

// convert stores row i of a column into the field at p.
type convert func(i int, p unsafe.Pointer) error

// converter returns, for a column of type dt, what makes f's convert for
// one array; an error when dt cannot fill f.
func converter(f *field, dt arrow.DataType) (func(arrow.Array) convert, error) {
	nullable := func(mk func(a arrow.Array) convert) func(arrow.Array) convert {
		return func(a arrow.Array) convert {
			c := mk(a)
			if a.NullN() == 0 {
				return c
			}
			return func(i int, p unsafe.Pointer) error {
				if a.IsNull(i) {
					f.zero(p)
					return nil
				}
				return c(i, p)
			}
		}
	}
	ints := func(get func(a arrow.Array, i int) int64) func(arrow.Array) convert {
		return nullable(func(a arrow.Array) convert {
			switch f.kind {
			case kindInt:
				return func(i int, p unsafe.Pointer) error { return f.setInt(p, get(a, i)) }
			case kindUint:
				return func(i int, p unsafe.Pointer) error {
					v := get(a, i)
					if v < 0 {
						return errRange(v, f)
					}
					return f.setUint(p, uint64(v))
				}
			}
			return func(i int, p unsafe.Pointer) error { f.setFloat(p, float64(get(a, i))); return nil }
		})
	}
	isNum := f.kind == kindInt || f.kind == kindUint || f.kind == kindFloat
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32:
		if isNum {
			return ints(intGetter(dt.ID())), nil
		}
	case arrow.UINT64:
		switch f.kind {
		case kindUint:
			return nullable(func(a arrow.Array) convert {
				v := a.(*array.Uint64).Uint64Values()
				return func(i int, p unsafe.Pointer) error { return f.setUint(p, v[i]) }
			}), nil
		case kindInt, kindFloat:
			return ints(func(a arrow.Array, i int) int64 {
				v := a.(*array.Uint64).Value(i)
				return int64(min(v, math.MaxInt64))
			}), nil
		}
	case arrow.FLOAT32, arrow.FLOAT64:
		if f.kind == kindFloat {
			return nullable(func(a arrow.Array) convert {
				if a, ok := a.(*array.Float32); ok {
					return func(i int, p unsafe.Pointer) error { f.setFloat(p, float64(a.Value(i))); return nil }
				}
				v := a.(*array.Float64).Float64Values()
				return func(i int, p unsafe.Pointer) error { f.setFloat(p, v[i]); return nil }
			}), nil
		}
	case arrow.DECIMAL128:
		scale := dt.(*arrow.Decimal128Type).Scale
		switch {
		case f.kind == kindFloat:
			return nullable(func(a arrow.Array) convert {
				d := a.(*array.Decimal128)
				return func(i int, p unsafe.Pointer) error { f.setFloat(p, d.Value(i).ToFloat64(scale)); return nil }
			}), nil
		case f.kind == kindString:
			return nullable(func(a arrow.Array) convert {
				d := a.(*array.Decimal128)
				return func(i int, p unsafe.Pointer) error { *(*string)(p) = d.Value(i).ToString(scale); return nil }
			}), nil
		case scale == 0 && (f.kind == kindInt || f.kind == kindUint):
			return nullable(func(a arrow.Array) convert {
				d := a.(*array.Decimal128)
				return func(i int, p unsafe.Pointer) error {
					n := d.Value(i)
					if !n.BigInt().IsInt64() {
						return fmt.Errorf("%s is out of the range of %s", n.ToString(0), f.typ)
					}
					v := int64(n.LowBits())
					if f.kind == kindUint {
						if v < 0 {
							return errRange(v, f)
						}
						return f.setUint(p, uint64(v))
					}
					return f.setInt(p, v)
				}
			}), nil
		}
	case arrow.BOOL:
		if f.kind == kindBool {
			return nullable(func(a arrow.Array) convert {
				b := a.(*array.Boolean)
				return func(i int, p unsafe.Pointer) error { *(*bool)(p) = b.Value(i); return nil }
			}), nil
		}
	case arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		if f.kind == kindTime {
			return nullable(func(a arrow.Array) convert {
				switch a := a.(type) {
				case *array.Date32:
					return func(i int, p unsafe.Pointer) error {
						*(*time.Time)(p) = time.Unix(int64(a.Value(i))*86400, 0).UTC()
						return nil
					}
				case *array.Date64:
					return func(i int, p unsafe.Pointer) error {
						*(*time.Time)(p) = time.UnixMilli(int64(a.Value(i))).UTC()
						return nil
					}
				}
				ts := a.(*array.Timestamp)
				unit := ts.DataType().(*arrow.TimestampType).Unit
				return func(i int, p unsafe.Pointer) error { *(*time.Time)(p) = ts.Value(i).ToTime(unit).UTC(); return nil }
			}), nil
		}
	case arrow.DURATION:
		if f.kind == kindDuration {
			unit := dt.(*arrow.DurationType).Unit
			return nullable(func(a arrow.Array) convert {
				d := a.(*array.Duration)
				return func(i int, p unsafe.Pointer) error {
					*(*time.Duration)(p) = time.Duration(d.Value(i)) * unit.Multiplier()
					return nil
				}
			}), nil
		}
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return nullable(func(a arrow.Array) convert {
			val := binaryValues(a)
			return func(i int, p unsafe.Pointer) error {
				switch f.kind {
				case kindString:
					*(*string)(p) = val(i)
				case kindBytes:
					*(*[]byte)(p) = []byte(val(i))
				default:
					return f.setText(p, val(i), true)
				}
				return nil
			}
		}), nil
	}
	return nil, fmt.Errorf("%w: field %s (%s) cannot take column type %s", ErrMapping, f.name, f.typ, dt)
}

// intGetter reads integer columns of type id as int64.
func intGetter(id arrow.Type) func(a arrow.Array, i int) int64 {
	switch id {
	case arrow.INT8:
		return func(a arrow.Array, i int) int64 { return int64(a.(*array.Int8).Value(i)) }
	case arrow.INT16:
		return func(a arrow.Array, i int) int64 { return int64(a.(*array.Int16).Value(i)) }
	case arrow.INT32:
		return func(a arrow.Array, i int) int64 { return int64(a.(*array.Int32).Value(i)) }
	case arrow.UINT8:
		return func(a arrow.Array, i int) int64 { return int64(a.(*array.Uint8).Value(i)) }
	case arrow.UINT16:
		return func(a arrow.Array, i int) int64 { return int64(a.(*array.Uint16).Value(i)) }
	case arrow.UINT32:
		return func(a arrow.Array, i int) int64 { return int64(a.(*array.Uint32).Value(i)) }
	}
	return func(a arrow.Array, i int) int64 { return a.(*array.Int64).Value(i) }
}

// binaryValues returns the values of a string or binary array as strings
// that do not alias Arrow memory: the array's data is copied once, and
// values are substrings of the copy.
func binaryValues(a arrow.Array) func(i int) string {
	switch a := a.(type) {
	case *array.String:
		return substrings(a.ValueBytes(), a.ValueOffsets())
	case *array.Binary:
		return substrings(a.ValueBytes(), a.ValueOffsets())
	case *array.LargeString:
		return func(i int) string { return strings.Clone(a.Value(i)) }
	case *array.LargeBinary:
		return func(i int) string { return string(a.Value(i)) }
	}
	return func(int) string { return "" }
}

// substrings copies data once and returns value i as a substring of the
// copy (offs are the array's offsets; data starts at offs[0]).
func substrings(data []byte, offs []int32) func(i int) string {
	s := string(data)
	base := offs[0]
	return func(i int) string { return s[offs[i]-base : offs[i+1]-base] }
}

package formats

import (
	"errors"
	"fmt"
	"io"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/schema"
)

// directBatch is the number of rows the direct reader decodes at a time.
const directBatch = 2048

// srcKind is what a column's values are, as the direct reader decodes
// them.
type srcKind uint8

const (
	srcInt       srcKind = iota + 1 // i64
	srcDecimal                      // i64 or num, scaled by 10^-scale
	srcDate                         // i64 days since 1970-01-01
	srcTimestamp                    // i64 in unit
	srcFloat                        // f64
	srcBytes                        // str
)

// directSource classifies a leaf column that pqarrow reads as dt; ok is
// false when the direct reader does not read it as pqarrow does (the
// split is then read through Arrow).
func directSource(descr *schema.Column, dt arrow.DataType, cc *metadata.ColumnChunkMetaData) (src srcKind, scale int32, unit arrow.TimeUnit, ok bool) {
	if descr.MaxRepetitionLevel() != 0 || descr.MaxDefinitionLevel() > 1 {
		return 0, 0, 0, false
	}
	for _, e := range cc.Encodings() {
		if !directEncodings[e] {
			return 0, 0, 0, false
		}
	}
	phys := descr.PhysicalType()
	switch dt.ID() {
	case arrow.INT32:
		return srcInt, 0, 0, phys == parquet.Types.Int32
	case arrow.INT64:
		return srcInt, 0, 0, phys == parquet.Types.Int64
	case arrow.DECIMAL128:
		dec, isDec := descr.LogicalType().(*schema.DecimalLogicalType)
		scale := dt.(*arrow.Decimal128Type).Scale
		okPhys := phys == parquet.Types.Int32 || phys == parquet.Types.Int64 ||
			phys == parquet.Types.FixedLenByteArray && descr.TypeLength() >= 1 && descr.TypeLength() <= 16
		return srcDecimal, scale, 0, okPhys && isDec && dec.Scale() == scale
	case arrow.DATE32:
		return srcDate, 0, 0, phys == parquet.Types.Int32
	case arrow.TIMESTAMP:
		ts, isTS := descr.LogicalType().(*schema.TimestampLogicalType)
		if !isTS || phys != parquet.Types.Int64 {
			return 0, 0, 0, false
		}
		unit := dt.(*arrow.TimestampType).Unit
		want := map[schema.TimeUnitType]arrow.TimeUnit{schema.TimeUnitMillis: arrow.Millisecond, schema.TimeUnitMicros: arrow.Microsecond, schema.TimeUnitNanos: arrow.Nanosecond}
		u, known := want[ts.TimeUnit()]
		return srcTimestamp, 0, unit, known && u == unit
	case arrow.FLOAT64:
		return srcFloat, 0, 0, phys == parquet.Types.Double
	case arrow.FLOAT32:
		return srcFloat, 0, 0, phys == parquet.Types.Float
	case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return srcBytes, 0, 0, phys == parquet.Types.ByteArray
	}
	return 0, 0, 0, false
}

// storeFn writes rows [0, n) of a column's batch into field f of n
// records from base (size bytes apart); bad records a row's error.
type storeFn func(v *colVec, base unsafe.Pointer, size uintptr, n int, bad func(i int, err error))

// directStore returns how f takes values of src, or false where the direct
// reader has no conversion (the Arrow path's converter decides then).
func directStore(f *field, src srcKind, scale int32, unit arrow.TimeUnit) (storeFn, bool) {
	// each applies put to the valid rows and zeroes the null ones
	each := func(put func(v *colVec, i int, p unsafe.Pointer) error) storeFn {
		return func(v *colVec, base unsafe.Pointer, size uintptr, n int, bad func(int, error)) {
			for i := range n {
				p := rowPtr(base, size, i, f.off)
				if v.nulls > 0 && !v.valid[i] {
					f.zero(p)
					continue
				}
				if err := put(v, i, p); err != nil {
					bad(i, err)
				}
			}
		}
	}
	ints := func() (storeFn, bool) {
		switch {
		case f.kind == kindInt && f.bits == 64:
			return func(v *colVec, base unsafe.Pointer, size uintptr, n int, _ func(int, error)) {
				for i, x := range v.i64[:n] {
					*(*int64)(rowPtr(base, size, i, f.off)) = x
				}
				if v.nulls > 0 {
					zeroNulls(f, v, base, size, n)
				}
			}, true
		case f.kind == kindInt:
			return each(func(v *colVec, i int, p unsafe.Pointer) error { return f.setInt(p, v.i64[i]) }), true
		case f.kind == kindUint:
			return each(func(v *colVec, i int, p unsafe.Pointer) error {
				x := v.i64[i]
				if x < 0 {
					return errRange(x, f)
				}
				return f.setUint(p, uint64(x))
			}), true
		case f.kind == kindFloat:
			return each(func(v *colVec, i int, p unsafe.Pointer) error { f.setFloat(p, float64(v.i64[i])); return nil }), true
		}
		return nil, false
	}
	switch src {
	case srcInt:
		return ints()
	case srcDecimal:
		// As decimal128.Num.ToFloat64: the magnitude as a float times
		// 10^-scale (the same factor), negated.
		pow := decimal128.FromU64(1).ToFloat64(scale)
		switch {
		case f.kind == kindFloat:
			if f.bits == 64 {
				return func(v *colVec, base unsafe.Pointer, size uintptr, n int, _ func(int, error)) {
					if v.num != nil {
						for i, x := range v.num[:n] {
							*(*float64)(rowPtr(base, size, i, f.off)) = x.ToFloat64(scale)
						}
					} else {
						for i, x := range v.i64[:n] {
							m := uint64(x)
							if x < 0 {
								m = -m
							}
							y := float64(m) * pow
							if x < 0 {
								y = -y
							}
							*(*float64)(rowPtr(base, size, i, f.off)) = y
						}
					}
					if v.nulls > 0 {
						zeroNulls(f, v, base, size, n)
					}
				}, true
			}
			return each(func(v *colVec, i int, p unsafe.Pointer) error {
				f.setFloat(p, decNum(v, i).ToFloat64(scale))
				return nil
			}), true
		case f.kind == kindString:
			return each(func(v *colVec, i int, p unsafe.Pointer) error {
				*(*string)(p) = decNum(v, i).ToString(scale)
				return nil
			}), true
		case scale == 0 && (f.kind == kindInt || f.kind == kindUint):
			return each(func(v *colVec, i int, p unsafe.Pointer) error {
				n := decNum(v, i)
				if !n.BigInt().IsInt64() {
					return fmt.Errorf("%s is out of the range of %s", n.ToString(0), f.typ)
				}
				x := int64(n.LowBits())
				if f.kind == kindUint {
					if x < 0 {
						return errRange(x, f)
					}
					return f.setUint(p, uint64(x))
				}
				return f.setInt(p, x)
			}), true
		}
	case srcDate:
		if f.kind == kindTime {
			return func(v *colVec, base unsafe.Pointer, size uintptr, n int, _ func(int, error)) {
				for i, d := range v.i64[:n] {
					*(*time.Time)(rowPtr(base, size, i, f.off)) = time.Unix(d*86400, 0).UTC()
				}
				if v.nulls > 0 {
					zeroNulls(f, v, base, size, n)
				}
			}, true
		}
	case srcTimestamp:
		if f.kind == kindTime {
			return each(func(v *colVec, i int, p unsafe.Pointer) error {
				*(*time.Time)(p) = arrow.Timestamp(v.i64[i]).ToTime(unit).UTC()
				return nil
			}), true
		}
	case srcFloat:
		if f.kind == kindFloat {
			return each(func(v *colVec, i int, p unsafe.Pointer) error { f.setFloat(p, v.f64[i]); return nil }), true
		}
	case srcBytes:
		switch f.kind {
		case kindString:
			return func(v *colVec, base unsafe.Pointer, size uintptr, n int, _ func(int, error)) {
				for i, s := range v.str[:n] {
					*(*string)(rowPtr(base, size, i, f.off)) = s
				}
				if v.nulls > 0 {
					zeroNulls(f, v, base, size, n)
				}
			}, true
		case kindBytes:
			return each(func(v *colVec, i int, p unsafe.Pointer) error { *(*[]byte)(p) = []byte(v.str[i]); return nil }), true
		}
		return each(func(v *colVec, i int, p unsafe.Pointer) error { return f.setText(p, v.str[i], true) }), true
	}
	return nil, false
}

// decNum is row i of a decimal column as a decimal128.Num.
func decNum(v *colVec, i int) decimal128.Num {
	if v.num != nil {
		return v.num[i]
	}
	return decimal128.FromI64(v.i64[i])
}

// zeroNulls clears field f of the null rows.
func zeroNulls(f *field, v *colVec, base unsafe.Pointer, size uintptr, n int) {
	for i, ok := range v.valid[:n] {
		if !ok {
			f.zero(rowPtr(base, size, i, f.off))
		}
	}
}

// directField is how one of T's fields is read: from which of the
// reader's columns, by which store.
type directField struct {
	col   int
	store storeFn
}

// directReader reads a row group without Arrow (see pqcolumn.go),
// directBatch rows at a time into a slice of T.
type directReader[T any] struct {
	pq     *Parquet[T]
	c      io.Closer
	split  Split
	cols   []*pqColumn
	states []*chunkState // of cols' page readers, for the next row group (Close)
	vecs   []*colVec
	fields []directField
	batch  []T
	errs   []error // per row of the batch: a field's conversion error
	bad    func(i int, err error)
	cur    *field // the field being stored (for bad)
	err    error  // a decoding error: the split cannot be read further
	rows   int64  // of the row group
	done   int64  // rows decoded
	i, n   int    // next row of batch, its rows
	pos    int64  // rows returned
}

// openDirect returns a direct reader for row group s.RowGroup of pf, whose
// leaf columns cols[k] (of Arrow types types[k]) fill T's fields, or nil
// when a column needs the Arrow path.
func (pq *Parquet[T]) openDirect(pf *file.Reader, c io.Closer, s Split, cols []int, types []arrow.DataType) (*directReader[T], error) {
	rg := pf.RowGroup(s.RowGroup)
	md := pf.MetaData()
	plan := make([]directField, len(cols))
	colOf := map[int]int{}
	var leafs []int
	for k, leaf := range cols {
		cc, err := rg.MetaData().ColumnChunk(leaf)
		if err != nil {
			return nil, err
		}
		descr := md.Schema.Column(leaf)
		src, scale, unit, ok := directSource(descr, types[k], cc)
		if !ok {
			return nil, nil
		}
		store, ok := directStore(&pq.fs.list[k], src, scale, unit)
		if !ok {
			return nil, nil
		}
		j, seen := colOf[leaf]
		if !seen {
			j = len(leafs)
			colOf[leaf] = j
			leafs = append(leafs, leaf)
		}
		plan[k] = directField{col: j, store: store}
	}
	var err error
	r := &directReader[T]{pq: pq, c: c, split: s, fields: plan, rows: rg.NumRows()}
	if r.rows < 0 {
		return nil, fmt.Errorf("%d rows", r.rows)
	}
	ra, _ := c.(io.ReaderAt)
	size := int64(-1)
	if sk, ok := c.(io.Seeker); ok && ra != nil {
		if size, err = sk.Seek(0, io.SeekEnd); err != nil {
			return nil, fmt.Errorf("the file's size: %w", err)
		}
	}
	for _, leaf := range leafs {
		pr, st, err := r.pageReader(ra, size, rg, md, leaf)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", md.Schema.Column(leaf).Name(), err)
		}
		if st != nil {
			r.states = append(r.states, st)
		}
		col := newPQColumn(pr, md.Schema.Column(leaf))
		r.cols = append(r.cols, col)
		r.vecs = append(r.vecs, col.newVec(directBatch))
	}
	r.batch = make([]T, directBatch)
	r.bad = func(i int, err error) {
		if r.errs == nil {
			r.errs = make([]error, directBatch)
		}
		if r.errs[i] == nil {
			r.errs[i] = fmt.Errorf("column %s: %w", r.cur.name, err)
		}
	}
	return r, nil
}

// pageReader returns the page reader of column leaf of rg: on a pooled
// chunkState (returned by Close) where it can, else arrow's own.
func (r *directReader[T]) pageReader(ra io.ReaderAt, size int64, rg *file.RowGroupReader, md *metadata.FileMetaData, leaf int) (file.PageReader, *chunkState, error) {
	if ra != nil && size >= 0 {
		cc, err := rg.MetaData().ColumnChunk(leaf)
		if err != nil {
			return nil, nil, err
		}
		st := chunkStates.Get().(*chunkState)
		pr, err := st.open(ra, size, md, cc)
		if err == nil {
			return pr, st, nil
		}
		st.pr = nil // it may be half reset
		chunkStates.Put(st)
		if !errors.Is(err, errNoChunkReuse) {
			return nil, nil, err
		}
	}
	pr, err := rg.GetColumnPageReader(leaf)
	return pr, nil, err
}

// fill decodes the next batch.
func (r *directReader[T]) fill() error {
	if r.err != nil {
		return r.err
	}
	if r.done >= r.rows {
		return io.EOF
	}
	n := int(min(int64(directBatch), r.rows-r.done))
	for j, c := range r.cols {
		if err := r.decode(c, r.vecs[j], n); err != nil {
			r.err = fmt.Errorf("%s: row group %d: column %s, rows from %d: %w", r.split.Path, r.split.RowGroup, c.name, r.done, err)
			return r.err
		}
	}
	if r.errs != nil {
		clear(r.errs)
	}
	var zero T
	base, size := unsafe.Pointer(unsafe.SliceData(r.batch)), unsafe.Sizeof(zero)
	for k, f := range r.fields {
		r.cur = &r.pq.fs.list[k]
		f.store(r.vecs[f.col], base, size, n, r.bad)
	}
	r.done += int64(n)
	r.i, r.n = 0, n
	return nil
}

// decode reads n rows of c, turning a panic of the page reader (a
// malformed page it does not check) into an error.
func (r *directReader[T]) decode(c *pqColumn, v *colVec, n int) (err error) {
	defer catch(&err)
	err = c.read(v, n)
	if errors.Is(err, errTruncated) {
		err = fmt.Errorf("%w (the column chunk holds fewer values than its row group's %d rows, or a page is cut short)", err, r.rows)
	}
	return err
}

// errMalformedFile: arrow's Parquet reader panicked on the file (it does
// not check every field of footers and pages).
var errMalformedFile = errors.New("malformed Parquet file")

// catch turns a panic into *err (deferred around calls into arrow's
// Parquet reader with a file's bytes: files are external input).
func catch(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: the reader failed: %v", errMalformedFile, p)
	}
}

func (r *directReader[T]) Next(v *T) error {
	if r.i >= r.n {
		if err := r.fill(); err != nil {
			return err
		}
	}
	i := r.i
	r.i++
	r.pos++
	if r.errs != nil && r.errs[i] != nil {
		return &RecordError{Path: r.split.Path, Offset: -1, RowGroup: r.split.RowGroup, Row: r.pos - 1, Err: r.errs[i]}
	}
	*v = r.batch[i]
	return nil
}

func (r *directReader[T]) skip(from int64) error {
	for r.pos < from {
		if r.i >= r.n {
			if err := r.fill(); err != nil {
				return err
			}
		}
		k := min(from-r.pos, int64(r.n-r.i))
		r.i += int(k)
		r.pos += k
	}
	return nil
}

func (r *directReader[T]) Pos() int64 { return r.pos }

func (r *directReader[T]) Close() error {
	for _, st := range r.states {
		chunkStates.Put(st)
	}
	r.states, r.cols = nil, nil
	return r.c.Close()
}

package formats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// mixed reads every column type the direct reader decodes, into fields of
// several kinds.
type mixed struct {
	ID     int64
	I32    int32     `floe:"i32"`   // int32, nullable
	Small  int16     `floe:"small"` // int32 into int16 (range checked)
	U      uint32    `floe:"u"`     // int64 into uint32
	D9     float64   `floe:"d9"`    // decimal(9,2): INT32 or FLBA
	D18    float64   `floe:"d18"`   // decimal(18,3), nullable: INT64 or FLBA
	D38    float64   `floe:"d38"`   // decimal(38,4): FLBA of 16 bytes
	D18s   string    `floe:"d18s"`  // decimal(18,3) as text
	D0     int64     `floe:"d0"`    // decimal(10,0) as an integer
	Day    time.Time `floe:"day"`   // date32, nullable
	Ts     time.Time `floe:"ts"`    // timestamp[ms]
	F      float64   `floe:"f"`     // double, nullable
	F32    float32   `floe:"f32"`   // float
	Name   string    `floe:"name"`  // few distinct values (a dictionary), nullable
	Text   string    `floe:"text"`  // distinct values
	Blob   []byte    `floe:"blob"`
	NumStr int64     `floe:"numstr"` // a string column parsed as an integer
}

var mixedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "small", Type: arrow.PrimitiveTypes.Int32},
	{Name: "u", Type: arrow.PrimitiveTypes.Int64},
	{Name: "d9", Type: &arrow.Decimal128Type{Precision: 9, Scale: 2}},
	{Name: "d18", Type: &arrow.Decimal128Type{Precision: 18, Scale: 3}, Nullable: true},
	{Name: "d38", Type: &arrow.Decimal128Type{Precision: 38, Scale: 4}},
	{Name: "d18s", Type: &arrow.Decimal128Type{Precision: 18, Scale: 3}},
	{Name: "d0", Type: &arrow.Decimal128Type{Precision: 10, Scale: 0}},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "text", Type: arrow.BinaryTypes.String},
	{Name: "blob", Type: arrow.BinaryTypes.Binary},
	{Name: "numstr", Type: arrow.BinaryTypes.String},
	{Name: "unread", Type: arrow.BinaryTypes.String},
}, nil)

// mixedRow is what writeMixed wrote for one row: the fields' values (nulls
// as zero) and the decimals' unscaled integers.
type mixedRow struct {
	m                       mixed
	d9, d18, d38, d18s, d0  int64
	nullD18, nullDay, nullF bool
	bad                     bool // numstr is not a number
}

// writeMixed writes n rows to path with props, in row groups of rowGroup
// rows and record batches of 97 (not lined up with them); every badEvery-th
// row (0: none) has a numstr that is not a number.
func writeMixed(t testing.TB, path string, n int, rowGroup int64, badEvery int, seed uint64, props ...parquet.WriterProperty) []mixedRow {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props = append([]parquet.WriterProperty{parquet.WithMaxRowGroupLength(rowGroup)}, props...)
	w, err := pqarrow.NewFileWriter(mixedSchema, f, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	b := array.NewRecordBuilder(memory.DefaultAllocator, mixedSchema)
	defer b.Release()
	names := []string{"AIR", "MAIL", "SHIP", "TRUCK", "", "RAIL"}
	var rows []mixedRow
	for i := range n {
		var x mixedRow
		m := &x.m
		m.ID = int64(i) - 1<<40
		m.I32 = r.Int32() - 1<<30
		if i%5 == 1 {
			m.I32 = 0
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int32Builder).Append(m.I32)
		}
		m.Small = int16(r.IntN(60000) - 30000)
		m.U = r.Uint32()
		x.d9 = r.Int64N(2e8) - 1e8
		x.d18 = r.Int64N(2e13) - 1e13
		x.d38 = r.Int64N(1e13) * int64(1-2*r.IntN(2)) // within float64's integers: check compares them
		x.d18s = r.Int64N(2e6) - 1e6
		x.d0 = r.Int64N(2e9) - 1e9
		m.D9, m.D38, m.D0 = float64(x.d9)/100, float64(x.d38)/1e4, x.d0
		m.D18s = decimalText(x.d18s, 3)
		x.nullD18 = i%3 == 0
		if !x.nullD18 {
			m.D18 = float64(x.d18) / 1000
		}
		x.nullDay = i%4 == 2
		if !x.nullDay {
			m.Day = time.Date(1992, 1, 1+r.IntN(2500), 0, 0, 0, 0, time.UTC)
		}
		m.Ts = time.UnixMilli(r.Int64N(4e12) - 1e12).UTC()
		x.nullF = i%7 == 3
		if !x.nullF {
			m.F = r.NormFloat64() * 1e6
		}
		m.F32 = float32(r.NormFloat64())
		nameNull := i%6 == 5
		if !nameNull {
			m.Name = names[r.IntN(len(names))]
		}
		m.Text = fmt.Sprintf("text %d %x", i, r.Uint64())
		if i%9 != 4 {
			m.Blob = []byte(m.Text[:1+r.IntN(len(m.Text)-1)])
		} else {
			m.Blob = []byte{}
		}
		numstr := strconv.Itoa(i * 3)
		m.NumStr = int64(i * 3)
		if badEvery > 0 && i%badEvery == badEvery-1 {
			numstr, m.NumStr, x.bad = "n/a", 0, true
		}

		b.Field(0).(*array.Int64Builder).Append(m.ID)
		b.Field(2).(*array.Int32Builder).Append(int32(m.Small))
		b.Field(3).(*array.Int64Builder).Append(int64(m.U))
		b.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(x.d9))
		if x.nullD18 {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.Decimal128Builder).Append(decimal128.FromI64(x.d18))
		}
		b.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(x.d38))
		b.Field(7).(*array.Decimal128Builder).Append(decimal128.FromI64(x.d18s))
		b.Field(8).(*array.Decimal128Builder).Append(decimal128.FromI64(x.d0))
		if x.nullDay {
			b.Field(9).AppendNull()
		} else {
			b.Field(9).(*array.Date32Builder).Append(arrow.Date32FromTime(m.Day))
		}
		b.Field(10).(*array.TimestampBuilder).Append(arrow.Timestamp(m.Ts.UnixMilli()))
		if x.nullF {
			b.Field(11).AppendNull()
		} else {
			b.Field(11).(*array.Float64Builder).Append(m.F)
		}
		b.Field(12).(*array.Float32Builder).Append(m.F32)
		if nameNull {
			b.Field(13).AppendNull()
		} else {
			b.Field(13).(*array.StringBuilder).Append(m.Name)
		}
		b.Field(14).(*array.StringBuilder).Append(m.Text)
		b.Field(15).(*array.BinaryBuilder).Append(m.Blob)
		b.Field(16).(*array.StringBuilder).Append(numstr)
		b.Field(17).(*array.StringBuilder).Append("never read")
		rows = append(rows, x)
		if b.Field(0).Len() == 97 || i == n-1 {
			rec := b.NewRecord()
			if err := w.WriteBuffered(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// decimalText is v scaled by 10^-scale, written out with big.Int (not
// decimal128).
func decimalText(v int64, scale int) string {
	s := new(big.Int).Abs(big.NewInt(v)).String()
	for len(s) <= scale {
		s = "0" + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if v < 0 {
		s = "-" + s
	}
	return s
}

// readSplits reads every split of files with p, returning the records and
// the rows' errors (by index in the output: a malformed row has a zero
// record), and whether every reader was a direct one.
func readSplits[T any](t testing.TB, p *Parquet[T], files []string) (recs []T, bad map[int]string, direct bool) {
	t.Helper()
	ctx := context.Background()
	splits, err := p.Splits(ctx, files, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad, direct = map[int]string{}, true
	for _, s := range splits {
		r, err := p.Open(ctx, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, isDirect := r.(*directReader[T])
		direct = direct && isDirect
		for {
			var v T
			err := r.Next(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			var re *RecordError
			if errors.As(err, &re) {
				bad[len(recs)] = re.Error()
			} else if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, v)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return recs, bad, direct
}

// The direct reader gives what pqarrow's path gives, and what was written,
// for PLAIN and dictionary encodings, page versions 1 and 2, decimals
// stored as INT32/INT64 and as FIXED_LEN_BYTE_ARRAY, nulls, many pages
// per column chunk and many row groups; columns it does not decode (delta
// encodings) send the row group through pqarrow.
func TestParquetDirectEqualsArrow(t *testing.T) {
	type config struct {
		name   string
		props  []parquet.WriterProperty
		direct bool
	}
	var configs []config
	for _, dict := range []bool{true, false} {
		for _, v := range []parquet.DataPageVersion{parquet.DataPageV1, parquet.DataPageV2} {
			for _, asInt := range []bool{true, false} {
				configs = append(configs, config{
					name: fmt.Sprintf("dict=%v/page=v%d/decimalAsInt=%v", dict, v+1, asInt),
					props: []parquet.WriterProperty{parquet.WithDictionaryDefault(dict), parquet.WithDataPageVersion(v),
						parquet.WithStoreDecimalAsInteger(asInt), parquet.WithDataPageSize(512), parquet.WithBatchSize(50)},
					direct: true,
				})
			}
		}
	}
	configs = append(configs,
		config{name: "snappy/small-dictionary", props: []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Snappy),
			parquet.WithDictionaryPageSizeLimit(200), parquet.WithStoreDecimalAsInteger(true)}, direct: true},
		config{name: "delta", props: []parquet.WriterProperty{parquet.WithDictionaryDefault(false),
			parquet.WithEncodingFor("id", parquet.Encodings.DeltaBinaryPacked)}, direct: false},
	)
	for k, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			files := []string{filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")}
			want := writeMixed(t, files[0], 2300, 700, 0, uint64(k), c.props...)
			want = append(want, writeMixed(t, files[1], 150, 1000, 0, uint64(k)+100, c.props...)...)
			p, err := NewParquet[mixed]()
			if err != nil {
				t.Fatal(err)
			}
			got, bad, direct := readSplits(t, p, files)
			if direct != c.direct {
				t.Fatalf("direct reader used: %v, want %v", direct, c.direct)
			}
			pa := *p
			pa.arrowOnly = true
			ref, refBad, refDirect := readSplits(t, &pa, files)
			if refDirect {
				t.Fatal("the Arrow path used the direct reader")
			}
			if len(bad) > 0 || len(refBad) > 0 {
				t.Fatalf("errors: %v, %v", bad, refBad)
			}
			if len(got) != len(want) || len(ref) != len(want) {
				t.Fatalf("%d rows (Arrow path: %d), want %d", len(got), len(ref), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], ref[i]) {
					t.Fatalf("row %d:\n direct %+v\n  arrow %+v", i, got[i], ref[i])
				}
				if err := want[i].check(got[i]); err != nil {
					t.Fatalf("row %d: %v\n got %+v\nwant %+v", i, err, got[i], want[i].m)
				}
			}
		})
	}
}

// check compares a record read with what was written: decimals to their
// unscaled integers, the rest exactly.
func (x mixedRow) check(g mixed) error {
	for _, d := range []struct {
		name  string
		got   float64
		scale float64
		want  int64
		null  bool
	}{{"d9", g.D9, 1e2, x.d9, false}, {"d18", g.D18, 1e3, x.d18, x.nullD18}, {"d38", g.D38, 1e4, x.d38, false}} {
		if d.null {
			if d.got != 0 {
				return fmt.Errorf("%s is %v, want null (0)", d.name, d.got)
			}
			continue
		}
		if int64(math.Round(d.got*d.scale)) != d.want {
			return fmt.Errorf("%s is %v, want %d / %v", d.name, d.got, d.want, d.scale)
		}
	}
	g.D9, g.D18, g.D38 = x.m.D9, x.m.D18, x.m.D38
	if !reflect.DeepEqual(g, x.m) {
		return errors.New("fields differ")
	}
	return nil
}

// Malformed values (a string that is not the field's integer) fail their
// row alone, with the same error on both paths; resuming inside a row
// group skips the rows before.
func TestParquetDirectRecordErrorsAndResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.parquet")
	want := writeMixed(t, path, 1600, 700, 13, 5, parquet.WithDataPageSize(300))
	p, _ := NewParquet[mixed]()
	got, bad, direct := readSplits(t, p, []string{path})
	if !direct {
		t.Fatal("not read by the direct reader")
	}
	pa := *p
	pa.arrowOnly = true
	_, refBad, _ := readSplits(t, &pa, []string{path})
	if !reflect.DeepEqual(bad, refBad) {
		t.Fatalf("errors differ:\n direct %v\n  arrow %v", bad, refBad)
	}
	for i, x := range want {
		if x.bad != (bad[i] != "") {
			t.Fatalf("row %d: malformed %v, error %q", i, x.bad, bad[i])
		}
		if !x.bad {
			if err := x.check(got[i]); err != nil {
				t.Fatalf("row %d: %v", i, err)
			}
		}
	}
	if e := bad[12]; !strings.Contains(e, "row group 0, row 12: column numstr: not an integer") {
		t.Fatalf("error %q", e)
	}

	ctx := context.Background()
	splits, _ := p.Splits(ctx, []string{path}, 0)
	for _, from := range []int64{1, 2047, 2048, 2049, 599} {
		s := splits[1]
		if from > s.Rows {
			continue
		}
		r, err := p.Open(ctx, s, from)
		if err != nil {
			t.Fatal(err)
		}
		var v mixed
		row := 700 + int(from)
		for ; ; row++ {
			err := r.Next(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil && !want[row].bad {
				if err := want[row].check(v); err != nil {
					t.Fatalf("from %d, row %d: %v", from, row, err)
				}
			}
		}
		r.Close()
		if row != 1400 {
			t.Fatalf("from %d: read to row %d, want 1400", from, row)
		}
	}
	if _, err := p.Open(ctx, splits[2], 300); err == nil || !strings.Contains(err.Error(), "row group 2 has fewer than 300 rows") {
		t.Fatalf("resuming past the end: %v", err)
	}
}

func TestHybridDecoder(t *testing.T) {
	// An RLE run of 5 threes, then a bit-packed run of one group (8 values
	// of 3 bits: 0..7), then an RLE run of 2 sixes, at width 3.
	var packed uint32
	for i := range 8 {
		packed |= uint32(i) << (3 * i)
	}
	data := []byte{5 << 1, 3, 1<<1 | 1, byte(packed), byte(packed >> 8), byte(packed >> 16), 2 << 1, 6}
	var d hybridDecoder
	if err := d.reset(data, 3); err != nil {
		t.Fatal(err)
	}
	got := make([]uint32, 15)
	for _, chunk := range [][2]int{{0, 4}, {4, 9}, {9, 15}} { // reads across runs
		if err := d.read(got[chunk[0]:chunk[1]]); err != nil {
			t.Fatal(err)
		}
	}
	want := []uint32{3, 3, 3, 3, 3, 0, 1, 2, 3, 4, 5, 6, 7, 6, 6}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if err := d.read(got[:1]); !errors.Is(err, errTruncated) {
		t.Fatalf("past the end: %v", err)
	}
	// BIT_PACKED definition levels: most significant bit first.
	l := levels{packed: []byte{0b1011_0000, 0b1000_0000}}
	valid := make([]bool, 9)
	if nulls, err := l.read(valid[:3], 1); err != nil || nulls != 1 {
		t.Fatalf("BIT_PACKED levels: %d nulls, %v", nulls, err)
	}
	if nulls, err := l.read(valid[3:], 1); err != nil || nulls != 4 || !reflect.DeepEqual(valid, []bool{true, false, true, true, false, false, false, false, true}) {
		t.Fatalf("BIT_PACKED levels: %v, %d nulls, %v", valid, nulls, err)
	}
	if _, err := l.read(valid[:8], 1); !errors.Is(err, errTruncated) {
		t.Fatalf("BIT_PACKED levels past the end: %v", err)
	}
	for _, bad := range [][]byte{{5 << 1}, {5 << 1, 9}, {0}, {1}, {0x80}} {
		_ = d.reset(bad, 3)
		if err := d.read(got[:3]); err == nil {
			t.Fatalf("%x: no error", bad)
		}
	}
}

// fuzzRecord is what FuzzParquetDirect reads.
type fuzzRecord struct {
	ID   int64   `floe:"id"`
	I32  int32   `floe:"i32"`
	D18  float64 `floe:"d18"`
	D38  float64 `floe:"d38"`
	Day  time.Time
	Name string `floe:"name"`
	Text string `floe:"text"`
}

// fuzzSeeds are small files of mixed rows, dictionary-encoded with page
// version 1 and PLAIN with version 2.
func fuzzSeeds(t testing.TB) [][]byte {
	dir := t.TempDir()
	var seeds [][]byte
	for k, props := range [][]parquet.WriterProperty{
		{parquet.WithStoreDecimalAsInteger(true)},
		{parquet.WithDictionaryDefault(false), parquet.WithDataPageVersion(parquet.DataPageV2)},
	} {
		path := filepath.Join(dir, fmt.Sprint(k, ".parquet"))
		writeMixed(t, path, 40, 25, 0, uint64(k), append(props, parquet.WithDataPageSize(200))...)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// readMalformed reads file b to its end: errors must name the file (and
// the row group when one cannot be read); a panic fails the test.
func readMalformed(t *testing.T, p *Parquet[fuzzRecord], b []byte) {
	path := filepath.Join(t.TempDir(), "f.parquet")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	splits, err := p.Splits(ctx, []string{path}, 0)
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error without the file: %v", err)
		}
		return
	}
	for _, s := range splits {
		where := fmt.Sprintf("%s: row group %d", path, s.RowGroup)
		r, err := p.Open(ctx, s, 0)
		if err != nil {
			if !strings.Contains(err.Error(), where) {
				t.Fatalf("error without the file and row group: %v", err)
			}
			continue
		}
		var v fuzzRecord
		for range s.Rows + 1 {
			err := r.Next(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			var re *RecordError
			if err != nil && !errors.As(err, &re) {
				if !strings.Contains(err.Error(), where) {
					t.Fatalf("error without the file and row group: %v", err)
				}
				break
			}
		}
		r.Close()
	}
}

// Files with bytes overwritten at random (footers, page headers, levels,
// values) give errors, not panics.
func TestParquetMalformedFiles(t *testing.T) {
	p, err := NewParquet[fuzzRecord]()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for k, seed := range fuzzSeeds(t) {
		for i := range 400 {
			b := bytes.Clone(seed)
			for range 1 + r.IntN(4) {
				b[r.IntN(len(b))] = byte(r.Uint32())
			}
			if i%10 == 0 {
				b = b[:r.IntN(len(b))]
			}
			t.Run(fmt.Sprint(k, "/", i), func(t *testing.T) { readMalformed(t, p, b) })
		}
	}
}

// FuzzParquetDirect reads mutated Parquet files: they give errors naming
// the file (and the row group when a row group cannot be read), never a
// panic. (With -fuzz's coverage instrumentation of arrow's reader it runs
// at a few inputs a minute on a loaded 2-core machine; a test binary built
// without it, `go test -c` then `-test.fuzz`, runs hundreds a second.)
func FuzzParquetDirect(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	p, err := NewParquet[fuzzRecord]()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) { readMalformed(t, p, b) })
}

// Column chunk buffers, page readers and page buffers go back to a pool
// when a row group's reader closes and serve the next (of any column):
// readers open at the same time, read in turns, closed and reopened in
// another order, give what the Arrow path gives.
func TestParquetDirectReusesChunks(t *testing.T) {
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")}
	props := []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Snappy), parquet.WithDataPageSize(700)}
	writeMixed(t, files[0], 3000, 500, 0, 7, props...)
	writeMixed(t, files[1], 900, 300, 0, 8, append(props, parquet.WithDataPageVersion(parquet.DataPageV2))...)
	p, err := NewParquet[mixed]()
	if err != nil {
		t.Fatal(err)
	}
	pa := *p
	pa.arrowOnly = true
	ref, _, _ := readSplits(t, &pa, files)
	ctx := context.Background()
	splits, err := p.Splits(ctx, files, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]int, len(splits)) // split -> its first row in ref
	for i := 1; i < len(splits); i++ {
		first[i] = first[i-1] + int(splits[i-1].Rows)
	}
	for round := range 3 {
		// Open three splits at a time (the last round from the end) and read
		// them a row each in turn.
		order := make([]int, len(splits))
		for i := range order {
			order[i] = i
			if round == 2 {
				order[i] = len(splits) - 1 - i
			}
		}
		for len(order) > 0 {
			group := order[:min(3, len(order))]
			order = order[len(group):]
			readers := make([]Reader[mixed], len(group))
			rows := make([]int, len(group))
			for j, s := range group {
				r, err := p.Open(ctx, splits[s], 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := r.(*directReader[mixed]); !ok {
					t.Fatalf("split %d not read by the direct reader", s)
				}
				readers[j] = r
			}
			for open := len(group); open > 0; {
				for j, r := range readers {
					if r == nil {
						continue
					}
					var v mixed
					err := r.Next(&v)
					if errors.Is(err, io.EOF) {
						if rows[j] != int(splits[group[j]].Rows) {
							t.Fatalf("round %d: split %d: %d rows, want %d", round, group[j], rows[j], splits[group[j]].Rows)
						}
						r.Close()
						readers[j] = nil
						open--
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					if want := ref[first[group[j]]+rows[j]]; !reflect.DeepEqual(v, want) {
						t.Fatalf("round %d: split %d row %d:\n got %+v\nwant %+v", round, group[j], rows[j], v, want)
					}
					rows[j]++
				}
			}
		}
	}
}

func TestSliceReader(t *testing.T) {
	r := &sliceReader{b: []byte("abcdef")}
	if b, err := r.Peek(2); string(b) != "ab" || err != nil {
		t.Fatalf("Peek(2) = %q, %v", b, err)
	}
	if n, err := r.Discard(3); n != 3 || err != nil {
		t.Fatalf("Discard(3) = %d, %v", n, err)
	}
	if b, err := r.Peek(10); string(b) != "def" || err != io.EOF {
		t.Fatalf("Peek(10) = %q, %v; want the rest and io.EOF", b, err)
	}
	buf := make([]byte, 2)
	if n, err := r.Read(buf); n != 2 || err != nil || string(buf) != "de" {
		t.Fatalf("Read = %d, %v, %q", n, err, buf)
	}
	if n, err := r.Discard(5); n != 1 || err != io.EOF {
		t.Fatalf("Discard past the end = %d, %v", n, err)
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v", n, err)
	}
}

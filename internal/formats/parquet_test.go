package formats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// order has the column types DuckDB writes for TPC-H: int32 and int64
// keys, decimal(15,2), date32, strings; and a timestamp, a bool, a binary
// (Parquet has no duration type that pqarrow writes).
type order struct {
	Key      int64 `floe:"o_orderkey"`
	CustKey  int32 `floe:"o_custkey"`
	Price    float64
	Cents    int64  `floe:"price_cents"`
	PriceStr string `floe:"price_text"`
	Date     time.Time
	Status   string
	Ts       time.Time
	Urgent   bool
	Note     []byte
}

// writeOrders writes n random orders to path through pqarrow directly,
// with row groups of 100 rows and some nulls, and returns what it wrote
// (nulls as zero values).
func writeOrders(t *testing.T, path string, n int, seed uint64) []order {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "O_ORDERKEY", Type: arrow.PrimitiveTypes.Int64},
		{Name: "o_custkey", Type: arrow.PrimitiveTypes.Int32},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}, Nullable: true},
		{Name: "price_cents", Type: &arrow.Decimal128Type{Precision: 15, Scale: 0}},
		{Name: "price_text", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}},
		{Name: "date", Type: arrow.FixedWidthTypes.Date32},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "unread", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "urgent", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "note", Type: arrow.BinaryTypes.Binary},
	}, nil)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(100)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	var want []order
	for i := range n {
		cents := r.Int64N(1e9)
		o := order{Key: int64(i) + int64(seed)<<32, CustKey: r.Int32(), Price: float64(cents) / 100, Cents: cents,
			PriceStr: fmt.Sprintf("%d.%02d", cents/100, cents%100),
			Date:     time.Date(1992, 1, 1+r.IntN(2500), 0, 0, 0, 0, time.UTC), Status: string("OFP"[r.IntN(3)]),
			Ts: time.UnixMicro(r.Int64N(4e15)).UTC(), Urgent: r.IntN(2) == 0,
			Note: []byte(fmt.Sprint("n", i))}
		b.Field(0).(*array.Int64Builder).Append(o.Key)
		b.Field(1).(*array.Int32Builder).Append(o.CustKey)
		if i%7 == 3 {
			b.Field(2).AppendNull()
			b.Field(6).AppendNull()
			o.Price, o.Status = 0, ""
		} else {
			b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(cents))
			b.Field(6).(*array.StringBuilder).Append(o.Status)
		}
		b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(cents))
		b.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(cents))
		b.Field(5).(*array.Date32Builder).Append(arrow.Date32FromTime(o.Date))
		b.Field(7).(*array.StringBuilder).Append("x")
		b.Field(8).(*array.TimestampBuilder).Append(arrow.Timestamp(o.Ts.UnixMicro()))
		b.Field(9).(*array.BooleanBuilder).Append(o.Urgent)
		b.Field(10).(*array.BinaryBuilder).Append(o.Note)
		want = append(want, o)
		if b.Field(0).Len() == 64 || i == n-1 { // batches that do not line up with row groups
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
	return want
}

func (o order) String() string {
	return fmt.Sprintf("%d %d %.2f %d %s %s %s %s %v %s", o.Key, o.CustKey, o.Price, o.Cents, o.PriceStr, o.Date.Format(time.DateOnly),
		o.Status, o.Ts.Format(time.RFC3339Nano), o.Urgent, o.Note)
}

func TestParquetColumnTypes(t *testing.T) {
	dir := t.TempDir()
	want := writeOrders(t, filepath.Join(dir, "a.parquet"), 450, 1)
	want = append(want, writeOrders(t, filepath.Join(dir, "b.parquet"), 99, 2)...)
	p, err := NewParquet[order]()
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")}
	splits, err := p.Splits(context.Background(), files, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 5+1 {
		t.Fatalf("%d splits, want 6 row groups", len(splits))
	}
	got := readAll(t, Format[order](p), files, 0)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Fatalf("row %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestParquetResumeAndErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.parquet")
	want := writeOrders(t, path, 250, 3)
	p, _ := NewParquet[order]()
	ctx := context.Background()
	splits, _ := p.Splits(ctx, []string{path}, 0)
	r, err := p.Open(ctx, splits[1], 37)
	if err != nil {
		t.Fatal(err)
	}
	var v order
	if err := r.Next(&v); err != nil || v.String() != want[137].String() || r.Pos() != 38 {
		t.Fatalf("resumed at row 37 of row group 1: %v, %s (pos %d)", err, v, r.Pos())
	}
	r.Close()

	type narrow struct {
		Key int8 `floe:"o_orderkey"`
	}
	pn, _ := NewParquet[narrow]()
	rn, err := pn.Open(ctx, splits[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rn.Close()
	var re *RecordError
	var n narrow
	for {
		err := rn.Next(&n)
		if errors.Is(err, io.EOF) {
			t.Fatal("no value out of int8's range")
		}
		if errors.As(err, &re) {
			break
		}
	}
	if re.RowGroup != 0 || re.Row != 0 || !strings.Contains(re.Error(), "row group 0, row 0: column o_orderkey: 12884901888 is out of the range of int8") {
		t.Fatalf("error %v", re)
	}

	type missing struct{ Nope int }
	pm, _ := NewParquet[missing]()
	if _, err := pm.Splits(ctx, []string{path}, 0); !errors.Is(err, ErrMapping) {
		t.Fatalf("a field without a column: %v", err)
	}
	type wrong struct {
		Date bool
	}
	pw, _ := NewParquet[wrong]()
	if _, err := pw.Splits(ctx, []string{path}, 0); !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), "date32") {
		t.Fatalf("a bool from a date: %v", err)
	}
}

// A footer is parsed once per file version: a file rewritten at the same
// path (another size and time) is read with its new footer, not the cached
// one.
func TestParquetFooterCacheSeesRewrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.parquet")
	p, _ := NewParquet[order]()
	for i, n := range []int{250, 120, 330} {
		want := writeOrders(t, path, n, uint64(10+i))
		got := readAll(t, Format[order](p), []string{path}, 0)
		if len(got) != len(want) {
			t.Fatalf("version %d: %d rows, want %d", i, len(got), len(want))
		}
		for j := range want {
			if got[j].String() != want[j].String() {
				t.Fatalf("version %d row %d:\n got %s\nwant %s", i, j, got[j], want[j])
			}
		}
		// Twice: the second read takes the footer from the cache.
		if again := readAll(t, Format[order](p), []string{path}, 0); len(again) != len(want) || again[n-1].String() != want[n-1].String() {
			t.Fatalf("version %d read again: %d rows, want %d", i, len(again), len(want))
		}
	}
}

package codec

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

type Inner struct {
	A int32
	B string
}

type Word string

type Everything struct {
	Bool    bool
	I8      int8
	I16     int16
	I32     int32
	I64     int64
	I       int
	U8      uint8
	U16     uint16
	U32     uint32
	U64     uint64
	U       uint
	F32     float32
	F64     float64
	S       string
	W       Word
	Bytes   []byte
	At      time.Time
	Took    time.Duration
	Inner   Inner
	Tags    []string
	Nums    []int64
	Inners  []Inner
	Renamed int64 `floe:"renamed_field"`
}

var words = []string{"", "a", "héllo", "日本語", strings.Repeat("x", 300), "tab\tnew\nline"}

func randomEverything(r *rand.Rand) Everything {
	var e Everything
	e.Bool = r.IntN(2) == 1
	e.I8, e.I16, e.I32 = int8(r.Uint32()), int16(r.Uint32()), int32(r.Uint32())
	e.I64, e.I = int64(r.Uint64()), int(r.Uint64())
	e.U8, e.U16, e.U32, e.U64, e.U = uint8(r.Uint32()), uint16(r.Uint32()), r.Uint32(), r.Uint64(), uint(r.Uint64())
	e.F32, e.F64 = r.Float32()*1e6-5e5, r.NormFloat64()*1e300
	if r.IntN(10) == 0 {
		e.F64 = math.Inf(-1)
		e.I64 = math.MinInt64
	}
	e.S, e.W = words[r.IntN(len(words))], Word(words[r.IntN(len(words))])
	switch r.IntN(3) {
	case 0: // nil
	case 1:
		e.Bytes = []byte{}
	default:
		e.Bytes = []byte(words[r.IntN(len(words))] + "\x00\xff")
	}
	if r.IntN(4) != 0 {
		e.At = time.Unix(int64(r.Uint32()), int64(r.IntN(1e9))).UTC()
	}
	e.Took = time.Duration(r.Int64())
	e.Inner = Inner{A: int32(r.Uint32()), B: words[r.IntN(len(words))]}
	switch r.IntN(3) {
	case 0:
	case 1:
		e.Tags, e.Nums, e.Inners = []string{}, []int64{}, []Inner{}
	default:
		for range r.IntN(5) {
			e.Tags = append(e.Tags, words[r.IntN(len(words))])
			e.Nums = append(e.Nums, r.Int64())
			e.Inners = append(e.Inners, Inner{A: int32(r.Uint32()), B: words[r.IntN(len(words))]})
		}
	}
	e.Renamed = r.Int64()
	return e
}

// equal compares with NaN-free floats and time.Equal semantics via reflect
// (times are decoded as UTC, so encode UTC values).
func equal(a, b Everything) bool { return reflect.DeepEqual(a, b) }

func TestRoundTripProperty(t *testing.T) {
	c, err := For[Everything]()
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(1, 2))
	w, rd := c.NewWriter(mem), c.NewReader(mem)
	defer rd.Close()
	defer w.Close()
	for round := range 50 {
		rows := make([]Everything, r.IntN(200))
		for i := range rows {
			rows[i] = randomEverything(r)
		}
		// In-memory record round trip.
		rec, err := c.Encode(mem, rows)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(rec, nil)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		// Wire round trip on one channel (schema only in the first message).
		msg, err := w.Append(rows)
		if err != nil {
			t.Fatal(err)
		}
		got2, err := rd.Read(append([]byte(nil), msg...), []Everything{{S: "keep"}})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(got) != len(rows) || len(got2) != len(rows)+1 || got2[0].S != "keep" {
			t.Fatalf("round %d: lengths %d %d, want %d", round, len(got), len(got2), len(rows))
		}
		for i := range rows {
			if !equal(rows[i], got[i]) || !equal(rows[i], got2[i+1]) {
				t.Fatalf("round %d row %d:\n in  %+v\n out %+v\n wire %+v", round, i, rows[i], got[i], got2[i+1])
			}
		}
	}
}

func TestScalarAndSchemas(t *testing.T) {
	c, err := For[string]()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Schema().String(); !strings.Contains(got, "value: type=utf8") {
		t.Errorf("schema %s", got)
	}
	rec, _ := c.Encode(nil, []string{"x", "", "z"})
	defer rec.Release()
	got, _ := c.Decode(rec, nil)
	if !reflect.DeepEqual(got, []string{"x", "", "z"}) {
		t.Errorf("got %q", got)
	}
	e, _ := For[Everything]()
	if f, ok := e.Schema().FieldsByName("renamed_field"); !ok || len(f) != 1 {
		t.Errorf("tag not used: %s", e.Schema())
	}
	if c2, _ := For[string](); c2 != c {
		t.Error("codec not cached")
	}
}

func TestUnsupportedTypes(t *testing.T) {
	type withMap struct{ M map[string]int }
	type withPtr struct{ P *int }
	type withHidden struct {
		A int
		//lint:ignore U1000 only the codec's reflection sees b, and it must refuse it
		b int
	}
	type deep struct{ In []struct{ F func() } }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errOf[withMap](), "map[string]int"},
		{errOf[withPtr](), "*int"},
		{errOf[withHidden](), "unexported field"},
		{errOf[deep](), "func()"},
		{errOf[any](), "interface"},
		{errOf[complex128](), "complex128"},
		{errOf[[3]int](), "[3]int"},
	} {
		if !errors.Is(tc.err, ErrUnsupportedType) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("err %v, want mention of %q", tc.err, tc.want)
		}
	}
}

func errOf[T any]() error {
	_, err := For[T]()
	return err
}

func TestReaderRejectsOtherSchemaAndGarbage(t *testing.T) {
	a, _ := For[Inner]()
	b, _ := For[Everything]()
	msg, err := a.NewWriter(nil).Append([]Inner{{1, "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewReader(nil).Read(msg, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("other schema: %v", err)
	}
	rd := a.NewReader(nil)
	if _, err := rd.Read([]byte("definitely not arrow"), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := rd.Read(msg, nil); err == nil {
		t.Error("a failed reader must stay failed")
	}
}

func FuzzReader(f *testing.F) {
	c, _ := For[Everything]()
	r := rand.New(rand.NewPCG(3, 4))
	w := c.NewWriter(nil)
	first, _ := w.Append([]Everything{randomEverything(r), randomEverything(r)})
	f.Add(append([]byte(nil), first...), false)
	second, _ := w.Append([]Everything{randomEverything(r)})
	f.Add(append(append([]byte(nil), first...), second...), true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0}, true)
	bad := append([]byte(nil), first...)
	bad[len(bad)/2] ^= 0x40
	f.Add(bad, false)
	// Arrow's IPC decoder trusts the lengths inside a message (a corrupted
	// one can ask for gigabytes), so the checksum guards it: mutations must
	// fail there. Valid messages (the seeds) decode.
	f.Fuzz(func(t *testing.T, msg []byte, wholeStream bool) {
		rd := c.NewReader(nil)
		defer rd.Close()
		rows, err := rd.Read(msg, nil)
		if err != nil && len(rows) != 0 {
			t.Fatalf("rows returned with an error")
		}
	})
}

func BenchmarkWireRoundTrip(b *testing.B) {
	type rec16 struct{ K, V int64 }
	type rec100 struct {
		K, V  int64
		Name  string
		Email string
	}
	b.Run("16B", func(b *testing.B) {
		rows := make([]rec16, 1024)
		for i := range rows {
			rows[i] = rec16{int64(i), int64(i * 7)}
		}
		benchWire(b, rows, 16)
	})
	b.Run("100B", func(b *testing.B) {
		rows := make([]rec100, 1024)
		for i := range rows {
			rows[i] = rec100{int64(i), int64(i), strings.Repeat("n", 40), strings.Repeat("e", 44)}
		}
		benchWire(b, rows, 100)
	})
}

func benchWire[T any](b *testing.B, rows []T, size int) {
	c, err := For[T]()
	if err != nil {
		b.Fatal(err)
	}
	w, r := c.NewWriter(nil), c.NewReader(nil)
	dst := make([]T, 0, len(rows))
	b.ReportAllocs()
	for b.Loop() {
		msg, err := w.Append(rows)
		if err != nil {
			b.Fatal(err)
		}
		if dst, err = r.Read(msg, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
	perRec := float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(rows))
	b.ReportMetric(perRec, "ns/rec")
	b.ReportMetric(float64(size)/perRec*1e3, "MB/s")
}

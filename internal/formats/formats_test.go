package formats

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type row struct {
	A int64
	B string
	C bool
	D time.Time
	E float64
	F []byte
	G uint16
	H time.Duration
}

func TestCSVDecode(t *testing.T) {
	date := time.Date(1995, 3, 15, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name, line string
		opts       CSVOptions
		want       row
		err        string
	}{
		{name: "plain", line: "1,x,true,1995-03-15,2.5,raw,7,1m", want: row{A: 1, B: "x", C: true, D: date, E: 2.5, F: []byte("raw"), G: 7, H: time.Minute}},
		{name: "tbl", line: "1|x|false|1995-03-15|0.01|||0s|", opts: CSVOptions{Delimiter: '|'}, want: row{A: 1, B: "x", D: date, E: 0.01}},
		{name: "empty is zero", line: ",,,,,,,", want: row{}},
		{name: "quoted", line: `-3,"a,""b""",1,"1995-03-15T10:00:00Z",1e3,"",65535,`,
			want: row{A: -3, B: `a,"b"`, C: true, D: date.Add(10 * time.Hour), E: 1000, G: 65535}},
		{name: "timestamp without zone", line: "0,,,1995-03-15 01:02:03.5,,,,", want: row{D: date.Add(time.Hour + 2*time.Minute + 3*time.Second + 500*time.Millisecond)}},
		{name: "no quoting", line: `0,"x,,,,,,`, opts: CSVOptions{NoQuoting: true}, want: row{B: `"x`}},
		{name: "multibyte delimiter", line: "5§é§true§§§§§", opts: CSVOptions{Delimiter: '§'}, want: row{A: 5, B: "é", C: true}},
		{name: "too few", line: "1,2", err: "2 fields, want 8"},
		{name: "too many", line: "1,,,,,,,,x", err: "9 fields, want 8"},
		{name: "bad int", line: "1.5,,,,,,,", err: "column 1 (A): not an integer"},
		{name: "uint range", line: "0,,,,,,65536,", err: "out of the range"},
		{name: "bad date", line: "0,,,1995-02-30,,,,", err: "not a date"},
		{name: "open quote", line: `0,"abc,,,,,,`, err: "not closed"},
		{name: "text after quote", line: `0,"a"b,,,,,,`, err: "after the closing quote"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := NewCSV[row](c.opts)
			if err != nil {
				t.Fatal(err)
			}
			d, err := f.Bind(nil)
			if err != nil {
				t.Fatal(err)
			}
			var got row
			err = d.Decode([]byte(c.line), &got)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || !got.D.Equal(c.want.D) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestCSVHeaderMapping(t *testing.T) {
	f, err := NewCSV[row](CSVOptions{Header: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Bind([]byte("a,b,c")); !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), "D, E, F, G, H") {
		t.Fatalf("missing columns: %v", err)
	}
	d, err := f.Bind([]byte("h, G ,f,E,d,c,b,a,extra"))
	if err != nil {
		t.Fatal(err)
	}
	var got row
	if err := d.Decode([]byte("2s,3,,,,,b,9,ignored"), &got); err != nil {
		t.Fatal(err)
	}
	if got.A != 9 || got.B != "b" || got.G != 3 || got.H != 2*time.Second {
		t.Fatalf("got %+v", got)
	}
	if _, err := NewCSV[struct{ M map[string]int }](CSVOptions{}); !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("a map field: %v", err)
	}
}

// writeLines writes random lines (some empty, some CRLF, some long) and
// returns them without their line breaks.
func writeLines(t *testing.T, path string, n int, seed uint64, long bool) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	var lines []string
	for i := range n {
		l := fmt.Sprintf("%d:%s", i, strings.Repeat("x", r.IntN(40)))
		if long && r.IntN(50) == 0 {
			l = fmt.Sprintf("%d:%s", i, strings.Repeat("long", 1<<15)) // beyond the reader's buffer
		}
		b.WriteString(l)
		lines = append(lines, l)
		switch r.IntN(10) {
		case 0:
			b.WriteString("\r\n")
		case 1:
			b.WriteString("\n\n") // a blank line: no record
		default:
			b.WriteString("\n")
		}
	}
	if r.IntN(2) == 0 { // without a final line break
		b.Truncate(b.Len() - 1)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return lines
}

type line struct{ S string }

// readAll reads every split of files with f, in order.
func readAll[T any](t *testing.T, f Format[T], files []string, size int64) []T {
	t.Helper()
	ctx := context.Background()
	splits, err := f.Splits(ctx, files, size)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, s := range splits {
		r, err := f.Open(ctx, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		for {
			var v T
			err := r.Next(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		r.Close()
	}
	return out
}

func TestSplitsOwnEachLineOnce(t *testing.T) {
	dir := t.TempDir()
	f, err := NewCSV[line](CSVOptions{Delimiter: '\t', NoQuoting: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{1, 2, 3, 17, 64, 1000, 5000, 1 << 16, 0} {
		long := size >= 5000 || size == 0 // lines beyond the read buffer, where splits are not tiny
		var files, want []string
		for i := range 3 {
			p := filepath.Join(dir, fmt.Sprint(size, "-", i))
			files = append(files, p)
			want = append(want, writeLines(t, p, 300, uint64(i), long)...)
		}
		var got []string
		for _, l := range readAll(t, Format[line](f), files, size) {
			got = append(got, l.S)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("split size %d: %d lines, want %d", size, len(got), len(want))
		}
	}
}

// Reopening a split at a position a reader reported goes on with the next record.
func TestTextResume(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in")
	want := writeLines(t, p, 200, 9, false)
	f, _ := NewCSV[line](CSVOptions{Delimiter: '\t', NoQuoting: true})
	ctx := context.Background()
	splits, _ := f.Splits(ctx, []string{p}, 500)
	var got []string
	for _, s := range splits {
		var pos int64
		for { // one record per Open
			r, err := f.Open(ctx, s, pos)
			if err != nil {
				t.Fatal(err)
			}
			var v line
			err = r.Next(&v)
			pos = r.Pos()
			r.Close()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v.S)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
}

func TestHeaderInEverySplit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.csv")
	var b strings.Builder
	b.WriteString("B,A,C,D,E,F,G,H\n")
	for i := range 100 {
		fmt.Fprintf(&b, "s%d,%d,,,,,,\n", i, i)
	}
	os.WriteFile(p, []byte(b.String()), 0o644)
	f, _ := NewCSV[row](CSVOptions{Header: true})
	got := readAll(t, Format[row](f), []string{p}, 10)
	if len(got) != 100 {
		t.Fatalf("%d records, want 100", len(got))
	}
	for i, r := range got {
		if r.A != int64(i) || r.B != fmt.Sprint("s", i) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

func TestRecordErrorAndLineOf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in")
	os.WriteFile(p, []byte("1\n2\n\nx\n5\n"), 0o644)
	f, _ := NewCSV[struct{ N int }](CSVOptions{})
	ctx := context.Background()
	splits, _ := f.Splits(ctx, []string{p}, 0)
	r, _ := f.Open(ctx, splits[0], 0)
	defer r.Close()
	var v struct{ N int }
	var re *RecordError
	var n int
	for {
		err := r.Next(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, &re) {
			continue // the reader goes on after a malformed record
		}
		if err != nil {
			t.Fatal(err)
		}
		n += v.N
	}
	if n != 8 || re == nil || !errors.Is(re, ErrMalformed) {
		t.Fatalf("sum %d, error %v", n, re)
	}
	line, err := LineOf(ctx, p, re.Offset)
	if err != nil || line != 4 || re.Offset != 5 {
		t.Fatalf("line %d (offset %d), %v; want line 4 at offset 5", line, re.Offset, err)
	}
}

func TestJSONLinesDecode(t *testing.T) {
	j, err := NewJSONLines[struct {
		A    int64
		B    string `json:"bee"`
		D    time.Time
		F    []byte
		E    float32
		Nest struct{ X int }
		U    uint8
	}]()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		A    int64
		B    string `json:"bee"`
		D    time.Time
		F    []byte
		E    float32
		Nest struct{ X int }
		U    uint8
	}
	line := `{"a": 3.0, "BEE": "x", "d": "2020-02-29", "f": "AQI=", "e": "1.5", "nest": {"x": 4}, "other": [1], "u": null}`
	if err := j.Decode([]byte(line), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 3 || v.B != "x" || !v.D.Equal(time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC)) || !bytes.Equal(v.F, []byte{1, 2}) || v.E != 1.5 || v.Nest.X != 4 {
		t.Fatalf("got %+v", v)
	}
	for _, bad := range []string{`[1]`, `null`, `{"a": 1.5}`, `{"a": "x"}`, `{"u": 300}`, `{"u": -1}`, `{"a": true}`, `{`} {
		if err := j.Decode([]byte(bad), &v); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// fuzzRow has fields of every text kind but floats (NaN != NaN).
type fuzzRow struct {
	A int32
	B string
	C bool
	D time.Time
	F []byte
	G uint64
	H time.Duration
}

// FuzzCSVDecode: decoding never panics, and what decodes formats
// (AppendRecord, the writer) to a line that decodes to the same record.
func FuzzCSVDecode(f *testing.F) {
	for _, s := range []string{"1,x,true,2020-01-01,raw,3,1s", `1,"a,""b",false,,,,`, "|||||||", `"`, ",,,,,,,", "1|2|", "1,2,3,4,5,6,7,8"} {
		f.Add(s, byte(','))
		f.Add(s, byte('|'))
	}
	f.Fuzz(func(t *testing.T, line string, delim byte) {
		if delim == '"' || delim == '\n' || delim == '\r' || delim >= 0x80 || delim == 0 || strings.ContainsAny(line, "\r\n") {
			return
		}
		c, err := NewCSV[fuzzRow](CSVOptions{Delimiter: rune(delim)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Bind(nil)
		if err != nil {
			t.Fatal(err)
		}
		var v fuzzRow
		if err := d.Decode([]byte(line), &v); err != nil {
			return
		}
		line1 := c.AppendRecord(nil, &v)
		var v2 fuzzRow
		if err := d.Decode(bytes.TrimSuffix(line1, []byte("\n")), &v2); err != nil {
			t.Fatalf("%q decoded to %+v, formatted as %q, which does not decode: %v", line, v, line1, err)
		}
		if line2 := c.AppendRecord(nil, &v2); !bytes.Equal(line1, line2) {
			rec, rec2 := line1, line2
			t.Fatalf("%q: %q then %q", line, rec, rec2)
		}
	})
}

// FuzzJSONLinesDecode: decoding never panics, and what decodes marshals
// (encoding/json) to a line that decodes to the same record.
func FuzzJSONLinesDecode(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x","c":true,"d":"2020-01-01","f":"AQI=","g":3,"h":"1s"}`, `{}`, `{"a":null}`, `{"a":1e2}`, `[`, `{"d":"2020-01-01T00:00:00Z"}`} {
		f.Add([]byte(s))
	}
	j, err := NewJSONLines[fuzzRow]()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var v fuzzRow
		if err := j.Decode(line, &v); err != nil {
			return
		}
		// encoding/json writes time.Time in RFC 3339 and durations as numbers
		// of nanoseconds; both read back.
		b, err := json.Marshal(v)
		if err != nil {
			return // a year beyond 9999
		}
		var v2 fuzzRow
		if err := j.Decode(b, &v2); err != nil {
			t.Fatalf("%q decoded to %+v, marshalled as %s, which does not decode: %v", line, v, b, err)
		}
		if !v.D.Equal(v2.D) || v.A != v2.A || v.B != v2.B || v.C != v2.C || !bytes.Equal(v.F, v2.F) || v.G != v2.G || v.H != v2.H {
			t.Fatalf("%q: %+v then %+v", line, v, v2)
		}
	})
}

type wline struct {
	ID    int64 `floe:"id"`
	Name  string
	Price float32
	Day   time.Time
	At    time.Time
	Lag   time.Duration
	Skip  string `floe:"-"`
	Inner struct {
		OK   bool
		Code uint8
	}
	embedded
}

type embedded struct{ Note string }

// AppendRecord writes what encoding/csv reads as the expected text of each
// field (computed here with strconv and time.Format), and what Decode reads
// back as the record, for any delimiter and fields that need quoting.
func TestCSVAppendRecordReadsBack(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"plain", "a,b", "a|b", `say "hi"`, " leading", "tab\tin", "ünï", "", "a;b"}
	var rows []wline
	for i := range 500 {
		var w wline
		w.ID = int64(i) - 250
		w.Name = words[r.IntN(len(words))] + words[r.IntN(len(words))]
		w.Price = float32(r.IntN(100000)) / 100
		w.Day = time.Date(1992+r.IntN(7), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		if i%7 != 0 {
			w.At = time.Unix(r.Int64N(1e9), r.Int64N(1e9)).UTC()
		}
		w.Lag = time.Duration(r.Int64N(1e12))
		w.Skip = "never written"
		w.Inner.OK, w.Inner.Code = r.IntN(2) == 0, uint8(r.IntN(256))
		w.Note = words[r.IntN(len(words))]
		rows = append(rows, w)
	}
	for _, delim := range []rune{',', '|', ';', '\t'} {
		c, err := NewCSV[wline](CSVOptions{Delimiter: delim, Header: true})
		if err != nil {
			t.Fatal(err)
		}
		b := c.AppendHeader(nil)
		for i := range rows {
			b = c.AppendRecord(b, &rows[i])
		}
		cr := csv.NewReader(bytes.NewReader(b))
		cr.Comma = delim
		recs, err := cr.ReadAll()
		if err != nil {
			t.Fatalf("delimiter %q: encoding/csv: %v", delim, err)
		}
		if want := []string{"id", "Name", "Price", "Day", "At", "Lag", "Inner.OK", "Inner.Code", "Note"}; !slices.Equal(recs[0], want) {
			t.Fatalf("delimiter %q: header %q, want %q", delim, recs[0], want)
		}
		if len(recs) != len(rows)+1 {
			t.Fatalf("delimiter %q: %d records, want %d", delim, len(recs)-1, len(rows))
		}
		d, err := c.Bind(bytes.SplitN(b, []byte("\n"), 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))[1:]
		for i, w := range rows {
			at := ""
			if !w.At.IsZero() {
				at = w.At.Format(time.RFC3339Nano)
			}
			want := []string{strconv.FormatInt(w.ID, 10), w.Name, strconv.FormatFloat(float64(w.Price), 'f', -1, 32),
				w.Day.Format("2006-01-02"), at, w.Lag.String(), strconv.FormatBool(w.Inner.OK), strconv.Itoa(int(w.Inner.Code)), w.Note}
			if !slices.Equal(recs[i+1], want) {
				t.Fatalf("delimiter %q, row %d: encoding/csv read %q, want %q", delim, i, recs[i+1], want)
			}
			var got wline
			if err := d.Decode(lines[i], &got); err != nil {
				t.Fatalf("delimiter %q, row %d: %q: %v", delim, i, lines[i], err)
			}
			w.Skip = ""
			if !got.At.Equal(w.At) || !got.Day.Equal(w.Day) {
				t.Fatalf("delimiter %q, row %d: times %v %v, want %v %v", delim, i, got.Day, got.At, w.Day, w.At)
			}
			got.At, got.Day, w.At, w.Day = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != w {
				t.Fatalf("delimiter %q, row %d: decoded %+v, want %+v", delim, i, got, w)
			}
		}
	}
}

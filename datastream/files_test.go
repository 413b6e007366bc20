package datastream_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"floe/config"
	"floe/datastream"
)

// lineItem is a few of TPC-H's lineitem columns, in .tbl order.
type lineItem struct {
	OrderKey  int64
	Quantity  float64
	Flag      string
	ShipDate  time.Time
	Comment   string
	Delivered bool
	Lag       time.Duration
	Tiny      int8
	Count     uint32
	Raw       []byte
}

func (l lineItem) key() string {
	return fmt.Sprintf("%d|%v|%s|%s|%s|%v|%v|%d|%d|%s", l.OrderKey, l.Quantity, l.Flag, l.ShipDate.UTC().Format(time.RFC3339Nano),
		l.Comment, l.Delivered, l.Lag, l.Tiny, l.Count, l.Raw)
}

func randomItem(r *rand.Rand, i int) lineItem {
	words := []string{"furiously", "quick", "pending", "deposits", "sleep", "a,b", "quote\"d", "ünïcode"}
	var c []string
	for range r.IntN(12) {
		c = append(c, words[r.IntN(len(words))])
	}
	return lineItem{
		OrderKey: int64(i), Quantity: float64(r.IntN(5000)) / 100, Flag: string("ARN"[r.IntN(3)]),
		ShipDate: time.Date(1992+r.IntN(7), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC),
		Comment:  strings.Join(c, " "), Delivered: r.IntN(2) == 0, Lag: time.Duration(r.IntN(1e6)) * time.Millisecond,
		Tiny: int8(r.IntN(256) - 128), Count: r.Uint32(), Raw: []byte(fmt.Sprint("raw", r.IntN(10))),
	}
}

// writeCSVFiles writes items over files in dir with Go's encoding/csv, and
// returns them. tbl adds a delimiter after the last field, as TPC-H's dbgen.
func writeCSVFiles(t *testing.T, dir string, files, rows int, comma rune, header, tbl bool) []lineItem {
	t.Helper()
	r := rand.New(rand.NewPCG(1, uint64(rows)))
	var all []lineItem
	for f := range files {
		fh, err := os.Create(filepath.Join(dir, fmt.Sprintf("part-%d.tbl", f)))
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(fh)
		w.Comma = comma
		if header {
			w.Write([]string{"orderkey", "QUANTITY", "flag", "shipdate", "comment", "delivered", "lag", "tiny", "count", "raw"})
		}
		for range rows {
			it := randomItem(r, len(all))
			all = append(all, it)
			rec := []string{fmt.Sprint(it.OrderKey), fmt.Sprint(it.Quantity), it.Flag, it.ShipDate.Format("2006-01-02"), it.Comment,
				fmt.Sprint(it.Delivered), it.Lag.String(), fmt.Sprint(it.Tiny), fmt.Sprint(it.Count), string(it.Raw)}
			if tbl {
				rec = append(rec, "")
			}
			w.Write(rec)
		}
		w.Flush()
		if err := errors.Join(w.Error(), fh.Close()); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

func multiset[T any](items []T, key func(T) string) map[string]int {
	m := map[string]int{}
	for _, it := range items {
		m[key(it)]++
	}
	return m
}

func sameMultiset(t *testing.T, got, want map[string]int) {
	t.Helper()
	n := 0
	for k, w := range want {
		if got[k] != w {
			if n++; n < 5 {
				t.Errorf("record %q: got %d, want %d", k, got[k], w)
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if n++; n < 5 {
				t.Errorf("unexpected record %q (%d times)", k, g)
			}
		}
	}
	if n > 0 {
		t.Fatalf("%d records differ (got %d distinct, want %d)", n, len(got), len(want))
	}
}

func TestReadCSVTblGlobSplitsAtParallelism2(t *testing.T) {
	dir := t.TempDir()
	want := writeCSVFiles(t, dir, 3, 500, '|', false, true)
	for _, size := range []int64{97, 4096, 0} { // splits cut lines; one split per file
		t.Run(fmt.Sprint("split=", size), func(t *testing.T) {
			env := newEnv(2)
			src := datastream.ReadCSV[lineItem](env, filepath.Join(dir, "part-*.tbl"),
				datastream.CSVOptions{Delimiter: '|', FileOptions: datastream.FileOptions{SplitSize: size}})
			out, _ := datastream.Collect(src)
			if _, err := env.Execute(context.Background(), "read-tbl"); err != nil {
				t.Fatal(err)
			}
			sameMultiset(t, multiset(out.Items(), lineItem.key), multiset(want, lineItem.key))
		})
	}
}

func TestReadCSVHeaderByName(t *testing.T) {
	dir := t.TempDir()
	want := writeCSVFiles(t, dir, 2, 300, ';', true, false)
	env := newEnv(2)
	src := datastream.ReadCSV[lineItem](env, "file://"+dir, datastream.CSVOptions{Delimiter: ';', Header: true,
		FileOptions: datastream.FileOptions{SplitSize: 1000}})
	out, _ := datastream.Collect(src)
	if _, err := env.Execute(context.Background(), "read-csv"); err != nil {
		t.Fatal(err)
	}
	sameMultiset(t, multiset(out.Items(), lineItem.key), multiset(want, lineItem.key))
}

// A struct naming columns by tag reads a file whose columns come in another order.
func TestReadCSVColumnsAndTags(t *testing.T) {
	type row struct {
		Name  string `floe:"n_name"`
		Key   int32  `floe:"n_nationkey"`
		Other string `floe:"-"`
	}
	dir := t.TempDir()
	var b strings.Builder
	want := map[string]int{}
	for i := range 25 {
		fmt.Fprintf(&b, "%d|NATION%d|%d|comment %d|\n", i, i, i%5, i)
		want[fmt.Sprintf("%d NATION%d", i, i)]++
	}
	os.WriteFile(filepath.Join(dir, "nation.tbl"), []byte(b.String()), 0o644)
	env := newEnv(2)
	src := datastream.ReadCSV[row](env, filepath.Join(dir, "nation.tbl"), datastream.CSVOptions{Delimiter: '|',
		Columns: []string{"N_NATIONKEY", "N_NAME", "N_REGIONKEY", "N_COMMENT"}, FileOptions: datastream.FileOptions{SplitSize: 64}})
	out, _ := datastream.Collect(src)
	if _, err := env.Execute(context.Background(), "read-nation"); err != nil {
		t.Fatal(err)
	}
	sameMultiset(t, multiset(out.Items(), func(r row) string { return fmt.Sprintf("%d %s", r.Key, r.Name) }), want)
}

func malformedInput(t *testing.T) (dir string, good int) {
	dir = t.TempDir()
	var b strings.Builder
	for i := range 100 {
		if i == 41 || i == 77 {
			fmt.Fprintf(&b, "%d|x%d|\n", i, i) // not an integer
			continue
		}
		fmt.Fprintf(&b, "%d|%d|\n", i, i*2)
		good++
	}
	os.WriteFile(filepath.Join(dir, "in.tbl"), []byte(b.String()), 0o644)
	return dir, good
}

type twoInts struct{ A, B int64 }

func TestReadCSVMalformedFailsWithFileAndLine(t *testing.T) {
	dir, _ := malformedInput(t)
	env := newEnv(2)
	src := datastream.ReadCSV[twoInts](env, filepath.Join(dir, "in.tbl"), datastream.CSVOptions{Delimiter: '|',
		FileOptions: datastream.FileOptions{SplitSize: 50}})
	datastream.Discard(src)
	_, err := env.Execute(context.Background(), "malformed")
	if err == nil {
		t.Fatal("a malformed record did not fail the job")
	}
	// The 42nd line is the first bad one; the job may report either.
	msg := err.Error()
	if !strings.Contains(msg, "in.tbl: line 42 ") && !strings.Contains(msg, "in.tbl: line 78 ") || !strings.Contains(msg, "not an integer") {
		t.Fatalf("error does not name the file, line and reason: %v", err)
	}
	if testing.Verbose() {
		t.Log(msg)
	}
}

func TestReadCSVSkipsMalformedUpToLimit(t *testing.T) {
	dir, good := malformedInput(t)
	for _, limit := range []string{"2", "1"} {
		t.Run("limit="+limit, func(t *testing.T) {
			env := newEnv(1, config.SourceMaxMalformed, limit)
			src := datastream.ReadCSV[twoInts](env, filepath.Join(dir, "in.tbl"), datastream.CSVOptions{Delimiter: '|'})
			out, _ := datastream.Collect(src)
			res, err := env.Execute(context.Background(), "skip")
			if limit == "1" {
				if err == nil || !strings.Contains(err.Error(), "line 78") {
					t.Fatalf("the second malformed record beyond a limit of 1: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := len(out.Items()); n != good {
				t.Fatalf("%d records, want %d", n, good)
			}
			var skipped int64
			for _, v := range res.Vertices {
				skipped += v.RecordsSkipped
			}
			if skipped != int64(100-good) {
				t.Fatalf("the summary counts %d skipped records, want %d", skipped, 100-good)
			}
		})
	}
}

func TestReadJSONLines(t *testing.T) {
	type rec struct {
		ID    int64 `json:"id"`
		Name  string
		Score float32
		When  time.Time
		Tags  []string
		Blob  []byte
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	var want []rec
	for f := range 2 {
		var b strings.Builder
		for range 400 {
			v := rec{ID: int64(len(want)), Name: fmt.Sprint("n", r.IntN(50)), Score: float32(r.IntN(1000)) / 8,
				When: time.UnixMilli(r.Int64N(4e12)).UTC(), Tags: []string{"a", fmt.Sprint(r.IntN(3))}, Blob: []byte{byte(r.IntN(256))}}
			want = append(want, v)
			line, _ := json.Marshal(v) // encoding/json: keys "id", "Name"...
			b.Write(line)
			b.WriteByte('\n')
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.jsonl", f)), []byte(b.String()), 0o644)
	}
	key := func(v rec) string {
		return fmt.Sprintf("%d %s %v %s %v %v", v.ID, v.Name, v.Score, v.When.Format(time.RFC3339Nano), v.Tags, v.Blob)
	}
	env := newEnv(2)
	src := datastream.ReadJSONLines[rec](env, dir, datastream.JSONLinesOptions{FileOptions: datastream.FileOptions{SplitSize: 500}})
	out, _ := datastream.Collect(src)
	if _, err := env.Execute(context.Background(), "read-json"); err != nil {
		t.Fatal(err)
	}
	sameMultiset(t, multiset(out.Items(), key), multiset(want, key))
}

func TestWriteCSVReadsBackWithEncodingCSV(t *testing.T) {
	dir := t.TempDir()
	in := writeCSVFiles(t, dir, 1, 700, ',', false, false)
	out := filepath.Join(t.TempDir(), "out")
	env := newEnv(2)
	src := datastream.ReadCSV[lineItem](env, dir, datastream.CSVOptions{FileOptions: datastream.FileOptions{SplitSize: 3000}})
	datastream.WriteCSV(src, out, datastream.CSVSinkOptions{Delimiter: ';', Header: true})
	if _, err := env.Execute(context.Background(), "write-csv"); err != nil {
		t.Fatal(err)
	}
	// Read back with encoding/csv, independently of internal/formats.
	var got []string
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		f, _ := os.Open(filepath.Join(out, e.Name()))
		r := csv.NewReader(f)
		r.Comma = ';'
		recs, err := r.ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(recs[0], ",") != "OrderKey,Quantity,Flag,ShipDate,Comment,Delivered,Lag,Tiny,Count,Raw" {
			t.Fatalf("header %q", recs[0])
		}
		for _, rec := range recs[1:] {
			got = append(got, strings.Join(rec, "|"))
		}
	}
	want := map[string]int{}
	for _, it := range in {
		want[strings.Join([]string{fmt.Sprint(it.OrderKey), fmt.Sprint(it.Quantity), it.Flag, it.ShipDate.Format("2006-01-02"), it.Comment,
			fmt.Sprint(it.Delivered), it.Lag.String(), fmt.Sprint(it.Tiny), fmt.Sprint(it.Count), string(it.Raw)}, "|")]++
	}
	sameMultiset(t, multiset(got, func(s string) string { return s }), want)

	// And with ReadCSV, by the header's names.
	env = newEnv(2)
	back, _ := datastream.Collect(datastream.ReadCSV[lineItem](env, out, datastream.CSVOptions{Delimiter: ';', Header: true,
		FileOptions: datastream.FileOptions{SplitSize: 2000}}))
	if _, err := env.Execute(context.Background(), "read-back"); err != nil {
		t.Fatal(err)
	}
	key := func(l lineItem) string { return l.key() }
	sameMultiset(t, multiset(back.Items(), key), multiset(in, key))
}

// An output that holds files is refused before the job starts, replaced
// with overwrite, and left as it was by a run that fails.
func TestFileSinkExistingOutput(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "earlier"), []byte("old\n"), 0o644)
	items := []twoInts{{1, 2}, {3, 4}}
	run := func(overwrite, fail bool) error {
		env := newEnv(1, config.OutputOverwrite, fmt.Sprint(overwrite))
		s := datastream.FromSlice(env, items)
		s = datastream.Map(s, func(v twoInts) twoInts {
			if fail && v.A == 3 {
				panic("injected failure")
			}
			return v
		})
		datastream.WriteJSON(s, out)
		_, err := env.Execute(context.Background(), "sink")
		return err
	}
	err := run(false, false)
	if err == nil || !strings.Contains(err.Error(), "is not empty") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("an existing output: %v, want a one-line refusal", err)
	}
	if err := run(true, true); err == nil {
		t.Fatal("the injected failure did not fail the job")
	}
	if names := dirNames(t, out); strings.Join(names, " ") != "earlier" {
		t.Fatalf("a failed run left %v, want the earlier file alone", names)
	}
	if err := run(true, false); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, out); strings.Join(names, " ") != "part-0-0" {
		t.Fatalf("after overwrite: %v", names)
	}
	b, _ := os.ReadFile(filepath.Join(out, "part-0-0"))
	if string(b) != "{\"A\":1,\"B\":2}\n{\"A\":3,\"B\":4}\n" {
		t.Fatalf("part: %q", b)
	}
}

func dirNames(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteParquetReadParquet(t *testing.T) {
	type rec struct {
		ID    int64 `floe:"id"`
		Name  string
		Score float64
		At    time.Time
		Small int16
		Data  []byte
	}
	r := rand.New(rand.NewPCG(5, 6))
	var items []rec
	for i := range 3000 {
		items = append(items, rec{ID: int64(i), Name: fmt.Sprint("n", r.IntN(100)), Score: r.Float64(),
			At: time.UnixMicro(r.Int64N(4e15)).UTC(), Small: int16(r.IntN(1000)), Data: []byte{byte(i)}})
	}
	out := filepath.Join(t.TempDir(), "pq")
	env := newEnv(2)
	datastream.WriteParquet(datastream.FromSlice(env, items), out).SetParallelism(1)
	if _, err := env.Execute(context.Background(), "write-parquet"); err != nil {
		t.Fatal(err)
	}
	key := func(v rec) string {
		return fmt.Sprintf("%d %s %v %s %d %v", v.ID, v.Name, v.Score, v.At.Format(time.RFC3339Nano), v.Small, v.Data)
	}
	env = newEnv(2)
	got, _ := datastream.Collect(datastream.ReadParquet[rec](env, "file://"+out, datastream.ParquetOptions{}))
	if _, err := env.Execute(context.Background(), "read-parquet"); err != nil {
		t.Fatal(err)
	}
	sameMultiset(t, multiset(got.Items(), key), multiset(items, key))
}

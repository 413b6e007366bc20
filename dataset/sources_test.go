package dataset_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"floe/dataset"
	"floe/datastream"
)

// tblOrder is TPC-H's orders table, as its .tbl files hold it.
type tblOrder struct {
	OrderKey      int64
	CustKey       int64
	OrderStatus   string
	TotalPrice    float64
	OrderDate     time.Time
	OrderPriority string
	Clerk         string
	ShipPriority  int32
	Comment       string
}

func (o tblOrder) key() string {
	return fmt.Sprintf("%d|%d|%s|%v|%s|%s|%s|%d|%s", o.OrderKey, o.CustKey, o.OrderStatus, o.TotalPrice,
		o.OrderDate.Format(time.DateOnly), o.OrderPriority, o.Clerk, o.ShipPriority, o.Comment)
}

// writeTbl writes files of dbgen-style lines ('|' after every field) in dir.
func writeTbl(t *testing.T, dir string, files, rows int) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	words := []string{"furiously", "regular", "deposits", "sleep", "carefully", "final", "ideas", "ünïcode"}
	n := 0
	for f := range files {
		var b strings.Builder
		for range rows {
			n++
			var c []string
			for range r.IntN(8) {
				c = append(c, words[r.IntN(len(words))])
			}
			fmt.Fprintf(&b, "%d|%d|%c|%d.%02d|%04d-%02d-%02d|%d-URGENT|Clerk#%09d|%d|%s|\n", n, r.IntN(15000), "OFP"[r.IntN(3)],
				r.IntN(500000), r.IntN(100), 1992+r.IntN(7), 1+r.IntN(12), 1+r.IntN(28), 1+r.IntN(5), r.IntN(1000), r.IntN(2), strings.Join(c, " "))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("orders.tbl.%d", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// parseTbl is Go's own parse of the files, independent of internal/formats.
func parseTbl(t *testing.T, dir string) map[string]int {
	t.Helper()
	want := map[string]int{}
	paths, _ := filepath.Glob(filepath.Join(dir, "orders.tbl.*"))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			c := strings.Split(strings.TrimSuffix(sc.Text(), "|"), "|")
			var o tblOrder
			o.OrderKey, _ = strconv.ParseInt(c[0], 10, 64)
			o.CustKey, _ = strconv.ParseInt(c[1], 10, 64)
			o.OrderStatus = c[2]
			o.TotalPrice, _ = strconv.ParseFloat(c[3], 64)
			if o.OrderDate, err = time.Parse(time.DateOnly, c[4]); err != nil {
				t.Fatal(err)
			}
			o.OrderPriority, o.Clerk = c[5], c[6]
			sp, _ := strconv.Atoi(c[7])
			o.ShipPriority, o.Comment = int32(sp), c[8]
			want[o.key()]++
		}
		f.Close()
	}
	return want
}

// A .tbl glob read through dataset at parallelism 2 (small splits, so both
// subtasks read several) gives the records Go's own parse gives, each once.
func TestReadCSVTbl(t *testing.T) {
	dir := t.TempDir()
	writeTbl(t, dir, 3, 400)
	want := parseTbl(t, dir)
	env := newEnv(2)
	d := dataset.ReadCSV[tblOrder](env, filepath.Join(dir, "orders.tbl.*"),
		datastream.CSVOptions{Delimiter: '|', FileOptions: datastream.FileOptions{SplitSize: 4096}})
	got := dataset.Collect(dataset.Map(d, func(o tblOrder) string { return o.key() }))
	run(t, env)
	m := map[string]int{}
	for _, k := range got.Items() {
		m[k]++
	}
	if len(m) != len(want) {
		t.Fatalf("%d distinct records, want %d", len(m), len(want))
	}
	for k, n := range want {
		if m[k] != n {
			t.Fatalf("record %q: %d times, want %d", k, m[k], n)
		}
	}
}

// dataset.WriteCSV (nested structs flattened) and WriteJSONLines read back
// through dataset's sources as the records written.
func TestWriteReadBack(t *testing.T) {
	var rows []csvRow
	for i := range 200 {
		r := csvRow{Name: fmt.Sprintf("n%d", i), Price: float64(i) / 8, N: int32(i), Day: time.Date(1996, 1, 1+i%28, 0, 0, 0, 0, time.UTC)}
		if i%9 == 0 {
			r.Name = ` a|"quoted", name`
		}
		r.Inner.OK = i%3 == 0
		rows = append(rows, r)
	}
	key := func(r csvRow) string {
		return fmt.Sprintf("%s|%v|%d|%s|%v", r.Name, r.Price, r.N, r.Day.Format(time.DateOnly), r.Inner.OK)
	}
	root := t.TempDir()
	env := newEnv(2)
	d := dataset.FromSlice(env, rows).Rebalance()
	dataset.WriteCSV(d, filepath.Join(root, "csv"), dataset.Delimiter('|'), dataset.Header())
	dataset.WriteJSONLines(d, filepath.Join(root, "json"))
	run(t, env)

	env = newEnv(2)
	a := dataset.Collect(dataset.Map(dataset.ReadCSV[csvRow](env, filepath.Join(root, "csv"), datastream.CSVOptions{Delimiter: '|', Header: true}), key))
	b := dataset.Collect(dataset.Map(dataset.ReadJSONLines[csvRow](env, filepath.Join(root, "json"), datastream.JSONLinesOptions{}), key))
	run(t, env)
	want := map[string]int{}
	for _, r := range rows {
		want[key(r)]++
	}
	for name, got := range map[string][]string{"CSV": a.Items(), "JSON lines": b.Items()} {
		m := map[string]int{}
		for _, k := range got {
			m[k]++
		}
		if len(m) != len(want) {
			t.Fatalf("%s: %d distinct records, want %d", name, len(m), len(want))
		}
		for k, n := range want {
			if m[k] != n {
				t.Fatalf("%s: record %q: %d times, want %d", name, k, m[k], n)
			}
		}
	}
}

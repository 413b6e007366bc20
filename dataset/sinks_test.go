package dataset_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/parquet/file"

	"floe/dataset"
)

type csvRow struct {
	Name  string
	Price float64
	N     int32
	Day   time.Time
	Inner struct{ OK bool }
}

// parts reads the visible part files of dir.
func parts(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func TestFileSinks(t *testing.T) {
	var rows []csvRow
	for i := range 300 {
		r := csvRow{Name: fmt.Sprintf("n%d", i), Price: float64(i) / 4, N: int32(i), Day: time.Date(1995, 3, 1+i%28, 0, 0, 0, 0, time.UTC)}
		if i%50 == 0 {
			r.Name = `a|"quoted", name`
		}
		r.Inner.OK = i%2 == 0
		rows = append(rows, r)
	}
	forEachP(t, func(t *testing.T, p int) {
		root := t.TempDir()
		csvDir, jsonDir, pqDir := filepath.Join(root, "csv"), filepath.Join(root, "json"), filepath.Join(root, "pq")
		env := newEnv(p)
		d := dataset.FromSlice(env, rows).Rebalance()
		dataset.WriteCSV(dataset.Sort(d, dataset.Asc(func(r csvRow) int32 { return r.N })), csvDir, dataset.Delimiter('|'))
		dataset.WriteJSONLines(d, jsonDir)
		dataset.WriteParquet(d, pqDir)
		run(t, env)

		files := parts(t, csvDir)
		if len(files) != 1 {
			t.Fatalf("a sorted data set gives one file, got %v", files)
		}
		f, err := os.Open(files[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cr := csv.NewReader(f)
		cr.Comma = '|'
		recs, err := cr.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(rows) {
			t.Fatalf("CSV: %d lines, want %d", len(recs), len(rows))
		}
		for i, r := range rows {
			want := []string{r.Name, fmt.Sprint(r.Price), fmt.Sprint(r.N), r.Day.Format("2006-01-02"), fmt.Sprint(r.Inner.OK)}
			if !slices.Equal(recs[i], want) {
				t.Fatalf("CSV line %d: %q, want %q", i, recs[i], want)
			}
		}

		var got []csvRow
		for _, name := range parts(t, jsonDir) {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var r csvRow
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			f.Close()
		}
		byN := func(a, b csvRow) int { return int(a.N - b.N) }
		if got = sorted(got, byN); len(got) != len(rows) || !slices.EqualFunc(got, rows, func(a, b csvRow) bool {
			return a.Name == b.Name && a.N == b.N && a.Day.Equal(b.Day) && a.Inner == b.Inner && a.Price == b.Price
		}) {
			t.Fatalf("JSON lines: %d records differ from the input", len(got))
		}

		var n int64
		for _, name := range parts(t, pqDir) {
			r, err := file.OpenParquetFile(name, false)
			if err != nil {
				t.Fatal(err)
			}
			n += r.NumRows()
			r.Close()
		}
		if n != int64(len(rows)) {
			t.Fatalf("Parquet: %d rows, want %d", n, len(rows))
		}

		// A second run into the same directories is refused, unless it overwrites.
		env = newEnv(p)
		dataset.WriteCSV(dataset.FromSlice(env, rows[:3]), csvDir)
		if _, err := env.Execute(t.Context(), "again"); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("second run into %s: %v, want a refusal", csvDir, err)
		}
		env = newEnv(p)
		dataset.WriteCSV(dataset.FromSlice(env, rows[:3]), csvDir, dataset.Overwrite())
		run(t, env)
		b, err := os.ReadFile(parts(t, csvDir)[0])
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(string(b), "\n"); lines != 3 || len(parts(t, csvDir)) != 1 {
			t.Fatalf("after overwrite: %d files, %d lines, want 1 and 3", len(parts(t, csvDir)), lines)
		}
	})
}

package tpch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"floe/datastream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// refData is the scale-0.1 data set and DuckDB's answers, made once per
// repository checkout by scripts/tpch-env and scripts/tpch/tpch.py. The test
// skips only when the Python environment cannot be made.
func refData(t *testing.T) RefData {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d, err := Reference(ctx, root, "0.1", false)
	if errors.Is(err, ErrNoTools) {
		t.Skipf("TPC-H tools unavailable, so floe's answers cannot be checked against DuckDB's: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func runQuery(t *testing.T, q Query, input, output string, p int, extra ...string) error {
	t.Helper()
	env := datastream.NewEnvironment(datastream.WithLogger(zerolog.Nop())).SetParallelism(p)
	args := append([]string{"--query", q.Name, "--input", input, "--output", output}, extra...)
	return Run(context.Background(), env, args, &bytes.Buffer{})
}

// All eight queries at scale 0.1, locally at parallelism 2, give DuckDB's
// answers, from the Parquet files and from the .tbl files.
func TestQueriesEqualDuckDB(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the TPC-H queries at scale 0.1 take a minute")
	}
	ref := refData(t)
	for _, format := range []struct{ name, dir string }{{"parquet", ref.Parquet}, {"tbl", ref.Tbl}} {
		for _, q := range Queries {
			t.Run(format.name+"/"+q.Name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "answer")
				if err := runQuery(t, q, format.dir, out, 2); err != nil {
					t.Fatalf("floe run tpch --query %s: %v", q.Name, err)
				}
				got, err := ReadOutput(out, q)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ReadCSV(ref.Answer(q))
				if err != nil {
					t.Fatal(err)
				}
				if err := Compare(q, want, got); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// A table may also be a directory of files named after it; a missing table
// fails before the job starts, naming what was looked for.
func TestTableLayout(t *testing.T) {
	ref := refData(t)
	in := t.TempDir()
	if err := os.Mkdir(filepath.Join(in, "lineitem"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(ref.Parquet, "lineitem.parquet"), filepath.Join(in, "lineitem", "part-0.parquet")); err != nil {
		t.Fatal(err)
	}
	q, _ := Lookup("q6")
	out := filepath.Join(t.TempDir(), "answer")
	if err := runQuery(t, q, in, out, 2); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOutput(out, q)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadCSV(ref.Answer(q))
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare(q, want, got); err != nil {
		t.Fatal(err)
	}
	q1, _ := Lookup("q3")
	err = runQuery(t, q1, in, filepath.Join(t.TempDir(), "x"), 2)
	if !errors.Is(err, ErrNoTable) || !errors.Is(err, ErrUsage) {
		t.Fatalf("q3 without customer and orders: %v, want ErrNoTable", err)
	}
}

func TestUsage(t *testing.T) {
	q := Query{Name: "q2"}
	if err := runQuery(t, q, "in", "out", 1); !errors.Is(err, ErrUsage) || !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("q2: %v", err)
	}
	env := datastream.NewEnvironment(datastream.WithLogger(zerolog.Nop()))
	if err := Run(context.Background(), env, []string{"--query", "q1"}, &bytes.Buffer{}); !errors.Is(err, ErrUsage) {
		t.Errorf("no --input: %v", err)
	}
}

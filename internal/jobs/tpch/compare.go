package tpch

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

var (
	// ErrUnknownQuery is wrapped by Lookup's error for a query floe does not run.
	ErrUnknownQuery = errors.New("tpch: unknown query")
	// ErrMismatch is wrapped by Compare's error when two answers differ.
	ErrMismatch = errors.New("tpch: answers differ")
)

// Tolerance says when two numbers are equal: when they differ by at most
// Rel of the larger and, when Abs is not 0, by at most Abs.
type Tolerance struct{ Rel, Abs float64 }

// DefaultTolerance is Compare's: floe may sum in floating point where DuckDB
// sums exact decimals, and the two print different digits for the same
// double, but money must agree to the cent.
var DefaultTolerance = Tolerance{Rel: 1e-9, Abs: 0.005}

// ReadCSV reads all records of a comma-separated file.
func ReadCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tpch: read answer: %w", err)
	}
	defer f.Close()
	rows, err := parseCSV(f)
	if err != nil {
		return nil, fmt.Errorf("tpch: read answer %s: %w", path, err)
	}
	return rows, nil
}

func parseCSV(r io.Reader) ([][]string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	return cr.ReadAll()
}

// ReadOutput reads the answer floe wrote into the local directory dir: its
// part files in name order, skipping hidden files ('.' or '_' first). An
// ordered query's answer must be in one file.
func ReadOutput(dir string, q Query) ([][]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tpch: read output of %s: %w", q.Name, err)
	}
	var rows [][]string
	parts := 0
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		r, err := ReadCSV(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if len(r) > 0 && isHeader(r[0], q) {
			r = r[1:]
		}
		if len(r) > 0 {
			parts++
		}
		rows = append(rows, r...)
	}
	if q.Ordered() && parts > 1 {
		return nil, fmt.Errorf("tpch: output of %s in %s: %d part files hold rows, but an ordered answer must be one file", q.Name, dir, parts)
	}
	return rows, nil
}

func isHeader(row []string, q Query) bool {
	return slices.EqualFunc(row, q.Columns, strings.EqualFold)
}

// Compare checks floe's answer got against the reference want (DuckDB's,
// whose first row is its header) for query q. got may start with a header;
// if it does, its names must be the query's. Cells compare as numbers, with
// DefaultTolerance, where both parse as numbers, and as text otherwise (dates
// are YYYY-MM-DD text in both). When q orders its result, rows must come in
// want's order, except that rows tied on every ORDER BY column may come in
// any order among themselves (and, under a LIMIT, the last tied group may be
// other rows with the same keys); otherwise the answers compare as
// multisets.
func Compare(q Query, want, got [][]string) error {
	return CompareWithin(q, want, got, DefaultTolerance)
}

// CompareWithin is Compare with numbers equal within tol.
func CompareWithin(q Query, want, got [][]string, tol Tolerance) error {
	if len(want) == 0 {
		return fmt.Errorf("%w: %s: the reference answer has no header", ErrMismatch, q.Name)
	}
	header := want[0]
	if len(header) != len(q.Columns) {
		return fmt.Errorf("%w: %s: the reference answer has %d columns, the query %d", ErrMismatch, q.Name, len(header), len(q.Columns))
	}
	want = want[1:]
	if len(got) > 0 && isHeader(got[0], q) {
		got = got[1:]
	}
	for i, r := range got {
		if len(r) != len(q.Columns) {
			return fmt.Errorf("%w: %s: row %d has %d columns, want %d (%s): %q", ErrMismatch, q.Name, i+1, len(r), len(q.Columns),
				strings.Join(q.Columns, ","), r)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%w: %s: %d rows, want %d", ErrMismatch, q.Name, len(got), len(want))
	}
	d := diff{q: q, tol: tol}
	if q.Ordered() {
		d.ordered(want, got)
	} else {
		d.multiset(want, got, 0)
	}
	return d.err()
}

// diff collects the differences between two answers.
type diff struct {
	q     Query
	tol   Tolerance
	lines []string
	n     int
}

const maxLines = 10

func (d *diff) add(format string, args ...any) {
	d.n++
	if len(d.lines) < maxLines {
		d.lines = append(d.lines, fmt.Sprintf(format, args...))
	}
}

func (d *diff) err() error {
	if d.n == 0 {
		return nil
	}
	more := ""
	if d.n > len(d.lines) {
		more = fmt.Sprintf("\n  ... and %d more", d.n-len(d.lines))
	}
	return fmt.Errorf("%w: %s: %d differences:\n  %s%s", ErrMismatch, d.q.Name, d.n, strings.Join(d.lines, "\n  "), more)
}

func (d *diff) ordered(want, got [][]string) {
	for i := 0; i < len(want); {
		j := i + 1
		for j < len(want) && d.sameKey(want[i], want[j]) {
			j++
		}
		for k := i; k < j; k++ {
			if !d.sameKey(want[i], got[k]) {
				d.add("row %d: ORDER BY columns %s = %q, want %q (out of order or wrong)", k+1, d.keyNames(), d.key(got[k]), d.key(want[i]))
			}
		}
		// Under a LIMIT, the rows tied at the cut may be any of those tied.
		cutTie := d.q.Limit > 0 && j == len(want) && len(want) == d.q.Limit && j-i > 1
		if !cutTie {
			d.multiset(want[i:j], got[i:j], i)
		}
		i = j
	}
}

// multiset matches the rows of want and got (which start at row first of
// the answer) regardless of order.
func (d *diff) multiset(want, got [][]string, first int) {
	if len(want) == 1 {
		d.rows(first, want[0], got[0])
		return
	}
	w, g := d.tol.sorted(want), d.tol.sorted(got)
	for i := range w {
		if !slices.EqualFunc(w[i], g[i], d.tol.equal) {
			d.add("row %q has no equal, nearest %q", g[i], w[i])
		}
	}
}

func (d *diff) rows(i int, want, got []string) {
	for c := range want {
		if !d.tol.equal(want[c], got[c]) {
			d.add("row %d column %s: %q, want %q", i+1, d.q.Columns[c], got[c], want[c])
		}
	}
}

func (d *diff) keyNames() string {
	var names []string
	for _, c := range d.q.OrderBy {
		names = append(names, d.q.Columns[c])
	}
	return strings.Join(names, ",")
}

func (d *diff) key(r []string) []string {
	var k []string
	for _, c := range d.q.OrderBy {
		k = append(k, r[c])
	}
	return k
}

func (d *diff) sameKey(a, b []string) bool {
	for _, c := range d.q.OrderBy {
		if !d.tol.equal(a[c], b[c]) {
			return false
		}
	}
	return true
}

// equal compares two cells as numbers when both are numbers.
func (t Tolerance) equal(a, b string) bool {
	if a == b {
		return true
	}
	x, errA := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, errB := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if errA != nil || errB != nil {
		return false
	}
	tol := t.Rel * math.Max(math.Abs(x), math.Abs(y))
	if t.Abs > 0 {
		tol = min(tol, t.Abs*(1+1e-9))
	}
	return math.Abs(x-y) <= tol
}

// sorted is a copy of rows in a canonical order: numbers by value,
// text by bytes, column by column.
func (t Tolerance) sorted(rows [][]string) [][]string {
	s := slices.Clone(rows)
	slices.SortFunc(s, func(a, b []string) int {
		for c := range a {
			if r := t.compare(a[c], b[c]); r != 0 {
				return r
			}
		}
		return 0
	})
	return s
}

func (t Tolerance) compare(a, b string) int {
	x, errA := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, errB := strconv.ParseFloat(strings.TrimSpace(b), 64)
	switch {
	case errA == nil && errB == nil:
		if t.equal(a, b) {
			return 0
		}
		if x < y {
			return -1
		}
		return 1
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

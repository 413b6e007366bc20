package tpch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func rows(t *testing.T, text string) [][]string {
	t.Helper()
	r, err := parseCSV(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustQuery(t *testing.T, name string) Query {
	t.Helper()
	q, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestCompare(t *testing.T) {
	q3 := mustQuery(t, "q3")
	q3want := "l_orderkey,revenue,o_orderdate,o_shippriority\n" +
		"1,300.5,1995-03-01,0\n" +
		"2,200.25,1995-03-02,0\n" +
		"3,200.25,1995-03-02,0\n" +
		"4,100,1995-03-03,0\n"
	q1 := mustQuery(t, "q1")
	q1want := "l_returnflag,l_linestatus,sum_qty,sum_base_price,sum_disc_price,sum_charge,avg_qty,avg_price,avg_disc,count_order\n" +
		"A,F,3774200.00,5320753880.69,5054096266.6828,5256751331.449234,25.537587116854997,36002.12382901414,0.05014459706340077,147790\n"
	q6 := Query{Name: "unordered", Columns: []string{"k", "v"}}
	unWant := "k,v\na,1\nb,2\nc,2\n"
	tests := []struct {
		name    string
		q       Query
		want    string
		got     string
		wantErr string // "" when equal
	}{
		{"same", q3, q3want, q3want, ""},
		{"no header", q3, q3want, "1,300.5,1995-03-01,0\n2,200.25,1995-03-02,0\n3,200.25,1995-03-02,0\n4,100,1995-03-03,0\n", ""},
		{"ties in any order", q3, q3want, "1,300.5,1995-03-01,0\n3,200.25,1995-03-02,0\n2,200.25,1995-03-02,0\n4,100,1995-03-03,0\n", ""},
		{"out of order", q3, q3want, "2,200.25,1995-03-02,0\n1,300.5,1995-03-01,0\n3,200.25,1995-03-02,0\n4,100,1995-03-03,0\n", "out of order"},
		{"wrong value", q3, q3want, "1,300.51,1995-03-01,0\n2,200.25,1995-03-02,0\n3,200.25,1995-03-02,0\n4,100,1995-03-03,0\n", "out of order"},
		{"wrong non-key value", q3, q3want, "1,300.5,1995-03-01,1\n2,200.25,1995-03-02,0\n3,200.25,1995-03-02,0\n4,100,1995-03-03,0\n", "column o_shippriority"},
		{"missing row", q3, q3want, "1,300.5,1995-03-01,0\n2,200.25,1995-03-02,0\n3,200.25,1995-03-02,0\n", "3 rows, want 4"},
		{"wrong date", q3, q3want, "1,300.5,1995-3-1,0\n2,200.25,1995-03-02,0\n3,200.25,1995-03-02,0\n4,100,1995-03-03,0\n", "out of order"},
		{"float digits within tolerance", q1, q1want,
			"A,F,3774200,5320753880.69,5054096266.682801,5256751331.4492345,25.537587116855,36002.123829014,0.0501445970634008,147790\n", ""},
		{"sum off by a cent", q1, q1want,
			"A,F,3774200,5320753880.70,5054096266.6828,5256751331.449234,25.537587116854997,36002.12382901414,0.05014459706340077,147790\n", "sum_base_price"},
		{"count off by one", q1, q1want,
			"A,F,3774200,5320753880.69,5054096266.6828,5256751331.449234,25.537587116854997,36002.12382901414,0.05014459706340077,147791\n", "count_order"},
		{"too few columns", q1, q1want, "A,F,3774200\n", "has 3 columns"},
		{"multiset any order", q6, unWant, "c,2\na,1\nb,2\n", ""},
		{"multiset wrong", q6, unWant, "c,2\na,1\nb,3\n", "no equal"},
		{"multiset duplicate for distinct", q6, unWant, "c,2\na,1\na,1\n", "no equal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Compare(tt.q, rows(t, tt.want), rows(t, tt.got))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Compare: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Compare = %v, want an ErrMismatch saying %q", err, tt.wantErr)
			}
		})
	}
}

// Under a LIMIT the rows tied at the cut may differ in their other columns.
func TestCompareLimitTie(t *testing.T) {
	q := Query{Name: "top", Columns: []string{"k", "v"}, OrderBy: []int{1}, Limit: 3}
	want := rows(t, "k,v\na,3\nb,2\nc,2\n")
	if err := Compare(q, want, rows(t, "a,3\nb,2\nd,2\n")); err != nil {
		t.Fatalf("a tie at the LIMIT: %v", err)
	}
	if err := Compare(q, want, rows(t, "e,3\nb,2\nd,2\n")); err == nil {
		t.Fatal("a wrong row before the tie passed")
	}
}

func TestReadOutput(t *testing.T) {
	q := mustQuery(t, "q12")
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("part-0.csv", "l_shipmode,high_line_count,low_line_count\nMAIL,647,945\nSHIP,620,943\n")
	write(".part-1.inprogress", "junk\n")
	write("_SUCCESS", "")
	got, err := ReadOutput(dir, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare(q, rows(t, "l_shipmode,high_line_count,low_line_count\nMAIL,647,945\nSHIP,620,943\n"), got); err != nil {
		t.Fatal(err)
	}
	write("part-1.csv", "TRUCK,1,2\n")
	if _, err := ReadOutput(dir, q); err == nil || !strings.Contains(err.Error(), "one file") {
		t.Fatalf("two part files of an ordered answer: %v", err)
	}
}

func TestLookup(t *testing.T) {
	for _, n := range []string{"q1", "Q18", "14"} {
		if _, err := Lookup(n); err != nil {
			t.Errorf("Lookup(%q): %v", n, err)
		}
	}
	if _, err := Lookup("q2"); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("Lookup(q2) = %v, want ErrUnknownQuery", err)
	}
}

// FuzzCompare: any two CSV texts compare without a panic.
func FuzzCompare(f *testing.F) {
	f.Add("k,v\na,1\n", "a,1\n")
	f.Add("k,v\na,1\nb,1\n", "b,1\na,x\n")
	q := Query{Name: "f", Columns: []string{"k", "v"}, OrderBy: []int{1}, Limit: 2}
	f.Fuzz(func(t *testing.T, want, got string) {
		w, err1 := parseCSV(strings.NewReader(want))
		g, err2 := parseCSV(strings.NewReader(got))
		if err1 != nil || err2 != nil {
			return
		}
		for _, r := range w {
			if len(r) != 2 {
				return
			}
		}
		_ = Compare(q, w, g)
		_ = Compare(Query{Name: "u", Columns: q.Columns}, w, g)
	})
}

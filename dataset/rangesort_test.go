package dataset_test

import (
	"cmp"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"floe/dataset"
)

// sortRow is a record of the range-sort tests.
type sortRow struct {
	Key  int64
	ID   int64
	Name string
}

func genSortRows(n int, skew bool) []sortRow {
	rows := make([]sortRow, n)
	for i := range rows {
		h := uint64(i)*0x9E3779B97F4A7C15 + 7
		h ^= h >> 31
		k := int64(h % 5000)
		if skew && h%4 != 0 {
			k = 2500 // three quarters of the rows under one key
		}
		rows[i] = sortRow{Key: k, ID: int64(i), Name: "n" + strconv.FormatUint(h%977, 10)}
	}
	return rows
}

// readParts reads the CSV part files of dir in the order of their names.
func readParts(t *testing.T, dir string) (rows []sortRow, perPart []int) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range recs {
			k, err1 := strconv.ParseInt(r[0], 10, 64)
			id, err2 := strconv.ParseInt(r[1], 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: bad line %q", name, r)
			}
			rows = append(rows, sortRow{Key: k, ID: id, Name: r[2]})
		}
		perPart = append(perPart, len(recs))
	}
	return rows, perPart
}

// TestRangeSort: the part files of a range-sorted data set, read in name
// order, are the input in total order (as slices.SortFunc gives it), with
// a skewed key and with an empty input too.
func TestRangeSort(t *testing.T) {
	byKey := dataset.Asc(func(r sortRow) int64 { return r.Key })
	total := dataset.OrderBy(byKey, dataset.Asc(func(r sortRow) int64 { return r.ID }))
	for _, tc := range []struct {
		name  string
		n     int
		skew  bool
		order dataset.Order[sortRow]
	}{
		{"uniform", 20000, false, total},
		{"skewed", 20000, true, byKey},
		{"empty", 0, false, total},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const p = 3
			in := genSortRows(tc.n, tc.skew)
			env := newEnv(p)
			out := filepath.Join(t.TempDir(), "out")
			// Rebalance: the input comes in no order, from several subtasks.
			dataset.WriteCSV(dataset.RangeSort(dataset.FromSlice(env, in).Rebalance(), tc.order), out)
			run(t, env)
			got, perPart := readParts(t, out)
			want := slices.Clone(in)
			slices.SortFunc(want, total)
			if len(got) != len(want) {
				t.Fatalf("%d records in %d parts, want %d", len(got), len(perPart), len(want))
			}
			if !slices.IsSortedFunc(got, tc.order) {
				t.Fatalf("the parts in name order are not in order (records per part %v)", perPart)
			}
			// Equal keys may come in any order: compare in total order.
			slices.SortStableFunc(got, total)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("record %d is %+v, want %+v", i, got[i], want[i])
				}
			}
			t.Logf("records per part: %v", perPart)
			if tc.n > 0 {
				for i, n := range perPart {
					// Not a bound on balance (the sample is random), only that
					// the skewed key did not all go to one part.
					if n > tc.n*9/10 {
						t.Errorf("part %d holds %d of %d records", i, n, tc.n)
					}
				}
			}
		})
	}
}

// TestPartitionByRange: every record of part i orders before (or ties
// with) every record of part i+1, and the parts hold the input.
func TestPartitionByRange(t *testing.T) {
	in := genSortRows(5000, false)
	env := newEnv(3)
	out := filepath.Join(t.TempDir(), "out")
	dataset.WriteCSV(dataset.PartitionByRange(dataset.FromSlice(env, in), dataset.Asc(func(r sortRow) int64 { return r.Key })), out)
	run(t, env)
	all, perPart := readParts(t, out)
	if len(all) != len(in) {
		t.Fatalf("%d records, want %d", len(all), len(in))
	}
	byKey := func(a, b sortRow) int { return cmp.Compare(a.Key, b.Key) }
	prevMax := int64(-1)
	for i, n := range perPart {
		part := all[:n]
		all = all[n:]
		if n == 0 {
			continue
		}
		if lo := slices.MinFunc(part, byKey).Key; lo < prevMax {
			t.Fatalf("part %d starts at key %d, before the previous part's last key %d", i, lo, prevMax)
		}
		prevMax = slices.MaxFunc(part, byKey).Key
	}
	got, _ := readParts(t, out)
	want := slices.Clone(in)
	total := func(a, b sortRow) int { return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID)) }
	slices.SortFunc(got, total)
	slices.SortFunc(want, total)
	if !slices.Equal(got, want) {
		t.Fatal("the parts do not hold the input")
	}
}

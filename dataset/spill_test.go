package dataset_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"floe/client"
	"floe/config"
	"floe/dataset"
	"floe/datastream"
)

// The spill tests run each job over generated data about four times the
// TaskManagers' managed memory, and again with the default budget (where
// nothing spills), and compare both with plain Go. They check that the
// small budget really spilled (the job's counters), and that the spill
// directories are empty afterwards.

// spillRow is a generated record: about 70 bytes as the operators count it.
type spillRow struct {
	ID    int64
	Key   int64
	Name  string
	Value float64
}

const (
	spillRows = 60_000
	spillKeys = 15_000
	// spillBudget is the managed memory of each of the two TaskManagers:
	// the rows are about 4.2 MB, so about 4x their sum.
	spillBudget = "512kb"
)

func genSpillRow(i int64) spillRow {
	h := uint64(i)*0x9E3779B97F4A7C15 + 1
	h ^= h >> 29
	return spillRow{ID: i, Key: int64(h % spillKeys), Name: "name-" + strconv.FormatUint(h%100_000, 16), Value: float64(h % 1000)}
}

// spillEnv is an environment at parallelism 2 with the given managed
// memory ("" for the default) and spill directory.
func spillEnv(managed, dir string) *dataset.Environment {
	kv := map[string]string{config.Parallelism: "2", config.BatchSize: "256", "restart-strategy.type": "none", config.TmpDirs: dir}
	if managed != "" {
		kv[config.ManagedMemorySize] = managed
	}
	return dataset.NewEnvironment(datastream.WithConfig(config.New(kv)), datastream.WithLogger(zerolog.Nop()))
}

func genRows(env *dataset.Environment, n int64, fn func(int64) spillRow) dataset.DataSet[spillRow] {
	return dataset.FromStream(env, datastream.Generate(env.DataStream(), fn, datastream.GeneratorOptions{Count: n}))
}

// spilled sums the spilled bytes of the vertices whose name holds op.
func spilled(res *client.Result, op string) (records, bytes int64) {
	for _, v := range res.Vertices {
		if strings.Contains(v.Name, op) {
			records += v.SpilledRecords
			bytes += v.SpilledBytes
		}
	}
	return records, bytes
}

// runSpill builds a job with build and runs it with the small budget and
// the default one; it returns the two results (sorted by less unless
// ordered) after checking that op spilled only with the small budget and
// that the spill directory is empty.
func runSpill[T any](t *testing.T, op string, ordered bool, less func(a, b T) int, build func(env *dataset.Environment) *datastream.Collector[T]) (small, unlimited []T) {
	t.Helper()
	var outs [2][]T
	for i, managed := range []string{spillBudget, ""} {
		dir := t.TempDir()
		env := spillEnv(managed, dir)
		c := build(env)
		res, err := env.Execute(context.Background(), t.Name())
		if err != nil {
			t.Fatal(err)
		}
		recs, bytes := spilled(res, op)
		for _, v := range res.Vertices {
			// Combiners chained to a source emit partial aggregates when
			// full (spill.Aggregator.SetFlush) instead of spilling.
			if strings.HasPrefix(v.Name, "Source: ") && (strings.Contains(v.Name, "Partial Aggregate") || strings.Contains(v.Name, "Combine")) && v.SpilledBytes != 0 {
				t.Fatalf("the combiners of %q spilled %d bytes", v.Name, v.SpilledBytes)
			}
		}
		if managed != "" {
			if bytes == 0 {
				t.Fatalf("%s did not spill with %s of managed memory: %+v", op, managed, res.Vertices)
			}
			t.Logf("%s with %s managed memory per TaskManager spilled %d records, %d bytes", op, managed, recs, bytes)
		} else if bytes != 0 {
			t.Fatalf("%s spilled %d bytes with the default budget", op, bytes)
		}
		if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
			t.Fatalf("spill directory after the job: %v, %v", left, err)
		}
		outs[i] = c.Items()
		if !ordered {
			slices.SortFunc(outs[i], less)
		}
	}
	return outs[0], outs[1]
}

func checkSame[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

type keySum struct {
	Key   int64
	Sum   float64
	Count int64
	Names int64
}

func TestSpillGroupBy(t *testing.T) {
	build := func(env *dataset.Environment) *datastream.Collector[keySum] {
		rows := genRows(env, spillRows, genSpillRow)
		g := dataset.GroupBy(rows, func(r spillRow) int64 { return r.Key })
		agg := dataset.Aggregate(g, dataset.Columns(dataset.SumOf(func(r spillRow) float64 { return r.Value }), dataset.CountOf[spillRow]()))
		// Distinct (key, name) pairs per key: a Reduce with spilling on both sides.
		type kn struct {
			Key  int64
			Name string
		}
		pairs := dataset.Distinct(dataset.Map(rows, func(r spillRow) kn { return kn{r.Key, r.Name} }))
		names := dataset.Aggregate(dataset.GroupBy(pairs, func(p kn) int64 { return p.Key }), dataset.Count[kn]())
		j := dataset.Join(agg, names, func(a dataset.KV[int64, []float64]) int64 { return a.Key }, func(n dataset.KV[int64, int64]) int64 { return n.Key },
			func(a dataset.KV[int64, []float64], n dataset.KV[int64, int64]) keySum {
				return keySum{Key: a.Key, Sum: a.Value[0], Count: int64(a.Value[1]), Names: n.Value}
			})
		return dataset.Collect(j)
	}
	less := func(a, b keySum) int { return cmp.Compare(a.Key, b.Key) }
	small, unlimited := runSpill(t, "Aggregate", false, less, build)

	m := map[int64]*keySum{}
	names := map[int64]map[string]bool{}
	for i := range int64(spillRows) {
		r := genSpillRow(i)
		s := m[r.Key]
		if s == nil {
			s = &keySum{Key: r.Key}
			m[r.Key] = s
			names[r.Key] = map[string]bool{}
		}
		s.Sum += r.Value
		s.Count++
		names[r.Key][r.Name] = true
	}
	var want []keySum
	for k, s := range m {
		s.Names = int64(len(names[k]))
		want = append(want, *s)
	}
	slices.SortFunc(want, less)
	checkSame(t, "small budget", small, want)
	checkSame(t, "default budget", unlimited, want)
}

// spillJoined is one result of the joins: zero fields for a missing side.
type spillJoined struct {
	ProbeID, BuildID int64
	Key              int64
	HasProbe         bool
	HasBuild         bool
}

func compareSpillJoined(a, b spillJoined) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.ProbeID, b.ProbeID), cmp.Compare(a.BuildID, b.BuildID),
		cmp.Compare(fmt.Sprint(a.HasProbe, a.HasBuild), fmt.Sprint(b.HasProbe, b.HasBuild)))
}

// The build side of the join tests: keys 0..spillKeys*2 by twos (so half
// the probe keys have no partner and half the build keys none), a quarter of
// it under key 0 (skew), which 20 probe rows have.
func spillBuildRow(i int64) spillRow {
	r := genSpillRow(i + 1_000_000)
	r.Key = i % spillKeys * 2
	if i%4 == 0 {
		r.Key = 0
	}
	return r
}

const spillBuildRows = 24_000

func spillProbeRow(i int64) spillRow {
	r := genSpillRow(i)
	if r.Key == 0 && i >= 20 {
		r.Key = 1
	}
	if i < 20 {
		r.Key = 0
	}
	return r
}

func TestSpillJoins(t *testing.T) {
	for _, name := range []string{"inner", "left", "full", "inner/sort-merge", "left/sort-merge", "full/sort-merge"} {
		kind, strategy, _ := strings.Cut(name, "/")
		var opts []dataset.JoinOption
		if strategy == "sort-merge" {
			opts = append(opts, dataset.SortMerge())
		}
		t.Run(name, func(t *testing.T) {
			build := func(env *dataset.Environment) *datastream.Collector[spillJoined] {
				p := genRows(env, spillRows, spillProbeRow)
				b := genRows(env, spillBuildRows, spillBuildRow)
				key := func(r spillRow) int64 { return r.Key }
				var j dataset.DataSet[spillJoined]
				switch kind {
				case "inner":
					j = dataset.Join(p, b, key, key, func(x, y spillRow) spillJoined { return spillJoined{x.ID, y.ID, x.Key, true, true} }, opts...)
				case "left":
					j = dataset.LeftOuterJoin(p, b, key, key, func(x spillRow, y *spillRow) spillJoined {
						if y == nil {
							return spillJoined{x.ID, 0, x.Key, true, false}
						}
						return spillJoined{x.ID, y.ID, x.Key, true, true}
					}, opts...)
				case "full":
					j = dataset.FullOuterJoin(p, b, key, key, func(x, y *spillRow) spillJoined {
						switch {
						case x == nil:
							return spillJoined{0, y.ID, y.Key, false, true}
						case y == nil:
							return spillJoined{x.ID, 0, x.Key, true, false}
						}
						return spillJoined{x.ID, y.ID, x.Key, true, true}
					}, opts...)
				}
				return dataset.Collect(j)
			}
			small, unlimited := runSpill(t, "Join", false, compareSpillJoined, build)

			byKey := map[int64][]spillRow{}
			for i := range int64(spillBuildRows) {
				r := spillBuildRow(i)
				byKey[r.Key] = append(byKey[r.Key], r)
			}
			matched := map[int64]bool{}
			var want []spillJoined
			for i := range int64(spillRows) {
				x := spillProbeRow(i)
				ys := byKey[x.Key]
				matched[x.Key] = matched[x.Key] || len(ys) > 0
				for _, y := range ys {
					want = append(want, spillJoined{x.ID, y.ID, x.Key, true, true})
				}
				if len(ys) == 0 && kind != "inner" {
					want = append(want, spillJoined{x.ID, 0, x.Key, true, false})
				}
			}
			if kind == "full" {
				for k, ys := range byKey {
					if !matched[k] {
						for _, y := range ys {
							want = append(want, spillJoined{0, y.ID, y.Key, false, true})
						}
					}
				}
			}
			slices.SortFunc(want, compareSpillJoined)
			checkSame(t, "small budget", small, want)
			checkSame(t, "default budget", unlimited, want)
		})
	}
}

func TestSpillSort(t *testing.T) {
	order := dataset.OrderBy(dataset.Asc(func(r spillRow) string { return r.Name }), dataset.Desc(func(r spillRow) float64 { return r.Value }),
		dataset.Asc(func(r spillRow) int64 { return r.ID }))
	build := func(env *dataset.Environment) *datastream.Collector[spillRow] {
		return dataset.Collect(dataset.Sort(genRows(env, spillRows, genSpillRow), order))
	}
	small, unlimited := runSpill(t, "Sort", true, order, build)
	want := make([]spillRow, spillRows)
	for i := range want {
		want[i] = genSpillRow(int64(i))
	}
	slices.SortFunc(want, order)
	checkSame(t, "small budget", small, want)
	checkSame(t, "default budget", unlimited, want)
}

// TestSpillRangeSort: the range-partitioned sort at parallelism 2 over
// about 4x the managed memory, read subtask by subtask, is the total order.
func TestSpillRangeSort(t *testing.T) {
	order := dataset.OrderBy(dataset.Asc(func(r spillRow) string { return r.Name }), dataset.Desc(func(r spillRow) float64 { return r.Value }),
		dataset.Asc(func(r spillRow) int64 { return r.ID }))
	build := func(env *dataset.Environment) *datastream.Collector[spillRow] {
		return dataset.Collect(dataset.RangeSort(genRows(env, spillRows, genSpillRow), order))
	}
	small, unlimited := runSpill(t, "Range Sort", true, order, build)
	want := make([]spillRow, spillRows)
	for i := range want {
		want[i] = genSpillRow(int64(i))
	}
	slices.SortFunc(want, order)
	checkSame(t, "small budget", small, want)
	checkSame(t, "default budget", unlimited, want)
}

func TestSpillCoGroup(t *testing.T) {
	type counts struct {
		Key    int64
		As, Bs int
		MaxA   int64
	}
	build := func(env *dataset.Environment) *datastream.Collector[counts] {
		key := func(r spillRow) int64 { return r.Key }
		return dataset.Collect(dataset.CoGroup(genRows(env, spillRows, spillProbeRow), genRows(env, spillBuildRows, spillBuildRow), key, key,
			func(k int64, as, bs []spillRow, emit func(counts)) {
				c := counts{Key: k, As: len(as), Bs: len(bs), MaxA: -1}
				for _, a := range as {
					c.MaxA = max(c.MaxA, a.ID)
				}
				emit(c)
			}))
	}
	less := func(a, b counts) int { return cmp.Compare(a.Key, b.Key) }
	small, unlimited := runSpill(t, "CoGroup", false, less, build)
	m := map[int64]*counts{}
	get := func(k int64) *counts {
		if m[k] == nil {
			m[k] = &counts{Key: k, MaxA: -1}
		}
		return m[k]
	}
	for i := range int64(spillRows) {
		r := spillProbeRow(i)
		c := get(r.Key)
		c.As++
		c.MaxA = max(c.MaxA, r.ID)
	}
	for i := range int64(spillBuildRows) {
		get(spillBuildRow(i).Key).Bs++
	}
	var want []counts
	for _, c := range m {
		want = append(want, *c)
	}
	slices.SortFunc(want, less)
	checkSame(t, "small budget", small, want)
	checkSame(t, "default budget", unlimited, want)
}

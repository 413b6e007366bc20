package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"floe/internal/fsys"
	"floe/internal/keygroup"
)

func TestMain(m *testing.M) {
	// The process's shared HDFS client (fsys: the incremental benchmark with
	// FLOE_BENCH_HDFS) renews its leases until the process ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/colinmarc/hdfs/v2/internal/rpc.(*NamenodeConnection).renewLeases"))
}

// kinds are the backends every test of the suite runs against.
var kinds = []string{"heap", "pebble"}

// newBackend returns an empty backend of the kind, closed when the test ends.
func newBackend[K comparable](t testing.TB, kind string, maxP int) *Backend[K] {
	t.Helper()
	var opts []Option
	if kind == "pebble" {
		opts = append(opts, WithLSM(t.TempDir()))
	}
	b, err := NewBackend[K](maxP, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// contents lists a table's entries through Range.
func contents[K comparable, T any](tab *Table[K, T]) map[K]T {
	m := map[K]T{}
	tab.Range(func(k K, v T) bool { m[k] = v; return true })
	return m
}

type counter struct {
	N    int64
	Tags []string
}

// State written at parallelism 2 and restored at 3, then at 1, keeps every
// key exactly once in the subtask that owns its key group; each backend
// restores what either wrote (one block format).
func TestSnapshotRestoreAcrossParallelism(t *testing.T) {
	for _, from := range kinds {
		for _, to := range kinds {
			t.Run(from+"->"+to, func(t *testing.T) { snapshotRestoreAcrossParallelism(t, from, to) })
		}
	}
}

func snapshotRestoreAcrossParallelism(t *testing.T, from, to string) {
	const maxP, keys = 16, 500
	want := map[string]counter{}
	// Parallelism 2: each subtask holds its own keys.
	blocks := make([][]byte, maxP) // by key group
	for sub := range 2 {
		b := newBackend[string](t, from, maxP)
		tab, err := Value[string, counter](b, "count")
		if err != nil {
			t.Fatal(err)
		}
		start, end := keygroup.Range(maxP, 2, sub)
		for i := range keys {
			k := fmt.Sprintf("k%d", i)
			if g := b.KeyGroup(k); g >= start && g < end {
				v := counter{N: int64(i), Tags: []string{k}}
				tab.Put(k, v)
				want[k] = v
			}
		}
		snap, err := b.Snapshot(start, end)
		if err != nil {
			t.Fatal(err)
		}
		for i, blk := range snap {
			blocks[start+i] = blk
		}
	}
	if len(want) != keys {
		t.Fatalf("%d keys placed", len(want))
	}
	for _, p := range []int{3, 1} {
		got := map[string]counter{}
		for sub := range p {
			b := newBackend[string](t, to, maxP)
			tab, _ := Value[string, counter](b, "count")
			start, end := keygroup.Range(maxP, p, sub)
			for g := start; g < end; g++ {
				if err := b.Restore(blocks[g], false); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range contents(tab) {
				if g := b.KeyGroup(k); g < start || g >= end {
					t.Fatalf("p=%d subtask %d got key %s of key group %d", p, sub, k, g)
				}
				if _, dup := got[k]; dup {
					t.Fatalf("p=%d: key %s restored twice", p, k)
				}
				got[k] = v
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("p=%d: state differs after restore", p)
		}
	}
}

func TestSnapshotIsImmutableView(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { snapshotIsImmutableView(t, kind) })
	}
}

func snapshotIsImmutableView(t *testing.T, kind string) {
	b := newBackend[int64](t, kind, 4)
	tab, _ := Value[int64, int64](b, "v")
	for i := range int64(100) {
		tab.Put(i, i)
	}
	view := b.View()
	defer view.Release()
	for i := range int64(100) { // change everything after the view
		tab.Put(i, -1)
	}
	tab.Delete(3)
	snap, err := view.Encode(0, 4)
	if err != nil {
		t.Fatal(err)
	}
	b2 := newBackend[int64](t, kind, 4)
	tab2, _ := Value[int64, int64](b2, "v")
	for _, blk := range snap {
		if err := b2.Restore(blk, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range int64(100) {
		if v, _ := tab2.Get(i); v != i {
			t.Fatalf("key %d restored as %d", i, v)
		}
	}
}

// A value is owned (changeable in place) only if it was Put after the last
// View: a caller that changes owned values in place and copies shared ones
// never changes what a view encodes.
func TestOwnedValuesAndViews(t *testing.T) {
	b, _ := NewBackend[int64](4)
	tab, _ := Value[int64, []int64](b, "l")
	// set changes k's list to vs, in place when the table owns it.
	set := func(k int64, vs ...int64) {
		cur, _, owned := tab.GetOwned(k)
		if !owned || len(cur) != len(vs) {
			cur = make([]int64, len(vs))
		}
		copy(cur, vs)
		tab.Put(k, cur)
	}
	if _, ok, owned := tab.GetOwned(1); ok || owned {
		t.Fatal("a missing key is reported present or owned")
	}
	set(1, 1, 2, 3)
	if _, _, owned := tab.GetOwned(1); !owned {
		t.Fatal("a value Put with no view since is not owned")
	}
	view := b.View()
	if _, _, owned := tab.GetOwned(1); owned {
		t.Fatal("a value a view shares is reported owned")
	}
	set(1, 7, 8, 9) // copied: the view keeps 1, 2, 3
	set(1, 4, 5, 6) // owned now: changed in place
	if _, _, owned := tab.GetOwned(1); !owned {
		t.Fatal("a value Put after the view is not owned")
	}
	blocks, err := view.Encode(0, 4)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := NewBackend[int64](4)
	tab2, _ := Value[int64, []int64](b2, "l")
	for _, blk := range blocks {
		if err := b2.Restore(blk, false); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := tab2.Get(1); fmt.Sprint(v) != "[1 2 3]" {
		t.Fatalf("the view encoded %v, want [1 2 3]", v)
	}
	if v, _, owned := tab2.GetOwned(1); !owned || fmt.Sprint(v) != "[1 2 3]" {
		t.Fatalf("a restored value: %v owned=%v, want it owned (no view shares it)", v, owned)
	}
	if v, _ := tab.Get(1); fmt.Sprint(v) != "[4 5 6]" {
		t.Fatalf("live value %v", v)
	}
}

func TestRestoreErrors(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { restoreErrors(t, kind) })
	}
}

func restoreErrors(t *testing.T, kind string) {
	b := newBackend[string](t, kind, 4)
	tab, _ := Value[string, int64](b, "a")
	tab.Put("x", 1)
	snap, _ := b.Snapshot(0, 4)
	var blk []byte
	for _, s := range snap {
		blk = append(blk, s...)
	}
	other := newBackend[string](t, kind, 4)
	if err := other.Restore(blk, false); err == nil {
		t.Fatal("undeclared state accepted")
	}
	if err := other.Restore(blk, true); err != nil {
		t.Fatalf("allowUnknown: %v", err)
	}
	Value[string, int64](other, "a")
	bad := append([]byte(nil), blk...)
	bad[len(bad)-6] ^= 0xff
	if err := other.Restore(bad, false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt block: %v", err)
	}
	if err := other.Restore([]byte{0xff}, false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := Value[string, string](other, "a"); err == nil {
		t.Fatal("same name with another type accepted")
	}
}

func FuzzRestore(f *testing.F) {
	b, _ := NewBackend[string](2)
	tab, _ := Value[string, int64](b, "a")
	tab.Put("k", 7)
	snap, _ := b.Snapshot(0, 2)
	for _, s := range snap {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, blk []byte) {
		r, _ := NewBackend[string](2)
		Value[string, int64](r, "a")
		r.Restore(blk, true) // must not panic
	})
}

// BenchmarkCheckpointRestore snapshots keyed state (100-byte values, 128 key
// groups) into one file, as a checkpoint does, and restores it into a new
// backend; it reports seconds for each half. Sizes: 100MB always, 1GB with
// FLOE_BENCH_LARGE=1. Filesystems: local disk, and HDFS when
// FLOE_INTEGRATION=1 and HADOOP_CONF_DIR point at a cluster (make bench-yarn).
func BenchmarkCheckpointRestore(b *testing.B) {
	sizes := []struct {
		name string
		keys int
	}{{"100MB", 1_000_000}}
	if os.Getenv("FLOE_BENCH_LARGE") == "1" {
		sizes = append(sizes, struct {
			name string
			keys int
		}{"1GB", 10_000_000})
	}
	targets := []struct{ name, dir string }{{"local", b.TempDir()}}
	if os.Getenv("FLOE_INTEGRATION") == "1" && os.Getenv("HADOOP_CONF_DIR") != "" {
		targets = append(targets, struct{ name, dir string }{"hdfs", fmt.Sprintf("hdfs:///tmp/floe-bench-%d", time.Now().UnixNano())})
	}
	for _, size := range sizes {
		src, _ := NewBackend[string](128)
		tab, _ := Value[string, counter](src, "v")
		pad := strings.Repeat("x", 84)
		for i := range size.keys {
			tab.Put(fmt.Sprintf("key-%010d", i), counter{N: int64(i), Tags: []string{pad}})
		}
		for _, tg := range targets {
			b.Run(size.name+"/"+tg.name, func(b *testing.B) { checkpointRestore(b, src, tg.dir) })
		}
	}
}

func checkpointRestore(b *testing.B, src *Backend[string], dir string) {
	fsy, root, err := fsys.Resolve(dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := fsy.MkdirAll(b.Context(), root); err != nil {
		b.Fatal(err)
	}
	defer fsy.RemoveAll(context.Background(), root)
	path := fsy.Join(root, "state")
	var snap, restore time.Duration
	var size int64
	for b.Loop() {
		t0 := time.Now()
		blocks, err := src.Snapshot(0, 128)
		if err != nil {
			b.Fatal(err)
		}
		w, err := fsy.Create(b.Context(), path)
		if err != nil {
			b.Fatal(err)
		}
		offsets := []int64{0}
		for _, blk := range blocks {
			if _, err := w.Write(blk); err != nil {
				b.Fatal(err)
			}
			offsets = append(offsets, offsets[len(offsets)-1]+int64(len(blk)))
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		snap += time.Since(t0)
		size = offsets[len(offsets)-1]

		t1 := time.Now()
		r, err := fsy.Open(b.Context(), path)
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			b.Fatal(err)
		}
		dst, _ := NewBackend[string](128)
		Value[string, counter](dst, "v")
		for g := range 128 {
			if err := dst.Restore(data[offsets[g]:offsets[g+1]], false); err != nil {
				b.Fatal(err)
			}
		}
		restore += time.Since(t1)
	}
	b.ReportMetric(snap.Seconds()/float64(b.N), "s-snapshot")
	b.ReportMetric(restore.Seconds()/float64(b.N), "s-restore")
	b.ReportMetric(float64(size)/1e6, "MB-file")
}

// BenchmarkLSMKeys reads and updates one table and reads a second, never
// written one (a miss), per op, over a key space below and above the LSM
// backend's cache, keys visited in a scattered order: the store's own path
// once the keys do not fit.
func BenchmarkLSMKeys(b *testing.B) {
	for _, keys := range []int64{1 << 10, 1 << 16, 1 << 20} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			be, err := NewBackend[int64](128, WithLSM(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			x, _ := Value[int64, int64](be, "x")
			y, _ := Value[int64, int64](be, "y")
			var i int64
			for b.Loop() {
				k := (i * 0x9E3779B1) & (keys - 1)
				i++
				v, _ := x.Get(k)
				w, _ := y.Get(k)
				x.Put(k, v+w+1)
			}
		})
	}
}

// A list changed in place after GetOwned and handed back with Changed is
// what Get, a snapshot and a restore see, on both backends (the LSM backend
// must write it; the heap already holds it).
func TestChangedInPlace(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b := newBackend[int64](t, kind, 4)
			tab, _ := Value[int64, []int64](b, "l")
			for k := range int64(50) {
				tab.Put(k, []int64{k, 0})
			}
			if _, err := b.Snapshot(0, 4); err != nil { // the LSM backend's writes are in the store now
				t.Fatal(err)
			}
			for round := int64(1); round <= 3; round++ {
				for k := range int64(50) {
					l, ok, owned := tab.GetOwned(k)
					if !ok || !owned || len(l) != 2 {
						t.Fatalf("round %d key %d: %v ok=%v owned=%v", round, k, l, ok, owned)
					}
					l[1] = round * 100
					tab.Changed(k, l)
				}
			}
			check := func(what string, tab *Table[int64, []int64]) {
				for k := range int64(50) {
					if v, _ := tab.Get(k); fmt.Sprint(v) != fmt.Sprint([]int64{k, 300}) {
						t.Fatalf("%s: key %d is %v, want [%d 300]", what, k, v, k)
					}
				}
			}
			check("live", tab)
			blocks, err := b.Snapshot(0, 4)
			if err != nil {
				t.Fatal(err)
			}
			r := newBackend[int64](t, kind, 4)
			rt, _ := Value[int64, []int64](r, "l")
			for _, blk := range blocks {
				if err := r.Restore(blk, false); err != nil {
					t.Fatal(err)
				}
			}
			check("restored", rt)
		})
	}
}

// A table whose key has no size (a non-keyed stream's windows) keeps its
// one entry outside a map: it must behave as any table does, through
// views, snapshots and restores, on either backend.
func TestKeyOfNoSize(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			type none struct{}
			b := newBackend[none](t, kind, 4)
			tab, err := Value[none, []int64](b, "w")
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tab.Get(none{}); ok || tab.Len() != 0 || len(contents(tab)) != 0 {
				t.Fatal("an empty table reports an entry")
			}
			tab.Put(none{}, []int64{1, 2})
			if v, ok, owned := tab.GetOwned(none{}); !ok || fmt.Sprint(v) != "[1 2]" || !owned {
				t.Fatalf("after Put: %v ok=%v owned=%v", v, ok, owned)
			}
			if tab.Len() != 1 || fmt.Sprint(contents(tab)) != "map[{}:[1 2]]" {
				t.Fatalf("after Put: len %d, contents %v", tab.Len(), contents(tab))
			}
			view := b.View()
			defer view.Release()
			if _, _, owned := tab.GetOwned(none{}); owned && kind == "heap" {
				t.Fatal("a value a view shares is reported owned")
			}
			tab.Delete(none{})
			if _, ok := tab.Get(none{}); ok || tab.Len() != 0 {
				t.Fatal("a deleted entry is still there")
			}
			tab.Put(none{}, []int64{3})
			blocks, err := view.Encode(0, 4)
			if err != nil {
				t.Fatal(err)
			}
			b2 := newBackend[none](t, kind, 4)
			tab2, _ := Value[none, []int64](b2, "w")
			for _, blk := range blocks {
				if err := b2.Restore(blk, false); err != nil {
					t.Fatal(err)
				}
			}
			if v, ok := tab2.Get(none{}); !ok || fmt.Sprint(v) != "[1 2]" {
				t.Fatalf("the view encoded %v (%v), want [1 2]", v, ok)
			}
			if v, _ := tab.Get(none{}); fmt.Sprint(v) != "[3]" {
				t.Fatalf("live value %v, want [3]", v)
			}
		})
	}
}

package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"floe/checkpoint"
)

// BenchmarkIncrementalCheckpoint measures one checkpoint of keyed state
// (100-byte values, 128 key groups) of which 1% of the keys changed since
// the last one, to local disk: heap (full: snapshot, encode, write) against
// pebble with incremental checkpoints (flush and link, then send the new SST
// files; measured once the compactions of the initial load are done); and
// the restore of what it wrote (pebble: the store reopened from the files,
// and, for a rescale, half the key groups copied out of them). It reports
// the medians over the timed checkpoints (b.N of them) of the seconds of the
// synchronous part (s-flush: of it, the memtable's flush), of the whole
// checkpoint (and its maximum) and of the MB written per checkpoint; the
// store's files; and restore seconds and MB/s. FLOE_BENCH_PEBBLE overrides
// pebble options (benchTune).
//
// FLOE_BENCH_STATE lists the sizes (100MB, 1GB, 10GB; default 100MB;
// FLOE_BENCH_LARGE=1 is 100MB,1GB): sub-benchmarks <size>/heap-full and
// <size>/pebble-incremental, so -bench 'IncrementalCheckpoint/10GB/pebble'
// picks one. With FLOE_BENCH_HDFS set to a directory URI (hdfs:///tmp/x,
// HADOOP_CONF_DIR naming the cluster) the same state is then checkpointed
// there too and restored from there: the metrics ending in -hdfs. The heap
// at 10 GB is skipped unless FLOE_BENCH_HEAP_10GB=1. Not part of make test
// (make bench-state runs it).
func BenchmarkIncrementalCheckpoint(b *testing.B) {
	sizes := map[string]int{"100MB": 1_000_000, "1GB": 10_000_000, "10GB": 100_000_000}
	list := "100MB"
	if v := os.Getenv("FLOE_BENCH_STATE"); v != "" {
		list = v
	} else if os.Getenv("FLOE_BENCH_LARGE") == "1" {
		list = "100MB,1GB"
	}
	remote := os.Getenv("FLOE_BENCH_HDFS")
	benchTune(b)
	for _, name := range strings.Split(list, ",") {
		keys, ok := sizes[name]
		if !ok {
			b.Fatalf("FLOE_BENCH_STATE: unknown size %q (100MB, 1GB, 10GB)", name)
		}
		b.Run(name+"/heap-full", func(b *testing.B) {
			if keys > 10_000_000 && os.Getenv("FLOE_BENCH_HEAP_10GB") != "1" {
				// At 1 GB the heap run peaks at ~10x the state in resident memory.
				b.Skip("heap at 10 GB: the map, its snapshot copy and the encoded blocks need far more memory than this machine has; FLOE_BENCH_HEAP_10GB=1 runs it anyway")
			}
			benchFull(b, keys, benchRemote(b, remote))
		})
		b.Run(name+"/pebble-incremental", func(b *testing.B) { benchIncremental(b, keys, benchRemote(b, remote)) })
	}
}

// benchRemote makes a directory of its own under root for one benchmark,
// removed after it ("" without root).
func benchRemote(b *testing.B, root string) string {
	if root == "" {
		return ""
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	dir := checkpoint.Join(root, "floe-bench-"+hex.EncodeToString(r[:]))
	b.Cleanup(func() { benchRemove(b, dir) })
	return dir
}

func benchRemove(b *testing.B, dir string) {
	store, _, err := checkpoint.OpenFS(dir)
	if err == nil {
		err = store.RemoveAll(context.Background(), dir)
	}
	if err != nil {
		b.Errorf("remove %s: %v", dir, err)
	}
}

const benchGroups = 128

func benchFill(tab *Table[string, counter], keys int) {
	pad := strings.Repeat("x", 84)
	for i := range keys {
		tab.Put(fmt.Sprintf("key-%010d", i), counter{N: int64(i), Tags: []string{pad}})
	}
}

// benchFillLSM writes what benchFill puts straight into the pebble store,
// as SST files shaped like the levels that a long load of writes in random
// order leaves: from the base level down to the bottom, each level
// LevelMultiplier times the one above and at its target size (so the
// compactions of new writes cascade down, as they would), its files
// compaction outputs of the level's target file size, the keys of each
// level spread over the whole key space. Each level's files are written in
// key order and ingested, bottom first (an ingested file goes to the lowest
// level whose files it does not overlap): the store reached without
// rewriting 10 GB several times over on a shared machine.
func benchFillLSM(b testing.TB, src *Backend[string], tab *Table[string, counter], keys int) {
	s := src.lsm
	o := s.opts
	o.EnsureDefaults()
	levels := benchLevels(o, int64(keys)*110)
	// Key i lives in level k (0: the bottom) with a share of
	// mult^-k of the bottom's.
	mult := float64(o.Experimental.LevelMultiplier)
	share := make([]float64, levels)
	sum, w := 0.0, 1.0
	for k := range share {
		share[k] = w
		sum += w
		w /= mult
	}
	rng := mrand.New(mrand.NewPCG(3, 4))
	groups := make([][][]int32, levels) // by level, key group
	for k := range groups {
		groups[k] = make([][]int32, benchGroups)
	}
	for i := range keys {
		k, x := 0, rng.Float64()*sum
		for k < levels-1 && x >= share[k] {
			x -= share[k]
			k++
		}
		g := src.KeyGroup(fmt.Sprintf("key-%010d", i))
		groups[k][g] = append(groups[k][g], int32(i))
	}
	dir, err := os.MkdirTemp(s.root, "fill-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bottom := len(o.Levels) - 1
	for k := range levels {
		// Level bottom-k; TargetFileSizes[1] is the base level's.
		paths := benchWriteLevel(b, tab, groups[k], filepath.Join(dir, strconv.Itoa(k)),
			o.MakeWriterOptions(bottom-k, s.db.TableFormat()), o.TargetFileSizes[levels-k])
		if err := s.db.Ingest(context.Background(), paths); err != nil {
			b.Fatal(err)
		}
	}
}

// benchWriteLevel writes the entries of the keys in groups (by key group)
// into SST files of about target bytes under dir, in key order.
func benchWriteLevel(b testing.TB, tab *Table[string, counter], groups [][]int32, dir string, wopts sstable.WriterOptions, target int64) []string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	t := tab.lsm
	var (
		paths []string
		w     *sstable.Writer
		size  int64
		prev  []byte
	)
	finish := func() {
		if w == nil {
			return
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		w = nil
	}
	pad := strings.Repeat("x", 84)
	for _, is := range groups {
		for _, i := range is {
			key := t.key(fmt.Sprintf("key-%010d", i))
			if bytes.Compare(prev, key) >= 0 {
				b.Fatalf("fill: key %x after %x: not in key order", key, prev)
			}
			prev = append(prev[:0], key...)
			t.vbuf = t.vc.append(t.vbuf[:0], &counter{N: int64(i), Tags: []string{pad}})
			if w == nil {
				p := filepath.Join(dir, fmt.Sprintf("%06d.sst", len(paths)))
				f, err := lsmFS.Create(p, vfs.WriteCategoryUnspecified)
				if err != nil {
					b.Fatal(err)
				}
				w = sstable.NewWriter(objstorageprovider.NewFileWritable(f), wopts)
				paths = append(paths, p)
				size = 0
			}
			if err := w.Set(key, t.vbuf); err != nil {
				b.Fatal(err)
			}
			if size += int64(len(key) + len(t.vbuf)); size >= target {
				finish()
			}
		}
	}
	finish()
	return paths
}

// benchLevels is how many levels, from the base level to the bottom, a
// store of about n bytes has: pebble sizes the levels up from the bottom,
// each LevelMultiplier times smaller, the base level the first at most
// LBaseMaxBytes.
func benchLevels(o *pebble.Options, n int64) int {
	levels := 1
	for sz := n; sz > o.LBaseMaxBytes && levels < len(o.Levels)-1; levels++ {
		sz /= int64(o.Experimental.LevelMultiplier)
	}
	return levels
}

// The benchmark's fast fill leaves the same table as the Puts of benchFill.
func TestBenchFillLSM(t *testing.T) {
	const keys = 20_000
	heap, _ := NewBackend[string](benchGroups)
	want, _ := Value[string, counter](heap, "v")
	benchFill(want, keys)
	lsm, err := NewBackend[string](benchGroups, WithLSM(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer lsm.Close()
	got, _ := Value[string, counter](lsm, "v")
	benchFillLSM(t, lsm, got, keys)
	n := 0
	got.Range(func(k string, v counter) bool {
		n++
		if w, ok := want.Get(k); !ok || w.N != v.N || len(v.Tags) != 1 || v.Tags[0] != w.Tags[0] {
			t.Fatalf("%s: %+v, want %+v (%v)", k, v, w, ok)
		}
		return true
	})
	if n != keys {
		t.Fatalf("%d keys, want %d", n, keys)
	}
}

// benchChange updates 1% of the keys, at random.
func benchChange(tab *Table[string, counter], rng *mrand.Rand, keys int) {
	pad := strings.Repeat("y", 84)
	for range keys / 100 {
		i := rng.IntN(keys)
		tab.Put(fmt.Sprintf("key-%010d", i), counter{N: -int64(i), Tags: []string{pad}})
	}
}

// maxRSSMB is the process's peak resident set so far, in MB.
func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

// fullCheckpoint snapshots src and writes its blocks to path (local or a
// URI), one file; it returns the blocks' offsets and the time of the
// synchronous part.
func fullCheckpoint(b *testing.B, src *Backend[string], path string) ([]int64, time.Duration) {
	ctx := context.Background()
	t0 := time.Now()
	v := src.View()
	sync := time.Since(t0)
	blocks, err := v.Encode(0, benchGroups)
	if err != nil {
		b.Fatal(err)
	}
	v.Release()
	store, _, err := checkpoint.OpenFS(path)
	if err != nil {
		b.Fatal(err)
	}
	w, err := store.Create(ctx, path)
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
	return offsets, sync
}

// fullRestore reads what fullCheckpoint wrote into a new heap backend and
// returns how long that took.
func fullRestore(b *testing.B, path string, offsets []int64) time.Duration {
	t0 := time.Now()
	store, _, err := checkpoint.OpenFS(path)
	if err != nil {
		b.Fatal(err)
	}
	r, err := store.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		b.Fatal(err)
	}
	dst, _ := NewBackend[string](benchGroups)
	Value[string, counter](dst, "v")
	for g := range benchGroups {
		if err := dst.Restore(data[offsets[g]:offsets[g+1]], false); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}

func benchFull(b *testing.B, keys int, remote string) {
	src, _ := NewBackend[string](benchGroups)
	tab, _ := Value[string, counter](src, "v")
	benchFill(tab, keys)
	rng := mrand.New(mrand.NewPCG(1, 2))
	path := filepath.Join(b.TempDir(), "state")
	var sync, total time.Duration
	var offsets []int64
	for b.Loop() {
		b.StopTimer()
		benchChange(tab, rng, keys)
		b.StartTimer()
		t0 := time.Now()
		var d time.Duration
		offsets, d = fullCheckpoint(b, src, path)
		sync += d
		total += time.Since(t0)
	}
	b.StopTimer()
	size := offsets[len(offsets)-1]
	restore := fullRestore(b, path, offsets)
	b.ReportMetric(sync.Seconds()/float64(b.N), "s-sync")
	b.ReportMetric(total.Seconds()/float64(b.N), "s-checkpoint")
	b.ReportMetric(float64(size)/1e6, "MB-written")
	b.ReportMetric(restore.Seconds(), "s-restore")
	b.ReportMetric(float64(size)/1e6/restore.Seconds(), "MB/s-restore")
	if remote != "" {
		os.Remove(path)
		benchChange(tab, rng, keys)
		p := checkpoint.Join(remote, "state")
		t0 := time.Now()
		offsets, _ := fullCheckpoint(b, src, p)
		b.ReportMetric(time.Since(t0).Seconds(), "s-checkpoint-hdfs")
		restore := fullRestore(b, p, offsets)
		b.ReportMetric(restore.Seconds(), "s-restore-hdfs")
		b.ReportMetric(float64(offsets[len(offsets)-1])/1e6/restore.Seconds(), "MB/s-restore-hdfs")
	}
	b.ReportMetric(maxRSSMB(), "MB-peak-rss")
}

// incRun takes incremental checkpoints of one store into one place.
type incRun struct {
	b     *testing.B
	src   *Backend[string]
	store checkpoint.FS
	root  string // where the checkpoints go: a local directory or a URI
	n     int
}

// incTimes are the figures of one checkpoint.
type incTimes struct {
	sync, flush, total time.Duration // flush: of sync, the memtable's
	sent               int64
}

func (r *incRun) take() (checkpoint.IncrementalHandle, incTimes) {
	r.n++
	t0 := time.Now()
	v, err := r.src.IncrementalView()
	if err != nil {
		r.b.Fatal(err)
	}
	c := incTimes{sync: time.Since(t0), flush: v.flush}
	h, sent, err := v.Upload(context.Background(), Target{Store: r.store, SharedDir: checkpoint.Join(r.root, "shared"),
		Dir: checkpoint.Join(r.root, fmt.Sprintf("chk-%d", r.n)), UID: "op", Start: 0, End: benchGroups})
	if rerr := v.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		r.b.Fatal(err)
	}
	c.sent, c.total = sent, time.Since(t0)
	return h, c
}

// settle waits out the store's compactions (those the load left behind
// rewrite most files once) and has one checkpoint take their outputs, so
// that the timed checkpoints after it measure the steady state: what 1% of
// changed keys costs.
func (r *incRun) settle() checkpoint.IncrementalHandle {
	for deadline := time.Now().Add(30 * time.Minute); r.src.lsm.db.Metrics().Compact.NumInProgress > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	h, _ := r.take()
	return h
}

// incRestore restores h into a new pebble backend under dir, half or all
// of the key groups, closes it and returns how long the restore took.
func incRestore(b *testing.B, h checkpoint.IncrementalHandle, dir string, end int) time.Duration {
	t0 := time.Now()
	dst, err := NewBackend[string](benchGroups, WithLSM(dir))
	if err != nil {
		b.Fatal(err)
	}
	Value[string, counter](dst, "v")
	if err := dst.RestoreIncremental(context.Background(), []checkpoint.IncrementalHandle{h}, 0, end, false); err != nil {
		b.Fatal(err)
	}
	d := time.Since(t0)
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
	return d
}

// downloadRate is the MB/s of fetching h's files alone (as a restore does,
// in parallel, without opening the store): what a restore that is bounded
// by the disk or the network comes close to.
func downloadRate(b *testing.B, h checkpoint.IncrementalHandle, dir string) float64 {
	t0 := time.Now()
	if err := download(context.Background(), h, dir); err != nil {
		b.Fatal(err)
	}
	d := time.Since(t0)
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	return float64(h.Bytes()) / 1e6 / d.Seconds()
}

func benchIncremental(b *testing.B, keys int, remote string) {
	dir := b.TempDir()
	src, err := NewBackend[string](benchGroups, WithLSM(filepath.Join(dir, "local")))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	tab, _ := Value[string, counter](src, "v")
	benchFillLSM(b, src, tab, keys)
	store, _, _ := checkpoint.OpenFS(dir)
	r := &incRun{b: b, src: src, store: store, root: filepath.Join(dir, "chk")}
	_, first := r.take() // the first sends everything
	h := r.settle()
	rng := mrand.New(mrand.NewPCG(1, 2))
	var cs []incTimes
	for b.Loop() {
		b.StopTimer()
		benchChange(tab, rng, keys)
		b.StartTimer()
		var c incTimes
		h, c = r.take()
		cs = append(cs, c)
		b.Logf("checkpoint %d: sync %.3f s (flush %.3f s), whole %.3f s, %.1f MB sent", len(cs), c.sync.Seconds(), c.flush.Seconds(), c.total.Seconds(), float64(c.sent)/1e6)
	}
	b.StopTimer()
	restore := incRestore(b, h, filepath.Join(dir, "restore"), benchGroups)
	b.ReportMetric(downloadRate(b, h, filepath.Join(dir, "download")), "MB/s-download")
	rescale := incRestore(b, h, filepath.Join(dir, "half"), benchGroups/2)
	b.ReportMetric(first.total.Seconds(), "s-first")
	b.ReportMetric(float64(first.sent)/1e6, "MB-first")
	b.ReportMetric(medianOf(cs, func(c incTimes) float64 { return c.sync.Seconds() }), "s-sync")
	b.ReportMetric(medianOf(cs, func(c incTimes) float64 { return c.flush.Seconds() }), "s-flush")
	b.ReportMetric(medianOf(cs, func(c incTimes) float64 { return c.total.Seconds() }), "s-checkpoint")
	b.ReportMetric(slices.Max(valuesOf(cs, func(c incTimes) float64 { return c.total.Seconds() })), "s-checkpoint-max")
	b.ReportMetric(medianOf(cs, func(c incTimes) float64 { return float64(c.sent) / 1e6 }), "MB-written")
	b.ReportMetric(float64(h.Bytes())/1e6, "MB-store")
	b.ReportMetric(float64(len(h.Files)), "files-store")
	b.ReportMetric(restore.Seconds(), "s-restore")
	b.ReportMetric(float64(h.Bytes())/1e6/restore.Seconds(), "MB/s-restore")
	b.ReportMetric(rescale.Seconds(), "s-restore-half")
	if remote == "" {
		return
	}
	// The same store, checkpointed into HDFS from scratch: a new lineage
	// that has sent nothing there yet.
	if err := os.RemoveAll(r.root); err != nil {
		b.Fatal(err)
	}
	src.lsm.inc.instance = newIncremental().instance
	src.lsm.inc.uploaded = map[string]checkpoint.StoreFile{}
	if r.store, _, err = checkpoint.OpenFS(remote); err != nil {
		b.Fatal(err)
	}
	r.root = remote
	_, first = r.take()
	b.ReportMetric(first.total.Seconds(), "s-first-hdfs")
	b.ReportMetric(float64(first.sent)/1e6, "MB-first-hdfs")
	h = r.settle()
	hcs := make([]incTimes, len(cs))
	for i := range hcs {
		benchChange(tab, rng, keys)
		h, hcs[i] = r.take()
	}
	restore = incRestore(b, h, filepath.Join(dir, "restore-hdfs"), benchGroups)
	b.ReportMetric(downloadRate(b, h, filepath.Join(dir, "download-hdfs")), "MB/s-download-hdfs")
	b.ReportMetric(medianOf(hcs, func(c incTimes) float64 { return c.total.Seconds() }), "s-checkpoint-hdfs")
	b.ReportMetric(medianOf(hcs, func(c incTimes) float64 { return float64(c.sent) / 1e6 }), "MB-written-hdfs")
	b.ReportMetric(restore.Seconds(), "s-restore-hdfs")
	b.ReportMetric(float64(h.Bytes())/1e6/restore.Seconds(), "MB/s-restore-hdfs")
}

// valuesOf is f of each of cs.
func valuesOf(cs []incTimes, f func(incTimes) float64) []float64 {
	v := make([]float64, len(cs))
	for i, c := range cs {
		v[i] = f(c)
	}
	return v
}

// medianOf is the median of f over cs (of the middle two, their mean).
func medianOf(cs []incTimes, f func(incTimes) float64) float64 {
	v := valuesOf(cs, f)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// benchTune applies FLOE_BENCH_PEBBLE, comma-separated overrides of the
// store's options for comparing them in one binary: sync=1 (fsync as pebble
// does), l0file=<MiB> (L0's target file size; the levels below double it),
// l0comp=<n> and l0stop=<n> (L0 compaction and stop-writes thresholds),
// conc=<n> (compactions at once), mult=<n> (level multiplier), lbase=<MiB>.
func benchTune(b *testing.B) {
	v := os.Getenv("FLOE_BENCH_PEBBLE")
	if v == "" {
		return
	}
	type set func(*pebble.Options, int)
	sets := map[string]set{
		"sync": func(o *pebble.Options, n int) {
			if n != 0 {
				o.FS = vfs.Default
			}
		},
		"l0file": func(o *pebble.Options, n int) {
			o.TargetFileSizes = [len(o.TargetFileSizes)]int64{int64(n) << 20}
		},
		"l0comp": func(o *pebble.Options, n int) { o.L0CompactionThreshold = n },
		"l0stop": func(o *pebble.Options, n int) { o.L0StopWritesThreshold = n },
		"conc":   func(o *pebble.Options, n int) { o.CompactionConcurrencyRange = func() (int, int) { return 1, n } },
		"mult":   func(o *pebble.Options, n int) { o.Experimental.LevelMultiplier = n },
		"lbase":  func(o *pebble.Options, n int) { o.LBaseMaxBytes = int64(n) << 20 },
	}
	var fs []func(*pebble.Options)
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(val)
		f, ok := sets[k]
		if err != nil || !ok {
			b.Fatalf("FLOE_BENCH_PEBBLE: %q: want one of sync, l0file, l0comp, l0stop, conc, mult, lbase =<integer>", kv)
		}
		fs = append(fs, func(o *pebble.Options) { f(o, n) })
	}
	lsmTune = func(o *pebble.Options) {
		for _, f := range fs {
			f(o)
		}
	}
	b.Cleanup(func() { lsmTune = nil })
}

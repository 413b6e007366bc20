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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"floe/checkpoint"
)

// BenchmarkIncrementalCheckpoint measures one checkpoint of keyed state
// (100-byte values, 128 key groups) of which 1% of the keys changed since
// the last one, to local disk: heap (full: snapshot, encode, write) against
// pebble with incremental checkpoints (flush and link, then send the new SST
// files; measured once the compactions of the initial load are done); and
// the restore of what it wrote (pebble: the store reopened from the files,
// and, for a rescale, half the key groups copied out of them). It reports
// seconds of the synchronous part and of the whole checkpoint, MB written per
// checkpoint, and restore seconds and MB/s.
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
// in key order (key group by key group, each in ascending key order): the
// store a long load leaves once its compactions are done (the flushed files
// do not overlap, so they move down the levels instead of being rewritten),
// reached without rewriting 10 GB several times over on a shared machine.
func benchFillLSM(b testing.TB, src *Backend[string], tab *Table[string, counter], keys int) {
	groups := make([][]int32, benchGroups)
	for i := range keys {
		g := src.KeyGroup(fmt.Sprintf("key-%010d", i))
		groups[g] = append(groups[g], int32(i))
	}
	t := tab.lsm
	batch := src.lsm.db.NewBatch()
	defer batch.Close()
	pad := strings.Repeat("x", 84)
	var prev []byte
	for _, is := range groups {
		for _, i := range is {
			key := t.key(fmt.Sprintf("key-%010d", i))
			if bytes.Compare(prev, key) >= 0 {
				b.Fatalf("fill: key %x after %x: not in key order", key, prev)
			}
			prev = append(prev[:0], key...)
			t.vbuf = t.vc.append(t.vbuf[:0], &counter{N: int64(i), Tags: []string{pad}})
			if err := batch.Set(key, t.vbuf, nil); err != nil {
				b.Fatal(err)
			}
			if batch.Len() >= restoreBatch {
				if err := batch.Commit(pebble.NoSync); err != nil {
					b.Fatal(err)
				}
				batch.Reset()
			}
		}
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		b.Fatal(err)
	}
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

func (r *incRun) take() (checkpoint.IncrementalHandle, int64, time.Duration) {
	r.n++
	t0 := time.Now()
	v, err := r.src.IncrementalView()
	if err != nil {
		r.b.Fatal(err)
	}
	sync := time.Since(t0)
	h, sent, err := v.Upload(context.Background(), Target{Store: r.store, SharedDir: checkpoint.Join(r.root, "shared"),
		Dir: checkpoint.Join(r.root, fmt.Sprintf("chk-%d", r.n)), UID: "op", Start: 0, End: benchGroups})
	if rerr := v.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		r.b.Fatal(err)
	}
	return h, sent, sync
}

// settle waits out the store's compactions (those the load left behind
// rewrite most files once) and has one checkpoint take their outputs, so
// that the timed checkpoints after it measure the steady state: what 1% of
// changed keys costs.
func (r *incRun) settle() checkpoint.IncrementalHandle {
	for deadline := time.Now().Add(30 * time.Minute); r.src.lsm.db.Metrics().Compact.NumInProgress > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	h, _, _ := r.take()
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
	t0 := time.Now()
	_, firstSent, _ := r.take() // the first sends everything
	firstTime := time.Since(t0)
	h := r.settle()
	rng := mrand.New(mrand.NewPCG(1, 2))
	var sync, total time.Duration
	var sent int64
	n := 0
	for b.Loop() {
		b.StopTimer()
		benchChange(tab, rng, keys)
		b.StartTimer()
		t0 := time.Now()
		var s int64
		var d time.Duration
		h, s, d = r.take()
		total += time.Since(t0)
		sync += d
		sent += s
		n++
	}
	b.StopTimer()
	restore := incRestore(b, h, filepath.Join(dir, "restore"), benchGroups)
	b.ReportMetric(downloadRate(b, h, filepath.Join(dir, "download")), "MB/s-download")
	rescale := incRestore(b, h, filepath.Join(dir, "half"), benchGroups/2)
	b.ReportMetric(firstTime.Seconds(), "s-first")
	b.ReportMetric(float64(firstSent)/1e6, "MB-first")
	b.ReportMetric(sync.Seconds()/float64(n), "s-sync")
	b.ReportMetric(total.Seconds()/float64(n), "s-checkpoint")
	b.ReportMetric(float64(sent)/1e6/float64(n), "MB-written")
	b.ReportMetric(float64(h.Bytes())/1e6, "MB-store")
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
	t0 = time.Now()
	_, firstSent, _ = r.take()
	b.ReportMetric(time.Since(t0).Seconds(), "s-first-hdfs")
	b.ReportMetric(float64(firstSent)/1e6, "MB-first-hdfs")
	h = r.settle()
	total, sent = 0, 0
	for range n {
		benchChange(tab, rng, keys)
		t0 := time.Now()
		var s int64
		h, s, _ = r.take()
		total += time.Since(t0)
		sent += s
	}
	restore = incRestore(b, h, filepath.Join(dir, "restore-hdfs"), benchGroups)
	b.ReportMetric(downloadRate(b, h, filepath.Join(dir, "download-hdfs")), "MB/s-download-hdfs")
	b.ReportMetric(total.Seconds()/float64(n), "s-checkpoint-hdfs")
	b.ReportMetric(float64(sent)/1e6/float64(n), "MB-written-hdfs")
	b.ReportMetric(restore.Seconds(), "s-restore-hdfs")
	b.ReportMetric(float64(h.Bytes())/1e6/restore.Seconds(), "MB/s-restore-hdfs")
}

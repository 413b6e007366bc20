package state

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"floe/checkpoint"
)

// BenchmarkIncrementalCheckpoint measures one checkpoint of keyed state
// (100-byte values, 128 key groups) of which 1% of the keys changed since
// the last one, to local disk: heap (full: snapshot, encode, write) against
// pebble with incremental checkpoints (flush and link, then send the new SST
// files; measured once the compactions of the initial load are done); and
// the restore of what it wrote (pebble: the store reopened from
// the files, and, for a rescale, half the key groups copied out of them).
// It reports seconds of the synchronous part and of the whole checkpoint,
// MB written per checkpoint, and restore seconds and MB/s. Sizes: 100MB, and
// 1GB with FLOE_BENCH_LARGE=1. Not part of make test.
func BenchmarkIncrementalCheckpoint(b *testing.B) {
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
	for _, size := range sizes {
		b.Run(size.name+"/heap-full", func(b *testing.B) { benchFull(b, size.keys) })
		b.Run(size.name+"/pebble-incremental", func(b *testing.B) { benchIncremental(b, size.keys) })
	}
}

const benchGroups = 128

func benchFill(tab *Table[string, counter], keys int) {
	pad := strings.Repeat("x", 84)
	for i := range keys {
		tab.Put(fmt.Sprintf("key-%010d", i), counter{N: int64(i), Tags: []string{pad}})
	}
}

// benchChange updates 1% of the keys, at random.
func benchChange(tab *Table[string, counter], rng *rand.Rand, keys int) {
	pad := strings.Repeat("y", 84)
	for range keys / 100 {
		i := rng.IntN(keys)
		tab.Put(fmt.Sprintf("key-%010d", i), counter{N: -int64(i), Tags: []string{pad}})
	}
}

func benchFull(b *testing.B, keys int) {
	src, _ := NewBackend[string](benchGroups)
	tab, _ := Value[string, counter](src, "v")
	benchFill(tab, keys)
	rng := rand.New(rand.NewPCG(1, 2))
	path := filepath.Join(b.TempDir(), "state")
	var sync, total time.Duration
	var size int64
	var offsets []int64
	for b.Loop() {
		b.StopTimer()
		benchChange(tab, rng, keys)
		b.StartTimer()
		t0 := time.Now()
		v := src.View()
		sync += time.Since(t0)
		blocks, err := v.Encode(0, benchGroups)
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		offsets = []int64{0}
		for _, blk := range blocks {
			if _, err := f.Write(blk); err != nil {
				b.Fatal(err)
			}
			offsets = append(offsets, offsets[len(offsets)-1]+int64(len(blk)))
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		size = offsets[len(offsets)-1]
	}
	b.StopTimer()
	t1 := time.Now()
	f, _ := os.Open(path)
	data, err := io.ReadAll(f)
	f.Close()
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
	restore := time.Since(t1)
	b.ReportMetric(sync.Seconds()/float64(b.N), "s-sync")
	b.ReportMetric(total.Seconds()/float64(b.N), "s-checkpoint")
	b.ReportMetric(float64(size)/1e6, "MB-written")
	b.ReportMetric(restore.Seconds(), "s-restore")
	b.ReportMetric(float64(size)/1e6/restore.Seconds(), "MB/s-restore")
}

func benchIncremental(b *testing.B, keys int) {
	ctx := context.Background()
	dir := b.TempDir()
	src, err := NewBackend[string](benchGroups, WithLSM(filepath.Join(dir, "local")))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	tab, _ := Value[string, counter](src, "v")
	benchFill(tab, keys)
	store, _, _ := checkpoint.OpenFS(dir)
	n := 0
	take := func() (checkpoint.IncrementalHandle, int64, time.Duration) {
		n++
		t0 := time.Now()
		v, err := src.IncrementalView()
		if err != nil {
			b.Fatal(err)
		}
		sync := time.Since(t0)
		h, sent, err := v.Upload(ctx, Target{Store: store, SharedDir: filepath.Join(dir, "shared"),
			Dir: filepath.Join(dir, fmt.Sprintf("chk-%d", n)), UID: "op", Start: 0, End: benchGroups})
		if rerr := v.Release(); err == nil {
			err = rerr
		}
		if err != nil {
			b.Fatal(err)
		}
		return h, sent, sync
	}
	t0 := time.Now()
	_, firstSent, _ := take() // the first sends everything
	firstTime := time.Since(t0)
	// The compactions the load left behind rewrite most files once: let
	// them finish, and one checkpoint take their outputs, so the timed ones
	// measure the steady state (what 1% of changed keys costs).
	for deadline := time.Now().Add(10 * time.Minute); src.lsm.db.Metrics().Compact.NumInProgress > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	first, _, _ := take()
	rng := rand.New(rand.NewPCG(1, 2))
	var sync, total time.Duration
	var sent int64
	h := first
	for b.Loop() {
		b.StopTimer()
		benchChange(tab, rng, keys)
		b.StartTimer()
		t0 := time.Now()
		var s int64
		var d time.Duration
		h, s, d = take()
		total += time.Since(t0)
		sync += d
		sent += s
	}
	b.StopTimer()
	t1 := time.Now()
	dst, _ := NewBackend[string](benchGroups, WithLSM(filepath.Join(dir, "restore")))
	defer dst.Close()
	Value[string, counter](dst, "v")
	if err := dst.RestoreIncremental(ctx, []checkpoint.IncrementalHandle{h}, 0, benchGroups, false); err != nil {
		b.Fatal(err)
	}
	restore := time.Since(t1)
	t2 := time.Now()
	half, _ := NewBackend[string](benchGroups, WithLSM(filepath.Join(dir, "half")))
	defer half.Close()
	Value[string, counter](half, "v")
	if err := half.RestoreIncremental(ctx, []checkpoint.IncrementalHandle{h}, 0, benchGroups/2, false); err != nil {
		b.Fatal(err)
	}
	rescale := time.Since(t2)
	b.ReportMetric(firstTime.Seconds(), "s-first")
	b.ReportMetric(float64(firstSent)/1e6, "MB-first")
	b.ReportMetric(sync.Seconds()/float64(b.N), "s-sync")
	b.ReportMetric(total.Seconds()/float64(b.N), "s-checkpoint")
	b.ReportMetric(float64(sent)/1e6/float64(b.N), "MB-written")
	b.ReportMetric(float64(h.Bytes())/1e6, "MB-store")
	b.ReportMetric(restore.Seconds(), "s-restore")
	b.ReportMetric(float64(h.Bytes())/1e6/restore.Seconds(), "MB/s-restore")
	b.ReportMetric(rescale.Seconds(), "s-restore-half")
}

package datastream_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"testing"

	"floe/datastream"
)

// TestBatchStageRecovery runs generator -> keyBy -> reduce in BATCH mode
// with a task of the second stage failing once: only that stage runs again
// (the first stage's blocking partitions are read a second time), and the
// result is the plain-Go computation's.
func TestBatchStageRecovery(t *testing.T) {
	const n = 30000
	var failed atomic.Int32
	tmp := t.TempDir()
	env := newEnv(2, "execution.runtime-mode", "BATCH", "io.tmp.dirs", tmp, "restart-strategy.type", "fixed-delay",
		"restart-strategy.fixed-delay.attempts", "2", "restart-strategy.fixed-delay.delay", "10ms")
	type kv struct {
		K string
		V int64
	}
	src := datastream.Generate(env, func(i int64) kv { return kv{fmt.Sprintf("k%d", i%101), i} }, datastream.GeneratorOptions{Count: n})
	sums := datastream.KeyBy(src, func(r kv) string { return r.K }).Reduce(func(acc, v kv) kv {
		if v.V == n/2 && failed.Add(1) == 1 {
			panic("injected failure in the second stage")
		}
		acc.V += v.V
		return acc
	})
	out, _ := datastream.Collect(sums)
	res, err := env.Execute(context.Background(), "batch-stages")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for i := range int64(n) {
		want[fmt.Sprintf("k%d", i%101)] += i
	}
	got := map[string]int64{}
	for _, r := range out.Items() {
		if _, dup := got[r.K]; dup {
			t.Fatalf("key %q emitted twice", r.K)
		}
		got[r.K] = r.V
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d keys %v, want %d keys %v", len(got), got, len(want), want)
	}
	if failed.Load() < 1 {
		t.Fatal("the failure was never injected")
	}
	var left []string
	filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != tmp {
			left = append(left, path)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("the job's exchange files are left after it ended: %v", left)
	}
	if len(res.Stages) != 2 {
		t.Fatalf("stages = %+v, want 2", res.Stages)
	}
	if r := res.Stages[0]; r.Runs != 1 || r.RecordsOut != n || r.Status != "FINISHED" {
		t.Errorf("stage 0 = %+v, want 1 run of %d records out", r, n)
	}
	if r := res.Stages[1]; r.Runs != 2 || r.RecordsIn != n || r.Status != "FINISHED" {
		t.Errorf("stage 1 = %+v, want 2 runs, the last reading %d records", r, n)
	}
}

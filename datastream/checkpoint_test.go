package datastream_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"floe/datastream"
	"floe/internal/config"
)

type keyCount struct {
	Key   string
	Count int64
}

// runKeyedCount runs generator -> keyBy -> count in ValueState -> a map that
// fails when told -> exactly-once text sink, with checkpoints, and returns
// the committed lines.
func runKeyedCount(t *testing.T, mode string, events, keys int64, failures int) []string {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	env := datastream.NewEnvironment(datastream.WithConfig(config.New(map[string]string{
		config.Parallelism:                      "2",
		config.BufferTimeout:                    "5ms",
		"execution.checkpointing.interval":      "100ms",
		"execution.checkpointing.mode":          mode,
		"execution.checkpointing.dir":           "file://" + filepath.Join(dir, "checkpoints"),
		"restart-strategy.type":                 "fixed-delay",
		"restart-strategy.fixed-delay.attempts": fmt.Sprint(failures + 2),
		"restart-strategy.fixed-delay.delay":    "20ms",
	})))
	src := datastream.Generate(env, func(i int64) string { return fmt.Sprintf("k%d", i%keys) },
		datastream.GeneratorOptions{Count: events, RatePerSecond: 8000}).UID("events")
	count := datastream.NewValueState[string, int64]("count")
	counts := datastream.Process(datastream.KeyBy(src, func(k string) string { return k }),
		func(ctx *datastream.KeyedContext[string], k string, emit func(keyCount)) {
			n, _ := count.Value(ctx)
			count.Update(ctx, n+1)
			emit(keyCount{k, n + 1})
		}, count).UID("count")
	var failNow atomic.Bool
	var panics atomic.Int32
	defer func() { t.Logf("panics: %d", panics.Load()) }()
	checked := datastream.Map(counts, func(kc keyCount) keyCount {
		if failNow.CompareAndSwap(true, false) {
			panics.Add(1)
			panic("injected failure")
		}
		return kc
	}).UID("fail")
	datastream.WriteText(checked, out, func(kc keyCount) string { return fmt.Sprintf("%s\t%d", kc.Key, kc.Count) }).UID("sink")

	stop := make(chan struct{})
	injected := make(chan int, 1)
	go func() { // failures at irregular moments while the job runs
		n := 0
		defer func() { injected <- n }()
		for i := range failures {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(250+97*i%300) * time.Millisecond):
				failNow.Store(true)
				n++
			}
		}
	}()
	_, err := env.Execute(context.Background(), "keyed-count-"+mode)
	close(stop)
	if n := <-injected; n == 0 && failures > 0 {
		t.Fatal("no failure was injected: the job ended too soon to test recovery")
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("uncommitted file %s left visible", e.Name())
			continue
		}
		f, _ := os.Open(filepath.Join(out, e.Name()))
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
	}
	return lines
}

// expected: for each key, the counts 1..n exactly once.
func expectedCounts(events, keys int64) map[string]int {
	want := map[string]int{}
	per := map[int64]int64{}
	for i := range events {
		per[i%keys]++
	}
	for k, n := range per {
		for c := int64(1); c <= n; c++ {
			want[fmt.Sprintf("k%d\t%d", k, c)] = 1
		}
	}
	return want
}

func TestExactlyOnceUnderRepeatedFailures(t *testing.T) {
	const events, keys = 16000, 13
	lines := runKeyedCount(t, "EXACTLY_ONCE", events, keys, 4)
	got := map[string]int{}
	for _, l := range lines {
		got[l]++
	}
	want := expectedCounts(events, keys)
	for l, n := range got {
		if n != 1 || want[l] != 1 {
			t.Fatalf("line %q appears %d times (expected %d)", l, n, want[l])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d distinct lines, want %d", len(got), len(want))
	}
}

package datastream_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"floe/config"
	"floe/datastream"
)

// ttlOut is what the TTL job emits for event I.
type ttlOut struct {
	I, Count, Seen, Sum, Odd int64
}

const (
	ttlStep = 10 // ms of processing time between two events
	ttlLife = 60 // ms: a key's values outlive some of its gaps, not others
)

// ttlKey spreads the events over 5 keys with gaps of 1 to about 30 events
// (a 64-bit mix of i).
func ttlKey(i int64) string {
	x := uint64(i) * 0x9E3779B97F4A7C15
	x ^= x >> 29
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 32
	return fmt.Sprintf("k%d", x%5)
}

// ttlModel computes what the job emits, plainly: every state's values per
// key with the time they were written, expired after ttlLife.
func ttlModel(events int64) []ttlOut {
	type key struct {
		count, countAt int64
		times          []int64 // the events kept in the list state
		sum, sumAt     int64
		par            [2]struct{ n, at int64 }
	}
	live := func(at, now int64) bool { return now-at < ttlLife }
	keys := map[string]*key{}
	out := make([]ttlOut, events)
	for i := range events {
		now := i * ttlStep
		k := keys[ttlKey(i)]
		if k == nil {
			k = &key{countAt: -ttlLife, sumAt: -ttlLife}
			k.par[0].at, k.par[1].at = -ttlLife, -ttlLife
			keys[ttlKey(i)] = k
		}
		if !live(k.countAt, now) {
			k.count = 0
		}
		k.count, k.countAt = k.count+1, now
		if !live(k.sumAt, now) {
			k.sum = 0
		}
		k.sum, k.sumAt = k.sum+i, now
		k.times = append(k.times, now)
		seen := int64(0)
		for _, t := range k.times {
			if live(t, now) {
				seen++
			}
		}
		p := &k.par[i%2]
		if !live(p.at, now) {
			p.n = 0
		}
		p.n, p.at = p.n+1, now
		odd := int64(0)
		if live(k.par[1].at, now) {
			odd = k.par[1].n
		}
		out[i] = ttlOut{i, k.count, seen, k.sum, odd}
	}
	return out
}

// A job with every kind of keyed state under a time-to-live, its
// processing time a fake clock that each record sets (parallelism 1, so
// one task reads it), through savepoints taken while it runs and restored
// on the other backend (heap -> pebble -> heap): every record's output is
// what the model computes, so values expired exactly when they should, and
// the savepoints carried their timestamps.
func TestTTLStatesInAJob(t *testing.T) {
	const events = 900
	dir := t.TempDir()
	var clock atomic.Int64
	ttl := datastream.TTLWithClock(datastream.StateTTL{TTL: ttlLife * time.Millisecond}, clock.Load)
	count := datastream.NewValueState[string, int64]("count").WithTTL(ttl)
	sum := datastream.NewReducingState[string, int64]("sum", func(a, b int64) int64 { return a + b }).WithTTL(ttl)
	seen := datastream.NewListState[string, int64]("seen").WithTTL(ttl)
	parity := datastream.NewMapState[string, bool, int64]("parity").WithTTL(ttl)
	build := func(kind, from string) (*datastream.Environment, *datastream.Collector[ttlOut]) {
		kv := map[string]string{config.Parallelism: "1", config.BufferTimeout: "5ms",
			config.StateBackend: kind, config.TmpDirs: filepath.Join(dir, "local"),
			"execution.checkpointing.savepoint-dir": "file://" + filepath.Join(dir, "sp"), "restart-strategy.type": "none"}
		if from != "" {
			kv["execution.savepoint.path"] = from
		}
		env := datastream.NewEnvironment(datastream.WithConfig(config.New(kv)))
		src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: events, RatePerSecond: 1500}).UID("src")
		res := datastream.Process(datastream.KeyBy(src, ttlKey),
			func(ctx *datastream.KeyedContext[string], i int64, emit func(ttlOut)) {
				clock.Store(i * ttlStep)
				n, _ := count.Value(ctx)
				count.Update(ctx, n+1)
				sum.Add(ctx, i)
				s, _ := sum.Get(ctx)
				seen.Add(ctx, i)
				p, _ := parity.Get(ctx, i%2 == 1)
				parity.Put(ctx, i%2 == 1, p+1)
				odd, _ := parity.Get(ctx, true)
				emit(ttlOut{i, n + 1, int64(len(seen.Get(ctx))), s, odd})
			}, count, sum, seen, parity).UID("proc")
		c, _ := datastream.Collect(res)
		return env, c
	}
	want := ttlModel(events)
	expired := 0
	for i := range want[1:] {
		if want[i+1].Count == 1 && i+1 >= 5 {
			expired++
		}
	}
	if expired < 20 {
		t.Fatalf("the model expires values %d times: the test would not tell TTL from none", expired)
	}
	sp := ""
	for phase, kind := range []string{"hashmap", "pebble", "hashmap"} {
		// The clock goes back to 0 for the restore: it ran on while the
		// last phase stopped, past records the savepoint does not hold, and
		// a restore drops what has expired by its time. The first record
		// sets it to its own time.
		clock.Store(0)
		env, col := build(kind, sp)
		if phase < 2 {
			client, err := env.ExecuteAsync(context.Background(), "ttl")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			sp, err = client.Savepoint(context.Background(), "", true)
			client.Wait(context.Background())
			if err != nil {
				t.Fatalf("phase %d (%s): %v", phase, kind, err)
			}
			continue
		}
		// A collector holds the outputs of a job that finished: the last
		// phase's, which start from the state the two savepoints carried.
		if _, err := env.Execute(context.Background(), "ttl"); err != nil {
			t.Fatal(err)
		}
		items := col.Items()
		if len(items) == 0 || items[0].I == 0 || items[len(items)-1].I != events-1 || int64(len(items)) != events-items[0].I {
			t.Fatalf("the last phase emitted %d outputs, want events from where the savepoints stopped to %d, once each", len(items), events-1)
		}
		t.Logf("the last phase emitted events %d..%d", items[0].I, events-1)
		for _, o := range items {
			if o != want[o.I] {
				t.Fatalf("event %d: got %+v, want %+v", o.I, o, want[o.I])
			}
		}
	}
}

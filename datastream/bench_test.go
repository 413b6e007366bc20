package datastream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/config"
	"floe/datastream"
	"floe/internal/benchutil"
	"floe/internal/nexmark"
)

type sumRecord struct {
	Key   int64
	Value int64
}

// BenchmarkKeyedRollingSum runs generator -> keyBy -> rolling sum -> discard
// locally at parallelism 2 (two TaskManagers over loopback gRPC) and reports
// records per second per core of CPU time (getrusage), and per wall second.
func BenchmarkKeyedRollingSum(b *testing.B) {
	const n = 2_000_000
	benchutil.Jobs(b, n, func() func() error {
		env := datastream.NewEnvironment(datastream.WithConfig(config.New(map[string]string{config.Parallelism: "2"})),
			datastream.WithLogger(zerolog.Nop()))
		src := datastream.Generate(env, func(i int64) sumRecord { return sumRecord{Key: i % 10_000, Value: i} }, datastream.GeneratorOptions{Count: n})
		sums := datastream.Sum(datastream.KeyBy(src, func(r sumRecord) int64 { return r.Key }), func(r *sumRecord) *int64 { return &r.Value })
		datastream.Discard(sums)
		return func() error { _, err := env.Execute(context.Background(), "bench-keyed-sum"); return err }
	})
}

type rec16 struct{ K, V int64 }

type rec100 struct {
	K, V int64
	S    string // 84 bytes
}

// BenchmarkExchange moves records from one TaskManager to another over
// loopback gRPC (source subtask on one, sink subtask on the other) and
// reports records/s and MB/s of payload (the records' own bytes).
func BenchmarkExchange(b *testing.B) {
	pad := fmt.Sprintf("%084d", 0)
	b.Run("16B", func(b *testing.B) {
		exchange(b, 2, 16, func(i int64) rec16 { return rec16{K: i, V: i} })
	})
	b.Run("100B", func(b *testing.B) {
		exchange(b, 2, 100, func(i int64) rec100 { return rec100{K: i, V: i, S: pad} })
	})
}

// BenchmarkExchangeLocal is BenchmarkExchange with both subtasks in one
// TaskManager (two slots): a local channel, still Arrow-encoded.
func BenchmarkExchangeLocal(b *testing.B) {
	pad := fmt.Sprintf("%084d", 0)
	b.Run("16B", func(b *testing.B) {
		exchange(b, 1, 16, func(i int64) rec16 { return rec16{K: i, V: i} })
	})
	b.Run("100B", func(b *testing.B) {
		exchange(b, 1, 100, func(i int64) rec100 { return rec100{K: i, V: i, S: pad} })
	})
}

func exchange[T any](b *testing.B, tms, size int, gen func(int64) T) {
	const n = 2_000_000
	var cpu, wall time.Duration
	for b.Loop() {
		env := datastream.NewEnvironment(datastream.WithConfig(config.New(map[string]string{
			config.Parallelism: "1", config.LocalTaskManagers: fmt.Sprint(tms), config.Slots: fmt.Sprint(3 - tms)})), datastream.WithLogger(zerolog.Nop()))
		src := datastream.Generate(env, gen, datastream.GeneratorOptions{Count: n})
		// The sink's own slot sharing group puts it in another slot: of the
		// other TaskManager when there are two.
		datastream.Discard(src).SlotSharingGroup("sink")
		m := benchutil.Start()
		if _, err := env.Execute(context.Background(), "bench-exchange"); err != nil {
			b.Fatal(err)
		}
		w, c := m.Stop()
		wall += w
		cpu += c
	}
	recs := float64(n) * float64(b.N)
	b.ReportMetric(recs/wall.Seconds(), "rec/s")
	b.ReportMetric(recs*float64(size)/wall.Seconds()/1e6, "MB/s")
	b.ReportMetric(recs/cpu.Seconds(), "rec/s/core")
}

// BenchmarkKeyedStateCheckpointing runs generator -> keyBy -> count in
// ValueState (10 000 keys) -> discard at parallelism 2, without checkpoints
// and with one every second (exactly-once, local disk), and reports records
// per second per core: the ratio is the checkpointing overhead.
func BenchmarkKeyedStateCheckpointing(b *testing.B) {
	for _, interval := range []string{"off", "1s"} {
		b.Run("checkpoints="+interval, func(b *testing.B) {
			const n = 16_000_000 // about 4 s: several checkpoints
			var cpu, wall time.Duration
			for b.Loop() {
				kv := map[string]string{config.Parallelism: "2"}
				if interval != "off" {
					kv["execution.checkpointing.interval"] = interval
					kv["execution.checkpointing.dir"] = "file://" + b.TempDir()
				}
				env := datastream.NewEnvironment(datastream.WithConfig(config.New(kv)), datastream.WithLogger(zerolog.Nop()))
				src := datastream.Generate(env, func(i int64) int64 { return i % 10_000 }, datastream.GeneratorOptions{Count: n})
				count := datastream.NewValueState[int64, int64]("count")
				counts := datastream.Process(datastream.KeyBy(src, func(k int64) int64 { return k }),
					func(ctx *datastream.KeyedContext[int64], k int64, emit func(int64)) {
						c, _ := count.Value(ctx)
						count.Update(ctx, c+1)
						emit(c + 1)
					}, count)
				datastream.Discard(counts)
				m := benchutil.Start()
				if _, err := env.Execute(context.Background(), "bench-state"); err != nil {
					b.Fatal(err)
				}
				w, c := m.Stop()
				wall += w
				cpu += c
			}
			recs := float64(n) * float64(b.N)
			b.ReportMetric(recs/cpu.Seconds(), "rec/s/core")
			b.ReportMetric(recs/wall.Seconds(), "rec/s")
		})
	}
}

// BenchmarkSourceChain is Nexmark q0's plumbing without the generator's
// work: a source that sets only each event's kind and time, the timestamp
// assigner, the flatMap to bids and the blackhole sink, at parallelism 1.
// What it costs per record is what the chain adds to the generator.
func BenchmarkSourceChain(b *testing.B) {
	const n = 5_000_000
	benchutil.Jobs(b, n, func() func() error {
		env := datastream.NewEnvironment(datastream.WithConfig(config.New(map[string]string{config.Parallelism: "1"})),
			datastream.WithLogger(zerolog.Nop()))
		src := datastream.GenerateInto(env, func(i int64, e *nexmark.Event) {
			e.Kind = nexmark.BidKind
			if i%50 < 4 {
				e.Kind = nexmark.AuctionKind
			}
			e.Bid.DateTime = nexmark.DefaultBaseTime + i/10
		}, datastream.GeneratorOptions{Count: n})
		ev := datastream.AssignTimestampsAndWatermarksRef(src, func(e *nexmark.Event) int64 { return e.Bid.DateTime }, datastream.ForMonotonousTimestamps())
		bids := datastream.FlatMapRef(ev, func(e *nexmark.Event, emit func(*nexmark.Bid)) {
			if e.Kind == nexmark.BidKind {
				emit(&e.Bid)
			}
		})
		datastream.Discard(bids)
		return func() error { _, err := env.Execute(context.Background(), "bench-source-chain"); return err }
	})
}

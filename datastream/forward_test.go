package datastream_test

import (
	"context"
	"testing"
	"time"

	"floe/config"
	"floe/datastream"
)

// Two inputs of one task fed by one upstream task over forward edges (a
// union of two streams of one source, as Nexmark q8's join has), with one
// message of queue and of credit per channel and a watermark on every
// 1 ms tick: the job must end. It hung when each forward edge's partition had
// a subpartition per consumer subtask while only its own consumer read one:
// events (watermarks, barriers) went into every subpartition and filled the
// unread ones, and the producer blocked forever (issue 17, item 0). A hang
// fails by the deadline.
func TestForwardEdgesIntoOneTaskWithWatermarks(t *testing.T) {
	const n = 200_000
	env := newEnv(2, config.Credits, "1", config.QueueCapacity, "1", config.BufferTimeout, "1ms")
	src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: n})
	timed := datastream.AssignTimestampsAndWatermarks(src, func(i int64) time.Time { return time.UnixMilli(i) },
		datastream.ForMonotonousTimestamps())
	odd := datastream.FlatMap(timed, func(i int64, emit func(int64)) {
		if i%2 == 1 {
			emit(i)
		}
	})
	even := datastream.FlatMap(timed, func(i int64, emit func(int64)) {
		if i%2 == 0 {
			emit(-i)
		}
	})
	out, _ := datastream.Collect(odd.Union(even))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := env.Execute(ctx, "forward-union"); err != nil {
		t.Fatalf("the job did not end (%v): a lost credit or wake-up, or a queue nobody reads", err)
	}
	if got := len(out.Items()); got != n {
		t.Fatalf("got %d records, want %d", got, n)
	}
}

package datastream_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"floe/config"
	"floe/datastream"
)

// side is a record of one of the joined test streams.
type side struct {
	K  int64
	ID int64
	At int64 // ms
}

func sideTime(s side) time.Time { return time.UnixMilli(s.At) }

const joinBase = 1_700_000_000_000

// Two out-of-order streams (up to 300 ms early, watermarks trail by 500 ms).
func genA(i int64) side { return side{K: i % 7, ID: i, At: joinBase + i*10 - (i*7919)%300} }
func genB(j int64) side { return side{K: j % 5, ID: j, At: joinBase + j*15 - (j*104729)%300} }

const nA, nB = 600, 400

func joinInputs(env *datastream.Environment) (datastream.KeyedStream[side, int64], datastream.KeyedStream[side, int64]) {
	key := func(s side) int64 { return s.K }
	a := datastream.AssignTimestamps(datastream.Generate(env, genA, datastream.GeneratorOptions{Count: nA}), sideTime, 500*time.Millisecond)
	b := datastream.AssignTimestamps(datastream.Generate(env, genB, datastream.GeneratorOptions{Count: nB}), sideTime, 500*time.Millisecond)
	return datastream.KeyBy(a, key), datastream.KeyBy(b, key)
}

// expectPairs is the plain-Go join: every (a, b) with equal keys for which match holds.
func expectPairs(match func(a, b side) bool) []string {
	var want []string
	for i := range int64(nA) {
		for j := range int64(nB) {
			if a, b := genA(i), genB(j); a.K == b.K && match(a, b) {
				want = append(want, fmt.Sprintf("%d-%d", a.ID, b.ID))
			}
		}
	}
	slices.Sort(want)
	return want
}

func runPairs(t *testing.T, env *datastream.Environment, s datastream.Stream[string]) []string {
	t.Helper()
	out, _ := datastream.Collect(s)
	if _, err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatal(err)
	}
	got := out.Items()
	slices.Sort(got)
	return got
}

func pair(a, b side, emit func(string)) { emit(fmt.Sprintf("%d-%d", a.ID, b.ID)) }

func TestIntervalJoin(t *testing.T) {
	env := newEnv(2)
	a, b := joinInputs(env)
	got := runPairs(t, env, datastream.IntervalJoin(a, b, sideTime, sideTime, -50*time.Millisecond, 100*time.Millisecond, pair))
	want := expectPairs(func(a, b side) bool { return b.At >= a.At-50 && b.At <= a.At+100 })
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("interval join: %d pairs, want %d (first differences: %v)", len(got), len(want), firstDiff(got, want))
	}
}

func TestWindowJoin(t *testing.T) {
	env := newEnv(2)
	a, b := joinInputs(env)
	got := runPairs(t, env, datastream.WindowJoin(a, b, datastream.TumblingEventTimeWindows(200*time.Millisecond), sideTime, sideTime, pair))
	want := expectPairs(func(a, b side) bool { return math.Floor(float64(a.At)/200) == math.Floor(float64(b.At)/200) })
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("window join: %d pairs, want %d (first differences: %v)", len(got), len(want), firstDiff(got, want))
	}
}

// CoProcess with keyed state shared by both inputs and an event-time timer
// that fires once the watermark of both inputs passes it.
func TestCoProcess(t *testing.T) {
	env := newEnv(2)
	a, b := joinInputs(env)
	countA := datastream.NewValueState[int64, int64]("a")
	countB := datastream.NewValueState[int64, int64]("b")
	bump := func(s datastream.ValueState[int64, int64], ctx *datastream.KeyedContext[int64]) {
		n, _ := s.Value(ctx)
		s.Update(ctx, n+1)
		ctx.RegisterEventTimeTimer(joinBase + 1_000_000) // after every record
	}
	res := datastream.CoProcess(datastream.Connect(a, b), datastream.CoProcessFunction[side, side, int64, string]{
		Process1: func(ctx *datastream.KeyedContext[int64], _ side, _ func(string)) { bump(countA, ctx) },
		Process2: func(ctx *datastream.KeyedContext[int64], _ side, _ func(string)) { bump(countB, ctx) },
		OnTimer: func(ctx *datastream.KeyedContext[int64], tm datastream.Timer, emit func(string)) {
			na, _ := countA.Value(ctx)
			nb, _ := countB.Value(ctx)
			emit(fmt.Sprintf("k%d a=%d b=%d at=%d", ctx.Key(), na, nb, tm.Time-joinBase))
		},
	}, countA, countB)
	got := runPairs(t, env, res)
	var want []string
	for k := range int64(7) {
		var na, nb int64
		for i := range int64(nA) {
			if genA(i).K == k {
				na++
			}
		}
		for j := range int64(nB) {
			if genB(j).K == k {
				nb++
			}
		}
		want = append(want, fmt.Sprintf("k%d a=%d b=%d at=1000000", k, na, nb))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("co-process:\n got %q\nwant %q", got, want)
	}
}

func firstDiff(got, want []string) []string {
	var d []string
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok && len(d) < 3 {
			d = append(d, "extra "+g)
		}
	}
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok && len(d) < 6 {
			d = append(d, "missing "+w)
		}
	}
	return d
}

// Late records through a real job at p=2: a window operator's late-data side
// output runs in its tasks and reaches a sink over the network; every record
// is counted once, in its window or as late, and each window's count is its
// records (plain Go) less those that went to the side output.
func TestLateDataSideOutput(t *testing.T) {
	const n = 4000
	// Most records are in order; every 50th is 3 s behind, beyond the 100 ms bound.
	gen := func(i int64) side {
		at := joinBase + i*5
		if i%50 == 49 {
			at -= 3000
		}
		return side{K: i % 3, ID: i, At: at}
	}
	env := newEnv(2, datastream.AutoWatermarkInterval, "10ms", config.BufferTimeout, "5ms")
	src := datastream.AssignTimestamps(datastream.Generate(env, gen, datastream.GeneratorOptions{Count: n, RatePerSecond: 20000}), sideTime, 100*time.Millisecond)
	lateTag := datastream.NewOutputTag[side]("late")
	counts := datastream.WindowAggregate(datastream.KeyBy(src, func(s side) int64 { return s.K }).
		Window(datastream.TumblingEventTimeWindows(time.Second), sideTime).SideOutputLateData(lateTag),
		datastream.AggregateFunction[side, int64, int64]{
			Create: func() int64 { return 0 },
			Add:    func(a int64, _ side) int64 { return a + 1 },
			Result: func(a int64) int64 { return a },
		})
	late := datastream.SideOutput(counts, lateTag).Rebalance()
	windows, _ := datastream.Collect(counts)
	lateOut, _ := datastream.Collect(late)
	if _, err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatal(err)
	}
	window := func(s side) string { return fmt.Sprintf("k%d@%d", s.K, (s.At-joinBase+10000)/1000) }
	want := map[string]int64{}
	for i := range int64(n) {
		want[window(gen(i))]++
	}
	lateIDs := map[int64]bool{}
	for _, s := range lateOut.Items() {
		if lateIDs[s.ID] {
			t.Fatalf("record %d sent to the side output twice", s.ID)
		}
		lateIDs[s.ID] = true
		if s.ID%50 != 49 {
			t.Fatalf("record %d, in order, went to the late side output", s.ID)
		}
		want[window(s)]--
	}
	if len(lateIDs) == 0 {
		t.Fatal("no record was late: the test does not exercise the side output")
	}
	got := map[string]int64{}
	for _, w := range windows.Items() {
		got[fmt.Sprintf("k%d@%d", w.Key, (w.Start-joinBase+10000)/1000)] += w.Value
	}
	for k, v := range want {
		if v == 0 {
			delete(want, k)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("windows less late records differ:\n got %v\nwant %v", got, want)
	}
	t.Logf("%d late records of %d", len(lateIDs), n)
}

// A keyed process function's side output: records it sets aside reach their
// own sink, the rest the main one.
func TestProcessSideOutput(t *testing.T) {
	env := newEnv(2)
	odd := datastream.NewOutputTag[int64]("odd")
	src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: 1000})
	evens := datastream.Process(datastream.KeyBy(src, func(i int64) int64 { return i % 10 }),
		func(ctx *datastream.KeyedContext[int64], v int64, emit func(int64)) {
			if v%2 == 1 {
				odd.Emit(ctx, v)
				return
			}
			emit(v)
		})
	main, _ := datastream.Collect(evens)
	side, _ := datastream.Collect(datastream.SideOutput(evens, odd))
	if _, err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatal(err)
	}
	var sumEven, sumOdd int64
	for _, v := range main.Items() {
		if v%2 != 0 {
			t.Fatalf("odd %d in the main output", v)
		}
		sumEven += v
	}
	for _, v := range side.Items() {
		if v%2 != 1 {
			t.Fatalf("even %d in the side output", v)
		}
		sumOdd += v
	}
	if len(main.Items()) != 500 || len(side.Items()) != 500 || sumEven != 249500 || sumOdd != 250000 {
		t.Fatalf("main %d records (sum %d), side %d (sum %d)", len(main.Items()), sumEven, len(side.Items()), sumOdd)
	}
}

// A processing-time timer fires when it is due, not at the task's next
// periodic tick: with a 10 s buffer timeout (the tick), a timer 20 ms ahead
// fires while the source still runs (it waits up to 5 s for the timer).
// Without the wake-up it would fire only at the end of input.
func TestProcessingTimeTimerFiresWhenDue(t *testing.T) {
	env := datastream.NewEnvironment(datastream.WithConfig(config.New(map[string]string{
		config.Parallelism: "1", config.BufferTimeout: "10s", config.BatchSize: "1"})))
	var fired, sourceDone atomic.Bool
	src := datastream.Generate(env, func(i int64) int64 {
		if i == 1 { // hold the input open until the timer fired
			for deadline := time.Now().Add(5 * time.Second); !fired.Load() && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			sourceDone.Store(true)
		}
		return i
	}, datastream.GeneratorOptions{Count: 2})
	type firing struct {
		Due, At      int64
		BeforeTheEnd bool
	}
	out := datastream.KeyedProcess(datastream.KeyBy(src, func(i int64) int64 { return 0 }),
		datastream.KeyedProcessFunction[int64, int64, firing]{
			ProcessElement: func(ctx *datastream.KeyedContext[int64], i int64, _ func(firing)) {
				if i == 0 {
					ctx.RegisterProcessingTimeTimer(ctx.ProcessingTime() + 20)
				}
			},
			OnTimer: func(ctx *datastream.KeyedContext[int64], tm datastream.Timer, emit func(firing)) {
				emit(firing{Due: tm.Time, At: ctx.ProcessingTime(), BeforeTheEnd: !sourceDone.Load()})
				fired.Store(true)
			},
		})
	got, _ := datastream.Collect(out)
	if _, err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatal(err)
	}
	fs := got.Items()
	if len(fs) != 1 {
		t.Fatalf("%d firings, want 1: %+v", len(fs), fs)
	}
	if f := fs[0]; !f.BeforeTheEnd || f.At < f.Due {
		t.Fatalf("timer due at %d fired at %d, before the end of input: %v", f.Due, f.At, f.BeforeTheEnd)
	}
}

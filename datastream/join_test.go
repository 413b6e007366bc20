package datastream_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

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

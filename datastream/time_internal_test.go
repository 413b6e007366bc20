package datastream

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/state"
)

type rec struct {
	Key string
	At  int64 // ms
	N   int64
}

func recTime(r rec) time.Time { return time.UnixMilli(r.At) }

type recorder[T any] struct {
	items  []T
	events []network.Event
}

func (r *recorder[T]) Collect(v T)          { r.items = append(r.items, v) }
func (r *recorder[T]) Emit(e network.Event) { r.events = append(r.events, e) }

// backends are the state backends the operator tests run against: one
// suite, every backend.
var backends = []string{"hashmap", "pebble"}

// build makes the operator of st's node for subtask 0 of 1, with recorders
// as its main output and as the side outputs named in sides.
func build[IN, OUT any](t *testing.T, st Stream[OUT], sides map[string]any) (network.Output[IN], *recorder[OUT]) {
	t.Helper()
	return buildOn[IN](t, "hashmap", st, sides)
}

// buildOn is build on the state backend called kind (state.backend.type);
// the operator is closed when the test ends.
func buildOn[IN, OUT any](t *testing.T, kind string, st Stream[OUT], sides map[string]any) (network.Output[IN], *recorder[OUT]) {
	t.Helper()
	out := &recorder[OUT]{}
	cfg := config.New(map[string]string{config.StateBackend: kind, config.TmpDirs: t.TempDir()})
	info := operator.TaskInfo{Name: st.n.name, Parallelism: 1, MaxParallelism: 8, SideOutputs: sides, Config: cfg}
	in, closeOp, err := st.n.build(info, network.Output[OUT](out))
	if err != nil {
		t.Fatal(err)
	}
	if closeOp != nil {
		t.Cleanup(func() {
			if err := closeOp(); err != nil {
				t.Error(err)
			}
		})
	}
	return in.(network.Output[IN]), out
}

// step is a record, or a watermark (ev nil), or, with clock set, a move of
// the processing-time clock followed by a tick.
type step struct {
	ev    *rec
	wm    int64
	clock int64
}

func r(k string, at int64) step { return step{ev: &rec{Key: k, At: at, N: 1}} }
func wm(t int64) step           { return step{wm: t} }
func clock(t int64) step        { return step{clock: t} }

func run(t *testing.T, in network.Output[rec], now *int64, steps []step) {
	t.Helper()
	for _, s := range steps {
		switch {
		case s.ev != nil:
			in.Collect(*s.ev)
		case s.clock != 0:
			*now = s.clock
			in.(operator.Ticker).Tick()
		default:
			in.Emit(network.Event{Kind: network.Watermark, Value: s.wm})
		}
	}
}

func setClock[K comparable](t *testing.T, op any, now *int64) {
	t.Helper()
	type timed interface{ timerService() *timers[K] }
	op.(timed).timerService().now = func() int64 { return *now }
}

func (p *keyedOp[K, U]) timerService() *timers[K] { return p.ctx.timers }

func windowsOf(items []Window[string, rec]) []string {
	var got []string
	for _, f := range items {
		got = append(got, fmt.Sprintf("%s %d-%d %d", f.Key, f.Start, f.End, f.Value.N))
	}
	return got
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got) // windows of equal end fire in any key order
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s %q, want %q", what, got, want)
	}
}

// Records and watermarks in; fired windows and late records (to the side
// output) out; then the end of input fires what is left and empties state.
func TestWindowFiring(t *testing.T) {
	sum := func(a, b rec) rec { a.N += b.N; return a }
	for _, tc := range []struct {
		name     string
		windows  Windows
		lateness time.Duration
		steps    []step
		fired    []string // "key start-end n"
		late     []int64  // times of the records sent to the side output
		atEnd    []string // fired by the end of input
	}{
		{name: "tumbling in order", windows: TumblingEventTimeWindows(10 * time.Millisecond),
			steps: []step{r("a", 1), r("a", 5), r("b", 9), wm(9), r("a", 12), wm(19)},
			fired: []string{"a 0-10 2", "b 0-10 1", "a 10-20 1"}},
		{name: "tumbling out of order within the watermark", windows: TumblingEventTimeWindows(10 * time.Millisecond),
			steps: []step{r("a", 15), r("a", 3), r("a", 12), wm(9), r("a", 11), wm(25)},
			fired: []string{"a 0-10 1", "a 10-20 3"}},
		{name: "late records go to the side output", windows: TumblingEventTimeWindows(10 * time.Millisecond),
			steps: []step{r("a", 15), wm(14), r("a", 3), r("a", 14), r("a", 16), wm(30)},
			fired: []string{"a 10-20 3"}, late: []int64{3}}, // 14 is still in time for [10,20)
		{name: "negative times", windows: TumblingEventTimeWindows(10 * time.Millisecond),
			steps: []step{r("a", -5), r("a", -1), wm(-1), r("a", 0)},
			fired: []string{"a -10-0 2"}, atEnd: []string{"a 0-10 1"}},
		{name: "nothing fires early", windows: TumblingEventTimeWindows(10 * time.Millisecond),
			steps: []step{r("a", 5), wm(8)}, atEnd: []string{"a 0-10 1"}},
		{name: "sliding", windows: SlidingEventTimeWindows(10*time.Millisecond, 5*time.Millisecond),
			// 3 is in [-5,5) and [0,10); 7 in [0,10) and [5,15); 12 in [5,15) and [10,20).
			steps: []step{r("a", 3), r("a", 7), r("a", 12), wm(9)},
			fired: []string{"a -5-5 1", "a 0-10 2"}, atEnd: []string{"a 5-15 2", "a 10-20 1"}},
		{name: "sliding: a record late for one of its windows only", windows: SlidingEventTimeWindows(10*time.Millisecond, 5*time.Millisecond),
			steps: []step{r("a", 1), wm(10), r("a", 7), wm(20)},
			fired: []string{"a -5-5 1", "a 0-10 1", "a 5-15 1"}},
		{name: "allowed lateness fires again, then drops", windows: TumblingEventTimeWindows(10 * time.Millisecond), lateness: 5 * time.Millisecond,
			steps: []step{r("a", 1), wm(9), r("a", 2), wm(13), r("a", 3), wm(14), r("a", 4)},
			// fired at 9 with 1, again at the late record 2 with 2; purged at 14, so 4 is too late.
			fired: []string{"a 0-10 1", "a 0-10 2", "a 0-10 3"}, late: []int64{4}},
		{name: "sessions merge", windows: EventTimeSessionWindows(10 * time.Millisecond),
			// [1,11) and [18,28) are apart; 9 spans [9,19) and bridges them.
			steps: []step{r("a", 1), r("a", 18), r("b", 5), r("a", 9), wm(26), r("a", 30), wm(40)},
			fired: []string{"b 5-15 1", "a 1-28 3", "a 30-40 1"}},
		{name: "sessions: the gap is exclusive", windows: EventTimeSessionWindows(10 * time.Millisecond),
			steps: []step{r("a", 0), r("a", 10), r("a", 19), wm(100)},
			fired: []string{"a 0-10 1", "a 10-29 2"}},
		{name: "sessions: a record behind the watermark joins an open session", windows: EventTimeSessionWindows(10 * time.Millisecond),
			// 1's own span [1,11) is behind the watermark 12, but it falls in
			// the open session [0,18); after that session fired, 3 is late.
			steps: []step{r("a", 0), r("a", 8), wm(12), r("a", 1), wm(20), r("a", 3)},
			fired: []string{"a 0-18 3"}, late: []int64{3}},
		{name: "sessions: a late record merges into a fired session within lateness", windows: EventTimeSessionWindows(10 * time.Millisecond), lateness: 20 * time.Millisecond,
			steps: []step{r("a", 0), wm(15), r("a", 8), wm(40)},
			fired: []string{"a 0-10 1", "a 0-18 2"}},
	} {
		for _, kind := range backends {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				lateTag := NewOutputTag[rec]("late")
				env := NewEnvironment()
				src := FromSlice(env, []rec{})
				ws := KeyBy(src, func(r rec) string { return r.Key }).Window(tc.windows, recTime).AllowedLateness(tc.lateness).SideOutputLateData(lateTag)
				lateOut := &recorder[rec]{}
				in, out := buildOn[rec](t, kind, ws.Reduce(sum), map[string]any{"late": network.Output[rec](lateOut)})
				if len(env.errs) > 0 {
					t.Fatal(env.errs)
				}
				var now int64
				run(t, in, &now, tc.steps)
				sameSet(t, "fired", windowsOf(out.items), tc.fired)
				var late []int64
				for _, l := range lateOut.items {
					late = append(late, l.At)
				}
				if !slices.Equal(late, tc.late) {
					t.Fatalf("late %v, want %v", late, tc.late)
				}
				n := len(out.items)
				in.Emit(network.Event{Kind: network.EndOfInput})
				sameSet(t, "fired at the end", windowsOf(out.items[n:]), tc.atEnd)
				op := in.(*windowOp[rec, string, rec, Window[string, rec]])
				if op.tab.Len() != 0 || op.ctx.timers.tab.Len() != 0 {
					t.Fatalf("%d keys with windows and %d with timers left after the end of input", op.tab.Len(), op.ctx.timers.tab.Len())
				}
			})
		}
	}
}

func TestProcessingTimeWindows(t *testing.T) {
	env := NewEnvironment()
	src := FromSlice(env, []rec{})
	count := AggregateFunction[rec, int64, int64]{
		Create: func() int64 { return 0 },
		Add:    func(a int64, _ rec) int64 { return a + 1 },
		Result: func(a int64) int64 { return a },
		Merge:  func(a, b int64) int64 { return a + b },
	}
	for _, tc := range []struct {
		name    string
		windows Windows
		steps   []step
		fired   []string
	}{
		{"tumbling", TumblingProcessingTimeWindows(10 * time.Millisecond),
			[]step{clock(1001), r("a", 0), r("b", 0), clock(1005), r("a", 0), clock(1009), clock(1010), r("a", 0), clock(1020)},
			[]string{"a 1000-1010 2", "b 1000-1010 1", "a 1010-1020 1"}},
		{"sessions", ProcessingTimeSessionWindows(10 * time.Millisecond),
			[]step{clock(1000), r("a", 0), clock(1008), r("a", 0), clock(1017), r("b", 0), clock(1018), clock(1030)},
			[]string{"a 1000-1018 2", "b 1017-1027 1"}},
		{"watermarks do not fire them", TumblingProcessingTimeWindows(10 * time.Millisecond),
			[]step{clock(1001), r("a", 0), wm(5000), clock(1005)}, nil},
	} {
		for _, kind := range backends {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				st := WindowAggregate(KeyBy(src, func(r rec) string { return r.Key }).Window(tc.windows, nil), count)
				in, out := buildOn[rec](t, kind, st, nil)
				var now int64
				setClock[string](t, in, &now)
				run(t, in, &now, tc.steps)
				var got []string
				for _, f := range out.items {
					got = append(got, fmt.Sprintf("%s %d-%d %d", f.Key, f.Start, f.End, f.Value))
				}
				sameSet(t, "fired", got, tc.fired)
			})
		}
	}
}

func TestWindowProcessAndWindowAll(t *testing.T) {
	env := NewEnvironment()
	src := FromSlice(env, []rec{})
	st := WindowProcess(WindowAll(src, TumblingEventTimeWindows(10*time.Millisecond), recTime),
		func(ctx *WindowContext[NoKey], elems []rec, emit func(string)) {
			var keys []string
			for _, e := range elems {
				keys = append(keys, e.Key)
			}
			slices.Sort(keys)
			emit(fmt.Sprintf("%d-%d %v", ctx.Window().Start, ctx.Window().End, keys))
		})
	if st.Parallelism() != 1 {
		t.Fatalf("WindowAll runs at parallelism %d, want 1", st.Parallelism())
	}
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			in, out := buildOn[rec](t, kind, st, nil)
			var now int64
			run(t, in, &now, []step{r("b", 3), r("a", 4), r("c", 12), wm(10)})
			in.Emit(network.Event{Kind: network.EndOfInput})
			want := []string{"0-10 [a b]", "10-20 [c]"}
			if !slices.Equal(out.items, want) {
				t.Fatalf("got %q, want %q", out.items, want)
			}
		})
	}
}

// Timers are keyed state: registered before a snapshot, they fire after a
// restore into a new operator, each for its own key, in time order.
func TestTimersAcrossRestore(t *testing.T) {
	env := NewEnvironment()
	src := FromSlice(env, []rec{})
	st := KeyedProcess(KeyBy(src, func(r rec) string { return r.Key }), KeyedProcessFunction[rec, string, string]{
		ProcessElement: func(ctx *KeyedContext[string], v rec, _ func(string)) {
			ctx.RegisterEventTimeTimer(v.At + 10)
			ctx.RegisterProcessingTimeTimer(v.At + 1000)
			if v.N < 0 {
				ctx.DeleteEventTimeTimer(v.At + 10)
			}
		},
		OnTimer: func(ctx *KeyedContext[string], tm Timer, emit func(string)) {
			emit(fmt.Sprintf("%s@%d proc=%v", ctx.Key(), tm.Time, tm.ProcessingTime))
		},
	})
	for _, from := range backends {
		for _, to := range backends {
			t.Run(from+"->"+to, func(t *testing.T) { timersAcrossRestore(t, st, from, to) })
		}
	}
}

func timersAcrossRestore(t *testing.T, st Stream[string], from, to string) {
	in1, out1 := buildOn[rec](t, from, st, nil)
	var now int64 = 1
	setClock[string](t, in1, &now)
	run(t, in1, &now, []step{r("a", 5), r("b", 1), r("a", 5), {ev: &rec{Key: "c", At: 2, N: -1}}, wm(11)})
	if want := []string{"b@11 proc=false"}; !slices.Equal(out1.items, want) {
		t.Fatalf("before the snapshot: %q, want %q", out1.items, want)
	}
	snap, err := in1.(operator.Snapshotter).SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	run(t, in1, &now, []step{r("d", 1)}) // after the snapshot: not in it
	blocks := writeSnapshot(t, snap)

	in2, out2 := buildOn[rec](t, to, st, nil)
	setClock[string](t, in2, &now)
	if err := in2.(operator.Snapshotter).RestoreState(operator.OperatorState{KeyGroupStart: snap.KeyGroupStart, KeyGroups: blocks}); err != nil {
		t.Fatal(err)
	}
	run(t, in2, &now, []step{wm(14), wm(20), clock(1003), clock(1010)})
	want := []string{"a@15 proc=false", "b@1001 proc=true", "c@1002 proc=true", "a@1005 proc=true"}
	if !slices.Equal(out2.items, want) {
		t.Fatalf("after the restore: %q, want %q", out2.items, want)
	}
}

// writeSnapshot writes a taken snapshot's key groups out, as an upload
// does, and releases it.
func writeSnapshot(t *testing.T, snap operator.OperatorState) [][]byte {
	t.Helper()
	var blocks [][]byte
	err := snap.WriteKeyGroups(func(blk []byte) error { blocks = append(blocks, bytes.Clone(blk)); return nil })
	if snap.Release != nil {
		if rerr := snap.Release(); err == nil {
			err = rerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// Scripted: records and ticks (with a clock) in; watermarks and idleness
// out. The same script for the timestamp by value and through a pointer
// (AssignTimestampsAndWatermarksRef, its records by value and by pointer).
func TestWatermarkGenerator(t *testing.T) {
	strategy := ForBoundedOutOfOrderness(5 * time.Millisecond).WithIdleness(time.Second).WithInterval(100 * time.Millisecond)
	for _, ref := range []bool{false, true} {
		t.Run(fmt.Sprint("ref=", ref), func(t *testing.T) {
			env := NewEnvironment()
			st := AssignTimestampsAndWatermarks(FromSlice(env, []rec{}), recTime, strategy)
			if ref {
				st = AssignTimestampsAndWatermarksRef(FromSlice(env, []rec{}), func(r *rec) int64 { return r.At }, strategy)
			}
			testWatermarkGenerator(t, st, ref)
		})
	}
}

func testWatermarkGenerator(t *testing.T, st Stream[rec], ref bool) {
	in, out := build[rec](t, st, nil)
	w := in.(*watermarker[rec])
	clk := time.Unix(1000, 0)
	w.now = func() time.Time { return clk }
	w.lastRecord = clk
	var got []string
	tick := func(after time.Duration) {
		clk = clk.Add(after)
		w.Tick()
	}
	n := 0
	collect := func(at int64) {
		if n++; ref && n%2 == 0 {
			w.CollectPtr(&rec{Key: "a", At: at})
		} else {
			w.Collect(rec{Key: "a", At: at})
		}
	}
	emit := func() {
		for _, e := range out.events {
			got = append(got, fmt.Sprintf("%s %d", e.Kind, e.Value))
		}
		out.events = nil
	}
	tick(50 * time.Millisecond) // nothing seen yet: no watermark
	collect(100)
	collect(90)
	tick(100 * time.Millisecond) // 100 - 5 - 1
	collect(120)
	tick(50 * time.Millisecond) // within the interval: nothing
	tick(50 * time.Millisecond) // 120 - 5 - 1
	tick(500 * time.Millisecond)
	tick(600 * time.Millisecond)                             // over a second without records: idle
	tick(time.Second)                                        // once
	collect(121)                                             // active again before the record
	w.Emit(network.Event{Kind: network.Watermark, Value: 5}) // upstream watermarks are replaced
	w.Emit(network.Event{Kind: network.EndOfInput})
	emit()
	want := []string{"WATERMARK 94", "WATERMARK 114", "WATERMARK_STATUS 1", "WATERMARK_STATUS 0",
		fmt.Sprintf("WATERMARK %d", int64(math.MaxInt64)), "END_OF_PARTITION 0"}
	if !slices.Equal(got, want) {
		t.Fatalf("emitted %q, want %q", got, want)
	}
	if len(out.items) != 4 || out.items[2].At != 120 {
		t.Fatalf("records passed: %+v, want the four collected", out.items)
	}
}

func TestTimerHeapOrder(t *testing.T) {
	var h timerHeap[int]
	var want []int64
	x := int64(7)
	for i := range 500 {
		x = (x*48271 + 11) % 2147483647
		h.push(heapTimer[int]{t: x % 1000, key: i})
		want = append(want, x%1000)
	}
	slices.Sort(want)
	var got []int64
	for h.Len() > 0 {
		got = append(got, h.pop().t)
	}
	if !slices.Equal(got, want) {
		t.Fatal("the timer heap pops out of order")
	}
	h = timerHeap[int]{{t: 5}, {t: 3}, {t: 9}, {t: 1}}
	h.init()
	if h.pop().t != 1 || h.pop().t != 3 {
		t.Fatal("init does not make a heap")
	}
}

// A keyed context finds each state table once in the backend and then in
// its own list; a name used with another type still fails.
func TestKeyedContextTableCache(t *testing.T) {
	b, err := state.NewBackend[int64](8)
	if err != nil {
		t.Fatal(err)
	}
	c := &KeyedContext[int64]{backend: b}
	a1 := table[int64, int64](c, "a")
	bt := table[int64, []string](c, "b")
	if a2 := table[int64, int64](c, "a"); a2 != a1 {
		t.Fatal("the same state gave two tables")
	}
	if want, _ := state.Value[int64, []string](b, "b"); want != bt {
		t.Fatal("the cached table is not the backend's")
	}
	if len(c.tables) != 2 {
		t.Fatalf("%d cached tables, want 2", len(c.tables))
	}
	defer func() {
		if recover() == nil {
			t.Fatal("state \"a\" used with another type did not panic")
		}
	}()
	table[int64, string](c, "a")
}

// BenchmarkValueState reads and updates three value states of one key, as
// a keyed process function does per record.
func BenchmarkValueState(b *testing.B) {
	be, err := state.NewBackend[int64](128)
	if err != nil {
		b.Fatal(err)
	}
	x, y, z := NewValueState[int64, int64]("x"), NewValueState[int64, int64]("y"), NewValueState[int64, int64]("z")
	for _, s := range []StateDescriptor[int64]{x, y, z} {
		if err := s.declare(be); err != nil {
			b.Fatal(err)
		}
	}
	c := &KeyedContext[int64]{backend: be}
	var i int64
	for b.Loop() {
		c.key = i & 1023
		i++
		v, _ := x.Value(c)
		w, _ := y.Value(c)
		x.Update(c, v+1)
		z.Update(c, v+w)
	}
}

// BenchmarkValueStateBackends is BenchmarkValueState on each backend (1024
// keys, all in pebble's memtable: the cost of the store's path, not of disk).
func BenchmarkValueStateBackends(b *testing.B) {
	for _, kind := range backends {
		b.Run(kind, func(b *testing.B) {
			var opts []state.Option
			if kind == "pebble" {
				opts = append(opts, state.WithLSM(b.TempDir()))
			}
			be, err := state.NewBackend[int64](128, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			x, y, z := NewValueState[int64, int64]("x"), NewValueState[int64, int64]("y"), NewValueState[int64, int64]("z")
			for _, s := range []StateDescriptor[int64]{x, y, z} {
				if err := s.declare(be); err != nil {
					b.Fatal(err)
				}
			}
			c := &KeyedContext[int64]{backend: be}
			var i int64
			for b.Loop() {
				c.key = i & 1023
				i++
				v, _ := x.Value(c)
				w, _ := y.Value(c)
				x.Update(c, v+1)
				z.Update(c, v+w)
			}
		})
	}
}

// Windows open at a snapshot fire after a restore into a new operator, once
// each, on every pair of backends: their timers, derived from the windows in
// state, are set again. A checkpoint of a version that kept each window's
// timer in keyed state restores the same way (its timer lists are dropped;
// fired as well, they would find their windows gone). Sessions merge before
// and after the snapshot, leaving the timers of the sessions merged away due
// at times when no session ends.
func TestWindowsAcrossRestore(t *testing.T) {
	for _, tc := range []struct {
		name          string
		windows       Windows
		before, after []step
		// fired before the snapshot, and after the restore
		want1, want2 []string
	}{
		{name: "sliding", windows: SlidingEventTimeWindows(10*time.Millisecond, 5*time.Millisecond),
			before: []step{r("a", 3), r("b", 7), r("a", 12), wm(9)},
			after:  []step{r("b", 16), wm(30)},
			want1:  []string{"a -5-5 1", "a 0-10 1", "b 0-10 1"},
			want2:  []string{"a 10-20 1", "a 5-15 1", "b 10-20 1", "b 15-25 1", "b 5-15 1"}},
		{name: "sessions", windows: EventTimeSessionWindows(10 * time.Millisecond),
			before: []step{r("a", 1), r("a", 5), r("b", 2), r("c", 1), wm(11), r("a", 14), r("a", 8)},
			after:  []step{r("a", 20), r("b", 40), wm(29), r("a", 31), wm(60)},
			want1:  []string{"b 2-12 1", "c 1-11 1"},
			want2:  []string{"a 1-30 5", "a 31-41 1", "b 40-50 1"}},
	} {
		build := func() Stream[Window[string, rec]] {
			env := NewEnvironment()
			src := FromSlice(env, []rec{})
			return KeyBy(src, func(r rec) string { return r.Key }).Window(tc.windows, recTime).
				Reduce(func(a, b rec) rec { a.N += b.N; return a })
		}
		for _, derivedBefore := range []bool{true, false} {
			for _, from := range backends {
				for _, to := range backends {
					t.Run(fmt.Sprintf("%s/derived=%v/%s->%s", tc.name, derivedBefore, from, to), func(t *testing.T) {
						deriveWindowTimers = derivedBefore
						in1, out1 := buildOn[rec](t, from, build(), nil)
						deriveWindowTimers = true
						var now int64 = 1
						run(t, in1, &now, tc.before)
						if got := showWindows(out1.items); !slices.Equal(got, tc.want1) {
							t.Fatalf("before the snapshot: %q, want %q", got, tc.want1)
						}
						snap, err := in1.(operator.Snapshotter).SnapshotState(1)
						if err != nil {
							t.Fatal(err)
						}
						blocks := writeSnapshot(t, snap)
						in2, out2 := buildOn[rec](t, to, build(), nil)
						if err := in2.(operator.Snapshotter).RestoreState(operator.OperatorState{KeyGroupStart: snap.KeyGroupStart, KeyGroups: blocks}); err != nil {
							t.Fatal(err)
						}
						run(t, in2, &now, tc.after)
						if got := showWindows(out2.items); !slices.Equal(got, tc.want2) {
							t.Fatalf("after the restore: %q, want %q", got, tc.want2)
						}
					})
				}
			}
		}
	}
}

// showWindows is each fired window as "key start-end count", sorted.
func showWindows(items []Window[string, rec]) []string {
	var s []string
	for _, w := range items {
		s = append(s, fmt.Sprintf("%s %d-%d %d", w.Key, w.Start, w.End, w.Value.N))
	}
	slices.Sort(s)
	return s
}

package datastream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"floe/client"
	"floe/config"
	"floe/datastream"
	"floe/internal/jobgraph"
)

func TestMain(m *testing.M) {
	// The process's shared HDFS client (fsys, integration tests) renews its
	// leases until the process ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/colinmarc/hdfs/v2/internal/rpc.(*NamenodeConnection).renewLeases"))
}

type event struct {
	Key   string
	Value int64
	Tags  []string
	At    time.Time
}

func newEnv(p int, kv ...string) *datastream.Environment {
	m := map[string]string{config.Parallelism: fmt.Sprint(p), config.BatchSize: "100", "restart-strategy.type": "none"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return datastream.NewEnvironment(datastream.WithConfig(config.New(m)))
}

func gen(i int64) event {
	return event{Key: fmt.Sprintf("k%d", i%37), Value: i, Tags: []string{"t", fmt.Sprint(i % 5)}, At: time.UnixMilli(i).UTC()}
}

// keyedSum builds generator -> map -> filter -> keyBy -> sum -> collect.
func keyedSum(env *datastream.Environment, n int64) *datastream.Collector[event] {
	src := datastream.Generate(env, gen, datastream.GeneratorOptions{Count: n})
	doubled := datastream.Map(src, func(e event) event { e.Value *= 2; return e })
	kept := doubled.Filter(func(e event) bool { return e.Value%3 != 0 })
	sums := datastream.Sum(datastream.KeyBy(kept, func(e event) string { return e.Key }),
		func(e *event) *int64 { return &e.Value })
	out, _ := datastream.Collect(sums)
	return out
}

// expectedSums computes the rolling sums of keyedSum independently.
func expectedSums(n int64) (final map[string]int64, updates int) {
	final = map[string]int64{}
	for i := range n {
		e := gen(i)
		v := e.Value * 2
		if v%3 == 0 {
			continue
		}
		final[e.Key] += v
		updates++
	}
	return final, updates
}

func TestKeyedSumAtSeveralParallelisms(t *testing.T) {
	const n = 20000
	wantFinal, wantUpdates := expectedSums(n)
	for _, p := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(p)
			out := keyedSum(env, n)
			res, err := env.Execute(context.Background(), "keyed-sum")
			if err != nil {
				t.Fatal(err)
			}
			items := out.Items()
			if len(items) != wantUpdates {
				t.Fatalf("got %d updates, want %d", len(items), wantUpdates)
			}
			// Per key, updates arrive in order, so the last one seen is the
			// largest (values are positive) and equals the independent sum.
			got := map[string]int64{}
			for _, e := range items {
				if e.Value <= got[e.Key] {
					t.Fatalf("key %s: sum went from %d to %d", e.Key, got[e.Key], e.Value)
				}
				got[e.Key] = e.Value
				if len(e.Tags) != 2 || e.Tags[0] != "t" {
					t.Fatalf("tags lost: %+v", e)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(wantFinal) {
				t.Fatalf("sums differ:\n got %v\nwant %v", got, wantFinal)
			}
			if res.Status != "FINISHED" {
				t.Fatalf("status %s", res.Status)
			}
		})
	}
}

func TestChaining(t *testing.T) {
	env := newEnv(2)
	keyedSum(env, 10)
	g, err := datastream.JobGraph(env, "chain")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range g.Vertices {
		names = append(names, fmt.Sprintf("%s p%d", v.Name, v.Parallelism))
	}
	want := []string{"Source: Generator -> Map -> Filter p2", "Sum -> Sink: Collect p2"}
	if !slices.Equal(names, want) {
		t.Fatalf("vertices %q, want %q", names, want)
	}
	if e := g.Vertices[1].Inputs[0]; e.Partitioning != jobgraph.Hash {
		t.Fatalf("keyBy edge is %s", e.Partitioning)
	}
	// The Sum keeps keyed state, its chained sink and the source none: it
	// has its slot's managed memory to itself.
	if ops := g.Vertices[1].Operators; !ops[0].KeyedState || ops[1].KeyedState || g.Vertices[0].Operators[0].KeyedState {
		t.Fatalf("keyed state marked on %+v and %+v", g.Vertices[0].Operators, ops)
	}
	if n := g.StateOperatorsInSlot(0, 1); n != 1 {
		t.Fatalf("%d keyed-state operators in slot 1, want 1", n)
	}

	// A different parallelism breaks the chain and rebalances.
	env = newEnv(2)
	src := datastream.FromSlice(env, []int64{1, 2, 3})
	datastream.Collect(datastream.Map(src, func(v int64) int64 { return v }))
	g, err = datastream.JobGraph(env, "rebalance")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Vertices) != 2 || g.Vertices[1].Inputs[0].Partitioning != jobgraph.Rebalance {
		t.Fatalf("got %s", g.Describe())
	}
}

func TestUnionRebalanceBatchReduce(t *testing.T) {
	for _, p := range []int{1, 3} {
		env := newEnv(p)
		a := datastream.FromSlice(env, []string{"x y", "y z"})
		b := datastream.Generate(env, func(i int64) string { return fmt.Sprintf("w%d x", i%4) }, datastream.GeneratorOptions{Count: 100})
		words := datastream.FlatMap(a.Union(b).Rebalance(), func(s string, emit func(string)) {
			for _, w := range strings.Fields(s) {
				emit(w)
			}
		})
		type wc struct {
			W string
			N int
		}
		env.SetRuntimeMode(datastream.Batch)
		counts := datastream.Sum(datastream.KeyBy(datastream.Map(words, func(w string) wc { return wc{w, 1} }),
			func(c wc) string { return c.W }), func(c *wc) *int { return &c.N })
		out, _ := datastream.Collect(counts)
		if _, err := env.Execute(context.Background(), "union"); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, c := range out.Items() {
			if _, dup := got[c.W]; dup {
				t.Fatalf("p=%d: batch reduce emitted %q twice", p, c.W)
			}
			got[c.W] = c.N
		}
		want := map[string]int{"x": 101, "y": 2, "z": 1, "w0": 25, "w1": 25, "w2": 25, "w3": 25}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("p=%d: got %v want %v", p, got, want)
		}
	}
}

// TestUserPanicFailsTheJob panics in the user function of one operator of
// a chain (after a rebalance, or chained to the source, or in the source
// itself, or downstream of a keyed operator) and checks that the job fails
// naming that operator, its subtask and the panic, not a neighbour's.
func TestUserPanicFailsTheJob(t *testing.T) {
	boom := func(v int64) {
		if v == 500 {
			panic("bad record 500")
		}
	}
	for _, tc := range []struct {
		name  string
		build func(env *datastream.Environment)
	}{
		{"after a rebalance", func(env *datastream.Environment) {
			src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: 1000})
			datastream.Collect(datastream.Map(src.Rebalance(), func(v int64) int64 { boom(v); return v }).Name("Explode"))
		}},
		{"chained, after a map", func(env *datastream.Environment) {
			src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: 1000})
			m := datastream.Map(src, func(v int64) int64 { return v }).Name("Fine")
			kept := m.Filter(func(v int64) bool { boom(v); return true }).Name("Explode")
			datastream.Collect(datastream.Map(kept, func(v int64) int64 { return v }).Name("Fine too"))
		}},
		{"in a FlatMapRef", func(env *datastream.Environment) {
			src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: 1000})
			ts := datastream.AssignTimestampsAndWatermarksRef(src, func(v *int64) int64 { return *v }, datastream.ForMonotonousTimestamps()).Name("Fine")
			datastream.Collect(datastream.FlatMapRef(ts, func(v *int64, emit func(*int64)) { boom(*v); emit(v) }).Name("Explode"))
		}},
		{"in the timestamps", func(env *datastream.Environment) {
			src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: 1000})
			ts := datastream.AssignTimestampsAndWatermarksRef(src, func(v *int64) int64 { boom(*v); return *v }, datastream.ForMonotonousTimestamps()).Name("Explode")
			datastream.Collect(datastream.Map(ts, func(v int64) int64 { return v }).Name("Fine"))
		}},
		{"in the source", func(env *datastream.Environment) {
			src := datastream.Generate(env, func(i int64) int64 { boom(i); return i }, datastream.GeneratorOptions{Count: 1000}).Name("Explode")
			datastream.Collect(datastream.Map(src, func(v int64) int64 { return v }).Name("Fine"))
		}},
		{"after a keyed operator", func(env *datastream.Environment) {
			src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: 1000})
			sums := datastream.KeyBy(src, func(v int64) int64 { return v % 7 }).Reduce(func(a, b int64) int64 { return b }).Name("Fine")
			datastream.Collect(datastream.Map(sums, func(v int64) int64 { boom(v); return v }).Name("Explode"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(2)
			tc.build(env)
			_, err := env.Execute(context.Background(), "panic")
			if !errors.Is(err, client.ErrJobFailed) {
				t.Fatalf("err = %v", err)
			}
			msg := err.Error()
			for _, want := range []string{`"Explode"`, "bad record 500", "subtask"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, "Fine") || strings.Contains(msg, "subtask -1") {
				t.Errorf("error %q names another operator than the one that panicked", msg)
			}
		})
	}
}

func TestUnsupportedTypeFailsBeforeRunning(t *testing.T) {
	type withMap struct{ M map[string]int }
	env := newEnv(2)
	src := datastream.Generate(env, func(i int64) withMap { return withMap{} }, datastream.GeneratorOptions{Count: 10})
	datastream.Collect(src.Rebalance())
	_, err := env.Execute(context.Background(), "bad-type")
	if !errors.Is(err, datastream.ErrInvalidJob) || !strings.Contains(err.Error(), "map[string]int") {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelUnboundedJob(t *testing.T) {
	env := newEnv(2)
	src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{})
	datastream.Collect(datastream.Map(src, func(v int64) int64 { return v + 1 }).Rebalance())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	_, err := env.Execute(ctx, "unbounded")
	if !errors.Is(err, client.ErrJobCanceled) {
		t.Fatalf("err = %v", err)
	}
}

// A job whose operator fails once restarts from the beginning and then
// finishes; one that always fails uses up its attempts and fails with the cause.
func TestRestartStrategy(t *testing.T) {
	var failures atomic.Int32
	for _, tc := range []struct {
		name     string
		failOnce bool
		wantErr  bool
	}{{"recovers", true, false}, {"gives up", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			failures.Store(0)
			env := newEnv(2, "restart-strategy.type", "fixed-delay", "restart-strategy.fixed-delay.attempts", "2",
				"restart-strategy.fixed-delay.delay", "10ms")
			src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: 1000})
			m := datastream.Map(src.Rebalance(), func(v int64) int64 {
				if v == 700 && (!tc.failOnce || failures.Add(1) == 1) {
					panic("flaky")
				}
				return v
			})
			out, _ := datastream.Collect(m)
			_, err := env.Execute(context.Background(), "restart")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				if !strings.Contains(err.Error(), "flaky") {
					t.Fatalf("cause lost: %v", err)
				}
				return
			}
			// The collect sink publishes at the end of input only, so the
			// output is that of the successful attempt.
			if got := len(out.Items()); got != 1000 {
				t.Fatalf("got %d records after restart, want 1000", got)
			}
		})
	}
}

func TestMissingSinkAndBadParallelism(t *testing.T) {
	env := newEnv(2)
	datastream.Map(datastream.FromSlice(env, []int{1}), func(v int) int { return v })
	if _, err := env.Execute(context.Background(), "dangling"); !errors.Is(err, datastream.ErrInvalidJob) {
		t.Fatalf("dangling: %v", err)
	}
	env = newEnv(2)
	datastream.Collect(datastream.FromSlice(env, []int{1}).SetParallelism(0))
	if _, err := env.Execute(context.Background(), "p0"); !errors.Is(err, datastream.ErrInvalidJob) {
		t.Fatalf("p0: %v", err)
	}
}

// Event-time tumbling windows over a network shuffle at parallelism 2:
// records arrive out of order (within the bound), watermarks travel in-band
// (min over inputs), and every window's sum equals a plain-Go computation.
func TestEventTimeTumblingWindows(t *testing.T) {
	type ev struct {
		Key string
		At  time.Time
		V   int64
	}
	const n = 5000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gen := func(i int64) ev {
		jitter := time.Duration((i*7919)%2000) * time.Millisecond // up to 2 s early
		return ev{Key: fmt.Sprintf("k%d", i%3), At: base.Add(time.Duration(i)*10*time.Millisecond - jitter), V: i}
	}
	ts := func(e ev) time.Time { return e.At }
	env := newEnv(2)
	src := datastream.Generate(env, gen, datastream.GeneratorOptions{Count: n})
	stamped := datastream.AssignTimestamps(src, ts, 3*time.Second)
	windows := datastream.TumblingWindowReduce(datastream.KeyBy(stamped, func(e ev) string { return e.Key }),
		5*time.Second, ts, func(a, b ev) ev { a.V += b.V; return a })
	out, _ := datastream.Collect(windows)
	if _, err := env.Execute(context.Background(), "windows"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for i := range int64(n) {
		e := gen(i)
		ms := e.At.UnixMilli()
		start := ms - ((ms%5000)+5000)%5000
		want[fmt.Sprintf("%s %d", e.Key, start)] += e.V
	}
	got := map[string]int64{}
	for _, w := range out.Items() {
		k := fmt.Sprintf("%s %d", w.Key, w.Start)
		if _, dup := got[k]; dup {
			t.Fatalf("window %s fired twice", k)
		}
		if w.End-w.Start != 5000 {
			t.Fatalf("window %s is %d ms long", k, w.End-w.Start)
		}
		got[k] = w.Value.V
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("windows differ:\n got %v\nwant %v", got, want)
	}
}

// Sliding event-time windows end to end, against plain Go.
func TestEventTimeSlidingWindows(t *testing.T) {
	type ev struct {
		Key string
		At  time.Time
		V   int64
	}
	const n = 3000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gen := func(i int64) ev {
		jitter := time.Duration((i*104729)%1500) * time.Millisecond
		return ev{Key: fmt.Sprintf("k%d", i%4), At: base.Add(time.Duration(i)*7*time.Millisecond - jitter), V: 1}
	}
	ts := func(e ev) time.Time { return e.At }
	env := newEnv(2)
	stamped := datastream.AssignTimestamps(datastream.Generate(env, gen, datastream.GeneratorOptions{Count: n}), ts, 2*time.Second)
	windows := datastream.SlidingWindowReduce(datastream.KeyBy(stamped, func(e ev) string { return e.Key }),
		3*time.Second, time.Second, ts, func(a, b ev) ev { a.V += b.V; return a })
	out, _ := datastream.Collect(windows)
	if _, err := env.Execute(context.Background(), "sliding"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for i := range int64(n) {
		e := gen(i)
		ms := e.At.UnixMilli()
		for start := ms - ((ms%1000)+1000)%1000; start > ms-3000; start -= 1000 {
			want[fmt.Sprintf("%s %d", e.Key, start)]++
		}
	}
	got := map[string]int64{}
	for _, w := range out.Items() {
		got[fmt.Sprintf("%s %d", w.Key, w.Start)] += w.Value.V
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("windows differ:\n got %v\nwant %v", got, want)
	}
}

// TestGenerateInto checks that a generator filling one reused variable in
// place emits every record once, and that the variable holds the record the
// same subtask emitted before (so fn sees it, and must overwrite it).
func TestGenerateInto(t *testing.T) {
	type rec struct {
		I, Prev int64
		S       string
	}
	const n = 5000
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(p)
			src := datastream.GenerateInto(env, func(i int64, v *rec) {
				v.Prev = v.I // the record before, or the zero value
				if v.S == "" {
					v.Prev = -1
				}
				v.I, v.S = i, fmt.Sprint("r", i)
			}, datastream.GeneratorOptions{Count: n})
			out, _ := datastream.Collect(src)
			if _, err := env.Execute(context.Background(), "generate-into"); err != nil {
				t.Fatal(err)
			}
			seen := map[int64]rec{}
			for _, r := range out.Items() {
				if _, dup := seen[r.I]; dup || r.S != fmt.Sprint("r", r.I) {
					t.Fatalf("record %+v twice or wrong", r)
				}
				seen[r.I] = r
			}
			if len(seen) != n {
				t.Fatalf("%d records, want %d", len(seen), n)
			}
			// A subtask emits its indices in increasing order, so each
			// record's predecessor is the largest smaller index it emitted:
			// the first has none, the others one emitted (seen) before.
			firsts := 0
			for _, r := range seen {
				if r.Prev == -1 {
					firsts++
					continue
				}
				if prev, ok := seen[r.Prev]; !ok || r.Prev >= r.I || prev.I != r.Prev {
					t.Fatalf("record %d saw %d before it", r.I, r.Prev)
				}
			}
			if firsts != p {
				t.Fatalf("%d records saw no predecessor, want one per subtask (%d)", firsts, p)
			}
		})
	}
}

// TestChainByPointer runs the source chain that passes records by pointer
// (generator, watermark assigner, a fan-out to two filters, one of them
// followed by a second filter, and a map) and compares both branches with a
// plain loop.
func TestChainByPointer(t *testing.T) {
	type wide struct {
		I   int64
		Pad [40]int64
		S   string
	}
	const n = 3000
	env := newEnv(1)
	src := datastream.GenerateInto(env, func(i int64, v *wide) {
		v.I, v.S, v.Pad[39] = i, fmt.Sprint(i), -i
	}, datastream.GeneratorOptions{Count: n})
	ts := datastream.AssignTimestamps(src, func(v wide) time.Time { return time.UnixMilli(v.I) }, 0)
	threes := ts.Filter(func(v wide) bool { return v.I%3 == 0 }).Filter(func(v wide) bool { return v.I%2 == 0 })
	fives := datastream.Map(ts.Filter(func(v wide) bool { return v.I%5 == 0 }), func(v wide) string { return v.S })
	a, _ := datastream.Collect(threes)
	b, _ := datastream.Collect(fives)
	if _, err := env.Execute(context.Background(), "chain-by-pointer"); err != nil {
		t.Fatal(err)
	}
	var wantA []int64
	var wantB []string
	for i := range int64(n) {
		if i%6 == 0 {
			wantA = append(wantA, i)
		}
		if i%5 == 0 {
			wantB = append(wantB, fmt.Sprint(i))
		}
	}
	var gotA []int64
	for _, v := range a.Items() {
		if v.S != fmt.Sprint(v.I) || v.Pad[39] != -v.I {
			t.Fatalf("record %d torn: %+v", v.I, v.S)
		}
		gotA = append(gotA, v.I)
	}
	if fmt.Sprint(gotA) != fmt.Sprint(wantA) || fmt.Sprint(b.Items()) != fmt.Sprint(wantB) {
		t.Fatalf("branches differ from the plain loop:\n got %v\nwant %v\n got %v\nwant %v", gotA, wantA, b.Items(), wantB)
	}
}

// TestFlatMapRef picks fields out of large records by pointer, chained to
// the source (records by pointer) and after a rebalance (records by value),
// emitting none, one or two results per record (the second from a variable
// changed after emit returns), and compares both with a plain loop.
func TestFlatMapRef(t *testing.T) {
	type inner struct {
		I int64
		S string
	}
	type wide struct {
		A, B, C, D, E, F, G, H int64
		In                     inner
	}
	const n = 3000
	env := newEnv(2)
	src := datastream.GenerateInto(env, func(i int64, v *wide) {
		v.In, v.H = inner{I: i, S: fmt.Sprint(i)}, -i
	}, datastream.GeneratorOptions{Count: n})
	pick := func(v *wide, emit func(*inner)) {
		if v.In.I%3 == 0 {
			return
		}
		if v.H != -v.In.I {
			panic("torn record")
		}
		emit(&v.In)
		if v.In.I%4 == 0 {
			twice := inner{I: -v.In.I, S: "x" + v.In.S}
			emit(&twice)
			twice.S = "changed after the call"
		}
	}
	chained, _ := datastream.Collect(datastream.FlatMapRef(src, pick))
	shuffled, _ := datastream.Collect(datastream.FlatMapRef(src.Rebalance(), pick))
	if _, err := env.Execute(context.Background(), "flatmap-ref"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range int64(n) {
		if i%3 != 0 {
			want = append(want, fmt.Sprint(i, " ", i))
			if i%4 == 0 {
				want = append(want, fmt.Sprint(-i, " x", i))
			}
		}
	}
	slices.Sort(want)
	for name, c := range map[string]*datastream.Collector[inner]{"chained": chained, "after a rebalance": shuffled} {
		var got []string
		for _, v := range c.Items() {
			got = append(got, fmt.Sprint(v.I, " ", v.S))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d results differ from the plain loop's %d", name, len(got), len(want))
		}
	}
}

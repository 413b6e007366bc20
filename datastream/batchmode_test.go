package datastream_test

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"floe/config"
	"floe/datastream"
)

// modeJob is one bounded job: a keyed reduce, an event-time tumbling window
// and a Transform (an operator that emits at the end of its input).
type modeJob struct {
	reduce *datastream.Collector[event]
	window *datastream.Collector[datastream.Window[string, event]]
	counts *datastream.Collector[modeCount]
}

type modeCount struct {
	Key string
	N   int64
}

// counter counts records per key and emits the counts at the end of input.
type counter struct{ n map[string]int64 }

func (c *counter) Process(v event, _ func(modeCount)) { c.n[v.Key]++ }
func (c *counter) EndInput(emit func(modeCount)) {
	for k, n := range c.n {
		emit(modeCount{k, n})
	}
}

func buildModeJob(env *datastream.Environment, n int64) modeJob {
	src := datastream.Generate(env, gen, datastream.GeneratorOptions{Count: n})
	key := func(e event) string { return e.Key }
	sum := func(a, b event) event { a.Value += b.Value; return a }
	var j modeJob
	j.reduce, _ = datastream.Collect(datastream.KeyBy(src, key).Reduce(sum))
	timed := datastream.AssignTimestampsAndWatermarks(src, func(e event) time.Time { return e.At }, datastream.ForBoundedOutOfOrderness(10*time.Millisecond))
	j.window, _ = datastream.Collect(datastream.KeyBy(timed, key).Window(datastream.TumblingEventTimeWindows(100*time.Millisecond), func(e event) time.Time { return e.At }).Reduce(sum))
	j.counts, _ = datastream.Collect(datastream.Transform(src, "Count", datastream.ExchangeHash(key), func(datastream.OperatorInfo) (datastream.BoundedOperator[event, modeCount], error) {
		return &counter{n: map[string]int64{}}, nil
	}))
	return j
}

type winKey struct {
	Key   string
	Start int64
}

// results are a job's final values: the last reduce value per key, the
// window sums and the counts.
type results struct {
	reduce map[string]int64
	window map[winKey]int64
	counts map[string]int64
}

func (j modeJob) results(t *testing.T) results {
	t.Helper()
	r := results{reduce: map[string]int64{}, window: map[winKey]int64{}, counts: map[string]int64{}}
	for _, e := range j.reduce.Items() { // a key's updates come in order from one subtask: the last is final
		r.reduce[e.Key] = e.Value
	}
	for _, w := range j.window.Items() {
		k := winKey{w.Key, w.Start}
		if _, dup := r.window[k]; dup {
			t.Fatalf("window %v fired twice", k)
		}
		r.window[k] = w.Value.Value
	}
	for _, c := range j.counts.Items() {
		r.counts[c.Key] += c.N
	}
	return r
}

// A DataStream job over bounded input gives the same final values in BATCH
// and in STREAMING mode, and both equal a plain computation. In BATCH mode
// the reduce emits once per key.
func TestBatchAndStreamingModesAgree(t *testing.T) {
	const n = 5000
	want := results{reduce: map[string]int64{}, window: map[winKey]int64{}, counts: map[string]int64{}}
	for i := range int64(n) {
		e := gen(i)
		want.reduce[e.Key] += e.Value
		want.window[winKey{e.Key, e.At.UnixMilli() / 100 * 100}] += e.Value
		want.counts[e.Key]++
	}
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			got := map[datastream.RuntimeMode]results{}
			for _, mode := range []datastream.RuntimeMode{datastream.Streaming, datastream.Batch} {
				env := newEnv(p, datastream.RuntimeModeKey, string(mode))
				j := buildModeJob(env, n)
				if _, err := env.Execute(t.Context(), "modes"); err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				got[mode] = j.results(t)
				if updates := len(j.reduce.Items()); mode == datastream.Batch && updates != len(want.reduce) {
					t.Fatalf("BATCH reduce emitted %d records, want one per key (%d)", updates, len(want.reduce))
				}
			}
			for _, mode := range []datastream.RuntimeMode{datastream.Streaming, datastream.Batch} {
				r := got[mode]
				if !maps.Equal(r.reduce, want.reduce) || !maps.Equal(r.window, want.window) || !maps.Equal(r.counts, want.counts) {
					t.Fatalf("%s: %d reduce keys, %d windows, %d counts; want %d, %d, %d (first keys: %v)", mode,
						len(r.reduce), len(r.window), len(r.counts), len(want.reduce), len(want.window), len(want.counts),
						slices.SortedFunc(maps.Keys(r.window), func(a, b winKey) int { return cmp.Compare(a.Start, b.Start) })[:3])
				}
			}
		})
	}
}

// A Transform2 operator hears of each input's end before the end of all
// input, and ExchangePartition routes by the partitioner's choice.
func TestTransform2EndsEachInput(t *testing.T) {
	env := newEnv(2)
	a := datastream.FromSlice(env, []int64{1, 2, 3, 4, 5, 6})
	b := datastream.FromSlice(env, []string{"x", "y"})
	even := func(v int64, n int) int { return int(v % int64(n)) }
	out, _ := datastream.Collect(datastream.Transform2(a, b, "Ends", datastream.ExchangePartition(even), datastream.ExchangeBroadcast[string](),
		func(info datastream.OperatorInfo) (datastream.BoundedOperator2[int64, string, string], error) {
			return &ends{subtask: info.Subtask}, nil
		}))
	if _, err := env.Execute(t.Context(), "ends"); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(out.Items()))
	// Subtask i gets the numbers v with v%2 == i and both strings.
	want := []string{"0: 3 numbers, 2 strings, ends [1 2]", "1: 3 numbers, 2 strings, ends [1 2]"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

type ends struct {
	subtask int
	nums    []int64
	strs    []string
	ended   []int
}

func (e *ends) Process1(v int64, _ func(string)) {
	if int(v%2) != e.subtask {
		panic(fmt.Sprintf("number %d at subtask %d", v, e.subtask))
	}
	e.nums = append(e.nums, v)
}
func (e *ends) Process2(v string, _ func(string)) { e.strs = append(e.strs, v) }
func (e *ends) EndInput(i int, emit func(string)) {
	e.ended = append(e.ended, i)
	if len(e.ended) == 2 {
		slices.Sort(e.ended)
		emit(fmt.Sprintf("%d: %d numbers, %d strings, ends %v", e.subtask, len(e.nums), len(e.strs), e.ended))
	}
}

// A Transform's state is outside checkpoints: a STREAMING job that
// checkpoints is refused before it runs; BATCH mode or no checkpoints run.
func TestTransformWithCheckpointsRefused(t *testing.T) {
	for _, c := range []struct {
		kv      map[string]string
		refused bool
	}{
		{map[string]string{"execution.checkpointing.interval": "1s", "execution.checkpointing.dir": "file:///tmp"}, true},
		{map[string]string{"execution.checkpointing.interval": "1s", "execution.checkpointing.dir": "file:///tmp", datastream.RuntimeModeKey: "BATCH"}, false},
		{nil, false},
	} {
		env := datastream.NewEnvironment(datastream.WithConfig(config.New(c.kv)))
		buildModeJob(env, 10)
		_, err := datastream.JobGraph(env, "transform")
		if got := errors.Is(err, datastream.ErrInvalidJob) && strings.Contains(err.Error(), `"Count" (Transform)`); got != c.refused || (!c.refused && err != nil) {
			t.Errorf("%v: %v, refused %v", c.kv, err, c.refused)
		}
	}
}

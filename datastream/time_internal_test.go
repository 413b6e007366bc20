package datastream

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"floe/internal/runtime"
	"floe/internal/state"
)

type rec struct {
	Key string
	At  int64 // ms
	N   int64
}

type recorder[T any] struct {
	items  []T
	events []runtime.Event
}

func (r *recorder[T]) Collect(v T)          { r.items = append(r.items, v) }
func (r *recorder[T]) Emit(e runtime.Event) { r.events = append(r.events, e) }

func newWindowOp(t *testing.T, size time.Duration, out runtime.Output[Window[string, rec]]) *windowOp[rec, string] {
	b, err := state.NewBackend[string](8)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := state.Value[string, []windowAcc[rec]](b, "windows")
	if err != nil {
		t.Fatal(err)
	}
	return &windowOp[rec, string]{key: func(r rec) string { return r.Key }, ts: func(r rec) time.Time { return time.UnixMilli(r.At) },
		reduce: func(a, b rec) rec { a.N += b.N; return a }, size: size.Milliseconds(), slide: size.Milliseconds(), backend: b, tab: tab, out: out,
		wm: math.MinInt64, start: 0, end: 8}
}

// Events and watermarks in, fired windows and dropped late records out.
func TestTumblingWindowFiring(t *testing.T) {
	type step struct {
		ev *rec  // a record
		wm int64 // or a watermark (when ev is nil)
	}
	r := func(k string, at int64) step { return step{ev: &rec{Key: k, At: at, N: 1}} }
	w := func(wm int64) step { return step{wm: wm} }
	for _, tc := range []struct {
		name  string
		steps []step
		want  []string // fired windows, "key start-end n", in firing order
		late  int64
	}{
		{"in order", []step{r("a", 1), r("a", 5), r("b", 9), w(9), r("a", 12), w(19)},
			[]string{"a 0-10 2", "b 0-10 1", "a 10-20 1"}, 0},
		{"out of order within the watermark", []step{r("a", 15), r("a", 3), r("a", 12), w(9), r("a", 11), w(25)},
			[]string{"a 0-10 1", "a 10-20 3"}, 0},
		{"late records are dropped", []step{r("a", 15), w(14), r("a", 3), r("a", 14), r("a", 16), w(30)},
			[]string{"a 10-20 2"}, 2},
		{"negative times", []step{r("a", -5), r("a", -1), w(-1), r("a", 0)},
			[]string{"a -10-0 2"}, 0},
		{"nothing fires early", []step{r("a", 5), w(8)}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &recorder[Window[string, rec]]{}
			op := newWindowOp(t, 10*time.Millisecond, out)
			for _, s := range tc.steps {
				if s.ev != nil {
					op.Collect(*s.ev)
				} else {
					op.Emit(runtime.Event{Kind: runtime.Watermark, Value: s.wm})
				}
			}
			var got []string
			for _, f := range out.items {
				got = append(got, fmt.Sprintf("%s %d-%d %d", f.Key, f.Start, f.End, f.Value.N))
			}
			slices.Sort(got) // windows of equal end fire in any key order
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("fired %q, want %q", got, want)
			}
			if op.late != tc.late {
				t.Fatalf("late %d, want %d", op.late, tc.late)
			}
			// The end of input fires what is left.
			op.Emit(runtime.Event{Kind: runtime.EndOfInput})
			if op.tab.Len() != 0 {
				t.Fatalf("%d keys left after the end of input", op.tab.Len())
			}
		})
	}
}

func TestSlidingWindowAssignment(t *testing.T) {
	out := &recorder[Window[string, rec]]{}
	op := newWindowOp(t, 10*time.Millisecond, out)
	op.slide = 5 // windows of 10 every 5
	for _, at := range []int64{3, 7, 12} {
		op.Collect(rec{Key: "a", At: at, N: 1})
	}
	op.Emit(runtime.Event{Kind: runtime.Watermark, Value: 100})
	var got []string
	for _, f := range out.items {
		got = append(got, fmt.Sprintf("%d-%d %d", f.Start, f.End, f.Value.N))
	}
	// 3 is in [-5,5) and [0,10); 7 in [0,10) and [5,15); 12 in [5,15) and [10,20).
	want := []string{"-5-5 1", "0-10 2", "5-15 2", "10-20 1"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %q, want %q", got, want)
	}
}

package network

import "testing"

type big struct {
	N int64
	S string
	P [30]int64
}

// ptrRecorder takes records by pointer and notes which pointer it got.
type ptrRecorder struct {
	got  []big
	ptrs []*big
}

func (r *ptrRecorder) Collect(v big)     { r.got = append(r.got, v) }
func (r *ptrRecorder) CollectPtr(p *big) { r.got, r.ptrs = append(r.got, *p), append(r.ptrs, p) }
func (r *ptrRecorder) Emit(Event)        {}

// valueRecorder takes records by value only.
type valueRecorder struct{ got []big }

func (r *valueRecorder) Collect(v big) { r.got = append(r.got, v) }
func (r *valueRecorder) Emit(Event)    {}

// TestFanoutByPointer checks that a fan-out hands the caller's pointer to
// the outputs that take pointers and a copy to the others, each record to
// every output in order, by pointer or by value.
func TestFanoutByPointer(t *testing.T) {
	a, b, c := &ptrRecorder{}, &valueRecorder{}, &ptrRecorder{}
	f := Fanout[big]([]Output[big]{a, b, c})
	collect := ByPointer(f)
	var v big
	var want []big
	for i := range int64(5) {
		v = big{N: i, S: string(rune('a' + i)), P: [30]int64{29: i}}
		want = append(want, v)
		if i%2 == 0 {
			collect(&v)
		} else {
			f.Collect(v)
		}
	}
	for name, got := range map[string][]big{"pointer 1": a.got, "value": b.got, "pointer 2": c.got} {
		if len(got) != len(want) {
			t.Fatalf("%s output: %d records, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s output, record %d: %+v, want %+v", name, i, got[i].N, want[i].N)
			}
		}
	}
	// Records 0, 2 and 4 came by pointer: the pointer outputs saw v itself.
	if len(a.ptrs) != 3 || len(c.ptrs) != 3 || a.ptrs[0] != &v || c.ptrs[2] != &v {
		t.Fatalf("pointer outputs got %d and %d records by pointer, want 3 each, the caller's", len(a.ptrs), len(c.ptrs))
	}
	// An output without CollectPtr gets a copy through ByPointer.
	one := ByPointer[big](b)
	v.N = 42
	one(&v)
	v.N = 43
	if b.got[len(b.got)-1].N != 42 {
		t.Fatalf("value output saw %d, want the copy made at the call (42)", b.got[len(b.got)-1].N)
	}
}

package jobgraph

import (
	"errors"
	"strings"
	"testing"
)

func graph(p1, p2 int, part Partitioning) *JobGraph {
	src := &Vertex{ID: 0, Name: "src", Parallelism: p1, IsSource: true, Operators: []Operator{{ID: 0, UID: "u0", Name: "src"}}}
	snk := &Vertex{ID: 1, Name: "sink", Parallelism: p2, Operators: []Operator{{ID: 1, UID: "u1", Name: "sink"}}}
	e := &Edge{Source: 0, Target: 1, Partitioning: part}
	src.Outputs, snk.Inputs = []*Edge{e}, []*Edge{e}
	return &JobGraph{Name: "j", Vertices: []*Vertex{src, snk}, MaxParallelism: 128}
}

func TestValidate(t *testing.T) {
	if err := graph(2, 2, Forward).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := graph(2, 3, Forward).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("forward between 2 and 3: %v", err)
	}
	if err := graph(2, 200, Hash).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("parallelism above max: %v", err)
	}
	if err := (&JobGraph{MaxParallelism: 1}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty: %v", err)
	}
}

func TestFingerprintAndDiff(t *testing.T) {
	a, b := graph(2, 2, Hash), graph(2, 3, Hash)
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("different graphs share a fingerprint")
	}
	if a.Fingerprint() != graph(2, 2, Hash).Fingerprint() {
		t.Fatal("fingerprint not deterministic")
	}
	d := Diff(a.Describe(), b.Describe())
	if !strings.Contains(d, "parallelism 2") || !strings.Contains(d, "parallelism 3") {
		t.Fatalf("diff = %q", d)
	}
	if Diff(a.Describe(), a.Describe()) != "" {
		t.Fatal("diff of equal descriptions")
	}
	if got := b.SlotsNeeded(); got != 3 {
		t.Fatalf("slots = %d", got)
	}
	b.Vertices[1].SlotGroup = "sink"
	if got := b.SlotsNeeded(); got != 5 {
		t.Fatalf("slots with two groups = %d", got)
	}
}

func TestPlanRoundTrip(t *testing.T) {
	g := graph(2, 3, Hash)
	g.Vertices[1].SlotGroup = "sinks"
	b, err := g.MarshalPlan()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalPlan(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Fingerprint() != g.Fingerprint() {
		t.Fatalf("plan changed the graph:\n%s\n%s", g.Describe(), back.Describe())
	}
	if _, err := UnmarshalPlan([]byte(`{"vertices":[{"id":3}]}`)); err == nil {
		t.Fatal("bad plan accepted")
	}
}

// Slot k of a slot sharing group runs subtask k of each of its vertices: the
// keyed-state operators there split the slot's managed memory.
func TestStateOperatorsInSlot(t *testing.T) {
	keyed := func(id int) Operator { return Operator{ID: id, KeyedState: true} }
	g := &JobGraph{Vertices: []*Vertex{
		{ID: 0, Parallelism: 4, Operators: []Operator{{ID: 0}}},                      // a source
		{ID: 1, Parallelism: 4, Operators: []Operator{keyed(1), {ID: 2}}},            // a window and a map
		{ID: 2, Parallelism: 2, Operators: []Operator{keyed(3), keyed(4)}},           // two keyed operators chained
		{ID: 3, Parallelism: 4, Operators: []Operator{keyed(5)}, SlotGroup: "other"}, // another group
	}}
	for _, c := range []struct{ vertex, subtask, want int }{
		{0, 0, 3}, {1, 0, 3}, {1, 1, 3}, {2, 1, 3}, // slots 0 and 1 hold vertex 2 too
		{1, 2, 1}, {1, 3, 1}, // vertex 2 has no subtask 2 or 3
		{3, 0, 1}, {3, 3, 1},
		{9, 0, 1}, // unknown vertex
	} {
		if got := g.StateOperatorsInSlot(c.vertex, c.subtask); got != c.want {
			t.Errorf("vertex %d subtask %d: %d keyed-state operators in its slot, want %d", c.vertex, c.subtask, got, c.want)
		}
	}
}

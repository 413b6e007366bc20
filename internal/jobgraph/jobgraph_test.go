package jobgraph

import (
	"errors"
	"strings"
	"testing"
)

func graph(p1, p2 int, part Partitioning) *JobGraph {
	src := &Vertex{ID: 0, Name: "src", Parallelism: p1, IsSource: true, Operators: []Operator{{0, "u0", "src"}}}
	snk := &Vertex{ID: 1, Name: "sink", Parallelism: p2, Operators: []Operator{{1, "u1", "sink"}}}
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

package appmaster

import (
	"testing"

	"floe/internal/jobgraph"
)

// A forward edge's partition has one subpartition, the one its consumer
// reads: a subpartition nobody reads fills with events and blocks its
// producer (issue 17, item 0).
func TestForwardEdgeDeploysOneSubpartition(t *testing.T) {
	src := &jobgraph.Vertex{ID: 0, Name: "src", Parallelism: 2, IsSource: true}
	snk := &jobgraph.Vertex{ID: 1, Name: "sink", Parallelism: 2}
	e := &jobgraph.Edge{Source: 0, Target: 1, Partitioning: jobgraph.Forward}
	src.Outputs, snk.Inputs = []*jobgraph.Edge{e}, []*jobgraph.Edge{e}
	g := &jobgraph.JobGraph{Name: "t", Vertices: []*jobgraph.Vertex{src, snk}, MaxParallelism: 128}
	ex := newExecution("j", g, now)
	acts := ex.schedule([]slot{{tm: "a", addr: "A"}, {tm: "b", addr: "B"}, {tm: "c", addr: "C"}, {tm: "d", addr: "D"}})
	if len(acts) != 4 {
		t.Fatalf("schedule: %d actions", len(acts))
	}
	for _, a := range acts {
		d := a.deploy
		ref := d.GetTask()
		switch ref.GetVertex() {
		case 0:
			if len(d.Outputs) != 1 || d.Outputs[0].Subpartitions != 1 {
				t.Fatalf("source %d outputs: %v", ref.GetSubtask(), d.Outputs)
			}
		case 1:
			chs := d.Inputs[0].Channels
			if len(chs) != 1 || chs[0].Subpartition != 0 || chs[0].GetProducer().GetSubtask() != ref.GetSubtask() {
				t.Fatalf("sink %d reads %v, want subpartition 0 of source %d", ref.GetSubtask(), chs, ref.GetSubtask())
			}
		}
	}
}

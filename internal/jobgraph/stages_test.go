package jobgraph

import (
	"fmt"
	"testing"

	"floe/config"
)

// graphOf builds vertices 0..len(p)-1 of parallelism p[i], joined by hash
// edges, in runtime mode mode.
func graphOf(mode string, p []int, edges [][2]int) *JobGraph {
	g := &JobGraph{MaxParallelism: 128, Config: config.New(map[string]string{RuntimeModeKey: mode})}
	for i, par := range p {
		g.Vertices = append(g.Vertices, &Vertex{ID: i, Name: fmt.Sprint("v", i), Parallelism: par, SlotGroup: "default", IsSource: true})
	}
	for i, e := range edges {
		ed := &Edge{Source: e[0], Target: e[1], Index: i, Partitioning: Hash}
		g.Vertices[e[0]].Outputs = append(g.Vertices[e[0]].Outputs, ed)
		g.Vertices[e[1]].Inputs = append(g.Vertices[e[1]].Inputs, ed)
		g.Vertices[e[1]].IsSource = false
	}
	return g
}

func TestStages(t *testing.T) {
	diamond := [][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}}
	for _, tc := range []struct {
		mode  string
		p     []int
		edges [][2]int
		want  string
		slots int
	}{
		{"STREAMING", []int{1, 2, 3, 2}, diamond, "[{0 [0 1 2 3] []}]", 3}, // one slot group: its widest vertex
		{"BATCH", []int{1, 2, 3, 2}, diamond, "[{0 [0] []} {1 [1] [0]} {2 [2] [0]} {3 [3] [1 2]}]", 3},
		{"batch", []int{4, 2}, [][2]int{{0, 1}}, "[{0 [0] []} {1 [1] [0]}]", 4},
	} {
		g := graphOf(tc.mode, tc.p, tc.edges)
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(g.Stages()); got != tc.want {
			t.Errorf("%s %v: stages %s, want %s", tc.mode, tc.p, got, tc.want)
		}
		if got := g.SlotsNeeded(); got != tc.slots {
			t.Errorf("%s %v: slots %d, want %d", tc.mode, tc.p, got, tc.slots)
		}
	}
}

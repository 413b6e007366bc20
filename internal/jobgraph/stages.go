package jobgraph

import (
	"slices"
	"strings"
)

// RuntimeModeKey is execution.runtime-mode (datastream.RuntimeModeKey).
const RuntimeModeKey = "execution.runtime-mode"

// Batch reports whether the job runs in BATCH mode: its exchanges block
// and it runs stage by stage.
func (g *JobGraph) Batch() bool {
	return strings.EqualFold(g.Config.String(RuntimeModeKey, ""), "BATCH")
}

// Blocking reports whether edge e is a blocking exchange: its producer
// writes its whole output to local files before any consumer reads it. In
// BATCH mode every edge between vertices is (forward ones too); in
// STREAMING mode none is.
func (g *JobGraph) Blocking(e *Edge) bool { return g.Batch() }

// Stage is a pipelined region: vertices connected by pipelined edges, which
// run together. Stages are connected by blocking edges only.
type Stage struct {
	ID       int
	Vertices []int // ascending
	// Inputs are the stages whose outputs this one reads.
	Inputs []int
}

// Stages returns the job's stages in an order where every stage comes after
// the stages it reads (ids are positions in that order). A STREAMING job is
// one stage.
func (g *JobGraph) Stages() []Stage {
	parent := make([]int, len(g.Vertices))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for _, v := range g.Vertices {
		for _, e := range v.Inputs {
			if !g.Blocking(e) {
				a, b := find(e.Source), find(e.Target)
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	// Regions, numbered by their first vertex; vertices are in topological
	// order, but a region may still read a region with a later first vertex.
	region := map[int]int{}
	var members [][]int
	for _, v := range g.Vertices {
		r := find(v.ID)
		idx, ok := region[r]
		if !ok {
			idx = len(members)
			region[r] = idx
			members = append(members, nil)
		}
		members[idx] = append(members[idx], v.ID)
	}
	inputs := make([][]int, len(members))
	for _, v := range g.Vertices {
		for _, e := range v.Inputs {
			from, to := region[find(e.Source)], region[find(e.Target)]
			if from != to && !slices.Contains(inputs[to], from) {
				inputs[to] = append(inputs[to], from)
			}
		}
	}
	// Kahn's order over regions.
	order := make([]int, 0, len(members))
	placed := make([]bool, len(members))
	for len(order) < len(members) {
		progressed := false
		for r := range members {
			if placed[r] {
				continue
			}
			ready := true
			for _, in := range inputs[r] {
				ready = ready && placed[in]
			}
			if ready {
				placed[r] = true
				order = append(order, r)
				progressed = true
			}
		}
		if !progressed { // a cycle cannot come from Validate'd graphs
			break
		}
	}
	pos := make([]int, len(members))
	for i, r := range order {
		pos[r] = i
	}
	stages := make([]Stage, len(order))
	for i, r := range order {
		st := Stage{ID: i, Vertices: members[r]}
		for _, in := range inputs[r] {
			st.Inputs = append(st.Inputs, pos[in])
		}
		slices.Sort(st.Inputs)
		stages[i] = st
	}
	return stages
}

// StageSlots is the number of slots stage st needs: per slot sharing group
// among its vertices, one slot per subtask of the group's widest vertex.
func (g *JobGraph) StageSlots(st Stage) (names []string, slots map[string]int) {
	slots = map[string]int{}
	for _, id := range st.Vertices {
		v := g.Vertices[id]
		if _, ok := slots[v.SlotGroup]; !ok {
			names = append(names, v.SlotGroup)
		}
		slots[v.SlotGroup] = max(slots[v.SlotGroup], v.Parallelism)
	}
	return names, slots
}

// batchSlots is what a BATCH job needs: one stage runs at a time, so the
// widest stage's slots.
func (g *JobGraph) batchSlots() int {
	most := 0
	for _, st := range g.Stages() {
		_, slots := g.StageSlots(st)
		n := 0
		for _, s := range slots {
			n += s
		}
		most = max(most, n)
	}
	return most
}

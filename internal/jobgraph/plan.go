package jobgraph

import (
	"encoding/json"
	"fmt"

	"floe/config"
)

// plan is the serializable part of a JobGraph: everything but the code that
// builds operator chains. A session's JobManager schedules a job from its
// plan; only TaskManager processes of the job's own binary build its chains.
type plan struct {
	Name           string            `json:"name"`
	MaxParallelism int               `json:"max_parallelism"`
	Config         map[string]string `json:"config"`
	Vertices       []planVertex      `json:"vertices"`
	Edges          []Edge            `json:"edges"`
}

type planVertex struct {
	ID          int          `json:"id"`
	Name        string       `json:"name"`
	Parallelism int          `json:"parallelism"`
	Operators   []Operator   `json:"operators"`
	IsSource    bool         `json:"is_source"`
	SlotGroup   string       `json:"slot_group"`
	OutputDirs  []string     `json:"output_dirs,omitempty"`
	Splits      *InputSplits `json:"splits,omitempty"`
}

// MarshalPlan encodes the graph without its Build functions.
func (g *JobGraph) MarshalPlan() ([]byte, error) {
	p := plan{Name: g.Name, MaxParallelism: g.MaxParallelism, Config: map[string]string{}}
	for _, k := range g.Config.Keys() {
		p.Config[k], _ = g.Config.Lookup(k)
	}
	for _, v := range g.Vertices {
		p.Vertices = append(p.Vertices, planVertex{v.ID, v.Name, v.Parallelism, v.Operators, v.IsSource, v.SlotGroup, v.OutputDirs, v.Splits})
		for _, e := range v.Outputs {
			p.Edges = append(p.Edges, *e)
		}
	}
	return json.Marshal(p)
}

// UnmarshalPlan decodes a plan into a graph whose vertices have no Build.
func UnmarshalPlan(b []byte) (*JobGraph, error) {
	var p plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: plan: %w", ErrInvalid, err)
	}
	g := &JobGraph{Name: p.Name, MaxParallelism: p.MaxParallelism, Config: config.New(p.Config)}
	for i, pv := range p.Vertices {
		if pv.ID != i {
			return nil, fmt.Errorf("%w: plan: vertex %d has id %d", ErrInvalid, i, pv.ID)
		}
		g.Vertices = append(g.Vertices, &Vertex{ID: pv.ID, Name: pv.Name, Parallelism: pv.Parallelism,
			Operators: pv.Operators, IsSource: pv.IsSource, SlotGroup: pv.SlotGroup, OutputDirs: pv.OutputDirs, Splits: pv.Splits})
	}
	for _, e := range p.Edges {
		if e.Source < 0 || e.Source >= len(g.Vertices) || e.Target < 0 || e.Target >= len(g.Vertices) {
			return nil, fmt.Errorf("%w: plan: edge %d -> %d out of range", ErrInvalid, e.Source, e.Target)
		}
		e := e
		g.Vertices[e.Source].Outputs = append(g.Vertices[e.Source].Outputs, &e)
		g.Vertices[e.Target].Inputs = append(g.Vertices[e.Target].Inputs, &e)
	}
	return g, g.Validate()
}

// Package jobgraph is the job as the JobManager schedules it: vertices (chains
// of operators that run together in one task) connected by edges that say how
// records are partitioned between subtasks.
//
// A JobGraph is built by the user's program in every process that runs the
// job (client, JobManager, TaskManagers), so it holds both a description that
// can be compared across processes (Describe, Fingerprint) and, per vertex,
// the code that builds the vertex's operator chain in a TaskManager (Build).
package jobgraph

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"floe/config"
	"floe/container/network"
	"floe/container/operator"
)

// ErrInvalid is wrapped by errors about malformed graphs.
var ErrInvalid = errors.New("jobgraph: invalid graph")

// Partitioning says how an edge routes records from producer to consumer subtasks.
type Partitioning string

const (
	Forward   Partitioning = "FORWARD"   // producer i -> consumer i (equal parallelism)
	Hash      Partitioning = "HASH"      // by key group of the record's key
	Rebalance Partitioning = "REBALANCE" // round robin
	Broadcast Partitioning = "BROADCAST" // to every consumer
)

// BuildFunc builds vertex v's chain for one subtask; outputs[i] is the sink of
// the vertex's output edge i.
type BuildFunc func(info operator.TaskInfo, outputs []network.ChannelSink) (operator.Task, error)

// Operator names one operator of a chain.
type Operator struct {
	ID   int    // construction order
	UID  string // the user's uid, or one derived from position and name
	Name string
	// KeyedState: the operator keeps keyed state in the job's state
	// backend, whose memory it shares with the other such operators of its
	// slot (StateOperatorsInSlot).
	KeyedState bool `json:"keyedState,omitempty"`
}

// Vertex is a chain of operators run as one task per subtask.
type Vertex struct {
	ID          int
	Name        string
	Parallelism int
	Operators   []Operator
	// Inputs feed the chain: an edge's Input 0 or 1 is that input of the
	// chain's head, 2 and up the other input of a two-input operator inside
	// the chain (BATCH mode: datastream.ReadSecondFirst).
	Inputs   []*Edge
	Outputs  []*Edge // Outputs[i] is output edge i
	IsSource bool
	// SlotGroup names the slot sharing group: one subtask of every vertex of
	// a group may share a slot; different groups never do.
	SlotGroup string
	// OutputDirs are the directories the vertex's file sinks write: the
	// JobManager publishes the parts they leave waiting there when the job
	// has finished, and removes them when it failed (floe/internal/output).
	OutputDirs []string
	// Splits, set on a file source, are the input splits its subtasks ask
	// the JobManager for one at a time (nil: the source reads what it has).
	Splits *InputSplits
	Build  BuildFunc
}

// InputSplits describe a source vertex's splits to the JobManager, which
// hands them out by index: every process plans the same splits in the same
// order (a split count that differs fails the TaskManager's registration,
// through the graph's description).
type InputSplits struct {
	N int `json:"n"`
	// Hosts[i], when known, are the hosts that hold split i's data (its
	// HDFS block's replicas); a subtask on one of them is given it first.
	Hosts [][]string `json:"hosts,omitempty"`
}

// Edge connects output edge Index of Source to input Input of Target.
type Edge struct {
	Source, Target int
	Index          int
	Input          int
	Partitioning   Partitioning
}

// JobGraph is a job ready to schedule. Vertices are in topological order and
// Vertices[i].ID == i.
type JobGraph struct {
	Name           string
	Vertices       []*Vertex
	MaxParallelism int
	Config         config.Config
}

// Validate checks the structure.
func (g *JobGraph) Validate() error {
	if len(g.Vertices) == 0 {
		return fmt.Errorf("%w: no operators (a job needs at least a source and a sink)", ErrInvalid)
	}
	for i, v := range g.Vertices {
		if v.ID != i {
			return fmt.Errorf("%w: vertex %d has id %d", ErrInvalid, i, v.ID)
		}
		if v.Parallelism < 1 || v.Parallelism > g.MaxParallelism {
			return fmt.Errorf("%w: %q has parallelism %d, want 1..%d (max parallelism)", ErrInvalid, v.Name, v.Parallelism, g.MaxParallelism)
		}
		if !v.IsSource && len(v.Inputs) == 0 {
			return fmt.Errorf("%w: %q: a vertex that is not a source needs inputs", ErrInvalid, v.Name)
		}
		if v.IsSource && len(v.Inputs) > 0 && !g.Batch() {
			// A BATCH source chained into a two-input operator reads the
			// operator's other input before it runs; a STREAMING one cannot.
			return fmt.Errorf("%w: %q: a source with inputs runs in BATCH mode only", ErrInvalid, v.Name)
		}
		for _, e := range v.Inputs {
			if e.Source >= i {
				return fmt.Errorf("%w: %q reads from a later vertex", ErrInvalid, v.Name)
			}
			if e.Partitioning == Forward && g.Vertices[e.Source].Parallelism != v.Parallelism {
				return fmt.Errorf("%w: forward edge %q -> %q joins different parallelism", ErrInvalid, g.Vertices[e.Source].Name, v.Name)
			}
		}
	}
	return nil
}

// SlotGroups returns the slot sharing groups in order of first use, with the
// number of slots each needs (its widest vertex).
func (g *JobGraph) SlotGroups() (names []string, slots map[string]int) {
	slots = map[string]int{}
	for _, v := range g.Vertices {
		if _, ok := slots[v.SlotGroup]; !ok {
			names = append(names, v.SlotGroup)
		}
		slots[v.SlotGroup] = max(slots[v.SlotGroup], v.Parallelism)
	}
	return names, slots
}

// StateOperatorsInSlot is the number of operators with keyed state that run
// in the slot of subtask subtask of vertex vertex: those of every vertex of
// its slot sharing group with a subtask of that index (slot k of a group
// runs subtask k of each of its vertices). They split the slot's managed
// memory equally, as Flink's state backends share a slot's managed memory
// among its stateful operators. It is at least 1.
func (g *JobGraph) StateOperatorsInSlot(vertex, subtask int) int {
	if vertex < 0 || vertex >= len(g.Vertices) {
		return 1
	}
	group := g.Vertices[vertex].SlotGroup
	n := 0
	for _, v := range g.Vertices {
		if v.SlotGroup != group || (v.ID != vertex && v.Parallelism <= subtask) {
			continue
		}
		for _, op := range v.Operators {
			if op.KeyedState {
				n++
			}
		}
	}
	return max(n, 1)
}

// SlotsNeeded is the number of slots the job needs: per slot sharing group,
// one slot per subtask of its widest vertex. A BATCH job runs one stage at a
// time and needs its widest stage's slots.
func (g *JobGraph) SlotsNeeded() int {
	if g.Batch() {
		return g.batchSlots()
	}
	_, slots := g.SlotGroups()
	n := 0
	for _, s := range slots {
		n += s
	}
	return n
}

// Describe returns a canonical text of everything that must be equal in every
// process running the job.
func (g *JobGraph) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %q max-parallelism %d\n", g.Name, g.MaxParallelism)
	for _, v := range g.Vertices {
		fmt.Fprintf(&b, "vertex %d %q parallelism %d slot-group %q\n", v.ID, v.Name, v.Parallelism, v.SlotGroup)
		for _, op := range v.Operators {
			fmt.Fprintf(&b, "  operator %d uid %q %q\n", op.ID, op.UID, op.Name)
			if op.KeyedState {
				b.WriteString("    keyed state\n")
			}
		}
		if v.Splits != nil {
			fmt.Fprintf(&b, "  splits %d\n", v.Splits.N)
		}
		for _, e := range v.Outputs {
			fmt.Fprintf(&b, "  edge %d -> vertex %d input %d %s\n", e.Index, e.Target, e.Input, e.Partitioning)
		}
	}
	return b.String()
}

// Fingerprint is the hex SHA-256 of Describe.
func (g *JobGraph) Fingerprint() string {
	sum := sha256.Sum256([]byte(g.Describe()))
	return hex.EncodeToString(sum[:])
}

// Diff returns the first lines where two descriptions differ, for errors that
// explain a fingerprint mismatch.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d: jobmanager has %q, taskmanager has %q", i+1, a, b)
		}
	}
	return ""
}

package dataset

import (
	"context"
	"fmt"

	"floe/container/network"
	"floe/datastream"
	"floe/internal/spill"
)

// How the dataset operators that hold data until their input ends (hash
// aggregation, hash join, sort, CoGroup) get memory: the TaskManager lends
// every task its slot's share of taskmanager.memory.managed.size
// (spill.Task in the operator's context), and each such operator takes an
// equal part of it: the slot's share divided by the number of
// memory-holding operators of the job (Environment.memOps), since a slot
// runs one subtask of every vertex at the same time and so at most all of
// them. Past its part an operator spills to the TaskManager's spill
// directories (internal/spill).

// holdsMemory counts one memory-holding operator of the job (at planning).
func (e *Environment) holdsMemory() { e.memOps++ }

// reportEvery is how many records an operator handles between two updates
// of its task's spill counters.
const reportEvery = 4096

// opMemory is one operator subtask's memory: its budget, its spill options
// and the delivery of its spill counters to the task.
type opMemory struct {
	ctx     context.Context
	task    *spill.Task
	budget  *spill.Budget
	opts    []spill.Option
	name    string
	subtask int
	parts   []func() spill.Stats // the operator's spilling structures
	sent    spill.Stats          // the sums already added to the task
	n       int
}

func newOpMemory(env *Environment, info datastream.OperatorInfo) *opMemory {
	m := &opMemory{ctx: info.Context, task: spill.TaskFrom(info.Context), name: info.Name, subtask: info.Subtask}
	if m.ctx == nil {
		m.ctx = context.Background()
	}
	if m.task != nil && m.task.Memory != nil {
		m.budget = m.task.Memory.Split(max(env.memOps, 1))[0]
	} else {
		m.budget = spill.NewBudget(0)
	}
	m.opts = m.task.Options()
	return m
}

// track adds a spilling structure whose Stats the operator reports.
func (m *opMemory) track(stats func() spill.Stats) { m.parts = append(m.parts, stats) }

// fail ends the task with err (the runtime turns the panic into the
// task's error).
func (m *opMemory) fail(err error) {
	panic(network.Abort{Err: fmt.Errorf("%s (subtask %d): %w", m.name, m.subtask, err)})
}

// check fails the task when err is not nil, and now and then sends the
// spill counters on.
func (m *opMemory) check(err error) {
	if err != nil {
		m.fail(err)
	}
	if m.n++; m.n >= reportEvery {
		m.n = 0
		m.report()
	}
}

// report adds what the operator spilled since the last report to its task's counters.
func (m *opMemory) report() {
	var now spill.Stats
	for _, f := range m.parts {
		s := f()
		now.SpilledRecords += s.SpilledRecords
		now.SpilledBytes += s.SpilledBytes
		now.Files += s.Files
	}
	m.task.AddStats(spill.Stats{SpilledRecords: now.SpilledRecords - m.sent.SpilledRecords,
		SpilledBytes: now.SpilledBytes - m.sent.SpilledBytes, Files: now.Files - m.sent.Files})
	m.sent = now
}

// noSpill notes that a structure of the operator stays in memory without a
// budget because its records cannot be written to a file (no codec).
func (m *opMemory) noSpill(err error) {
	if m.task != nil {
		m.task.Log.Warn().Err(err).Str("operator", m.name).Msg("the operator holds its data in memory without a budget: its types cannot be spilled")
	}
}

package container

import (
	"fmt"

	"floe/config"
	"floe/internal/spill"
)

// managedMemory is the TaskManager's budget for batch operators:
// taskmanager.memory.managed.size of its job's configuration (a quarter of
// taskmanager.memory.process.size when unset). Without a job graph (a
// session TaskManager before its job), it is unlimited.
func managedMemory(opts Options) (*spill.Budget, error) {
	if opts.Graph == nil {
		return spill.NewBudget(0), nil
	}
	b, err := spill.NewBudgetFromConfig(opts.Graph.Config)
	if err != nil {
		return nil, fmt.Errorf("taskmanager: %w", err)
	}
	return b, nil
}

// taskResources are what a task's spilling operators use: its slot's share
// of the managed memory (the TaskManager's budget split equally among its
// slots; the operators of the slot split it again), the spill directories
// of the job's configuration and the task's spill counters.
func (t *task) taskResources(cfg config.Config) *spill.Task {
	return &spill.Task{Memory: t.tm.memory.Split(t.tm.opts.Slots)[0], Dirs: spill.TmpDirs(cfg), Log: t.log}
}

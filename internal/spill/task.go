package spill

import (
	"context"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// Task is what a TaskManager lends one running task for its spilling
// operators: its slot's share of the managed memory, the spill directories
// and the task's spill counters. The TaskManager puts it into the task's
// context (WithTask); operators find it there (TaskFrom) when they are
// built, split Memory among the memory-holding operators of the slot, and
// add their Stats when they close. Safe for concurrent use.
type Task struct {
	// Memory is the slot's budget (the TaskManager's managed memory split
	// per slot); nil or unlimited means nothing spills.
	Memory *Budget
	// Dirs are the spill directories (TmpDirs).
	Dirs []string
	// Log is the task's logger (spill events at debug level).
	Log zerolog.Logger

	records, bytes, files atomic.Int64
}

// AddStats adds an operator's counters to the task's (call it once per
// operator, at its Close).
func (t *Task) AddStats(s Stats) {
	if t == nil {
		return
	}
	t.records.Add(s.SpilledRecords)
	t.bytes.Add(s.SpilledBytes)
	t.files.Add(s.Files)
}

// Spilled is what the task's operators wrote to spill files so far:
// records, bytes (as written) and files.
func (t *Task) Spilled() (records, bytes, files int64) {
	if t == nil {
		return 0, 0, 0
	}
	return t.records.Load(), t.bytes.Load(), t.files.Load()
}

// Options are the operator options of the task's resources: its spill
// directories and logger.
func (t *Task) Options() []Option {
	if t == nil {
		return nil
	}
	return []Option{WithDirs(t.Dirs...), WithLogger(t.Log)}
}

type taskKey struct{}

// WithTask returns ctx carrying t.
func WithTask(ctx context.Context, t *Task) context.Context {
	return context.WithValue(ctx, taskKey{}, t)
}

// TaskFrom returns the Task ctx carries, or nil (ctx may be nil).
func TaskFrom(ctx context.Context) *Task {
	if ctx == nil {
		return nil
	}
	t, _ := ctx.Value(taskKey{}).(*Task)
	return t
}

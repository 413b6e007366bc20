package spill

import (
	"fmt"
	"sync/atomic"

	"floe/config"
)

// Budget is an amount of memory, in bytes, that operators reserve from
// before they hold records and give back when they let them go. An operator
// that cannot reserve spills. Safe for concurrent use.
//
// A TaskManager makes one Budget from taskmanager.memory.managed.size and
// Splits it among its slots; a slot Splits its share among the operators of
// its chain that hold data at the same time. A child's reservations count in
// its parent's Used too (so the TaskManager's figure is the sum), but only
// the child's own limit is checked.
type Budget struct {
	limit  int64
	used   atomic.Int64
	peak   atomic.Int64
	parent *Budget
}

// NewBudget returns a budget of limit bytes; limit <= 0 means no limit
// (nothing ever spills).
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Limit is the budget's size in bytes (<= 0: unlimited).
func (b *Budget) Limit() int64 { return b.limit }

// Used is the bytes reserved now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Peak is the most bytes reserved at once so far.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// Split divides the budget into n budgets of limit/n bytes each, for n
// consumers that run at the same time (the slots of a TaskManager, the
// memory-holding operators of one slot).
func (b *Budget) Split(n int) []*Budget {
	n = max(n, 1)
	out := make([]*Budget, n)
	for i := range out {
		l := b.limit / int64(n)
		if b.limit <= 0 {
			l = 0
		} else {
			l = max(l, 1)
		}
		out[i] = &Budget{limit: l, parent: b}
	}
	return out
}

// reserve takes n bytes if they fit, and reports whether they did.
func (b *Budget) reserve(n int64) bool {
	for {
		u := b.used.Load()
		if b.limit > 0 && u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.notePeak(u + n)
			if b.parent != nil {
				b.parent.force(n)
			}
			return true
		}
	}
}

// force takes n bytes whether or not they fit (an operator must hold at least
// one record to make progress).
func (b *Budget) force(n int64) {
	b.notePeak(b.used.Add(n))
	if b.parent != nil {
		b.parent.force(n)
	}
}

func (b *Budget) notePeak(u int64) {
	for {
		p := b.peak.Load()
		if u <= p || b.peak.CompareAndSwap(p, u) {
			return
		}
	}
}

// release gives n bytes back.
func (b *Budget) release(n int64) {
	b.used.Add(-n)
	if b.parent != nil {
		b.parent.release(n)
	}
}

// Configuration keys (Flink's names), also in config's registry.
const (
	// KeyManagedMemory is the TaskManager's memory for sorting, hashing and
	// joining (Flink's managed memory), in Flink's size syntax.
	KeyManagedMemory = config.ManagedMemorySize
	// KeyTmpDirs lists the directories spill files go to.
	KeyTmpDirs = config.TmpDirs
)

// ManagedMemory is taskmanager.memory.managed.size in bytes. Unset, it is a
// quarter of taskmanager.memory.process.size (128 MiB of the default 512m):
// Go's collector lets the heap grow to about twice the live data (GOGC=100),
// so a quarter of live records peaks near half of the container, and leaves
// the other half to network buffers, the runtime and the job's own code.
func ManagedMemory(c config.Config) (int64, error) {
	if _, ok := c.Lookup(KeyManagedMemory); ok {
		return c.MemoryBytes(KeyManagedMemory, 0)
	}
	mb, err := c.MemoryMB(config.TaskManagerMemory, 512)
	if err != nil {
		return 0, err
	}
	return mb << 20 / 4, nil
}

// NewBudgetFromConfig is the TaskManager's budget: ManagedMemory(c) bytes.
func NewBudgetFromConfig(c config.Config) (*Budget, error) {
	n, err := ManagedMemory(c)
	if err != nil {
		return nil, fmt.Errorf("spill: managed memory: %w", err)
	}
	return NewBudget(n), nil
}

// TmpDirs is where spill files go: config.Config.LocalDirs (io.tmp.dirs,
// else the YARN container's LOCAL_DIRS, else os.TempDir()).
func TmpDirs(c config.Config) []string { return c.LocalDirs() }

// Stats are an operator's counters, for the job's summary and metrics.
type Stats struct {
	// Records is the records (or groups' values, for an aggregator) added.
	Records int64
	// SpilledRecords and SpilledBytes count what was written to spill files
	// (bytes as written: Arrow IPC with framing), every level included.
	SpilledRecords int64
	SpilledBytes   int64
	// Files is the spill files created; Runs the sorted runs among them.
	Files int64
	Runs  int64
	// MergePasses counts intermediate merge passes of a sort (the final
	// merge, streamed to the caller, is not one).
	MergePasses int64
	// Repartitions counts partitions that were split again with another seed
	// (aggregation, join); Depth is the deepest level reached.
	Repartitions int64
	Depth        int
	// NestedLoops counts join partitions joined by block nested loops
	// because their build side did not fit even after repartitioning.
	NestedLoops int64
	// Flushes counts the times an aggregator in flush mode (SetFlush) handed
	// its full table on instead of spilling it; FlushedGroups the groups.
	Flushes       int64
	FlushedGroups int64
	// OverBudget counts the times an operator held memory past its budget
	// because spilling could not help (one record larger than the budget, a
	// partition at the deepest level, the blocks of a merge).
	OverBudget int64
	// PeakReserved is the most bytes the operator had reserved at once.
	PeakReserved int64
}

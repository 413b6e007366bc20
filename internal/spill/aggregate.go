package spill

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"os"
	"unsafe"

	"floe/internal/codec"
)

// Combiner says how the values of a key fold into its accumulator, as
// Flink's AggregateFunction without the result step.
type Combiner[V, A any] struct {
	// Create makes the accumulator of a key from its first value.
	Create func(v V) A
	// Add folds v into acc and returns the new accumulator.
	Add func(acc A, v V) A
	// Merge combines two partial accumulators of one key (from combiners
	// before a shuffle, or from spilled partitions) and returns the result.
	Merge func(a, b A) A
}

// Group is one key and its accumulator.
type Group[K, A any] struct {
	Key K
	Acc A
}

// Aggregator groups values by key with a Combiner, within a memory budget.
// Groups live in a hash table while it fits; past the budget the table is
// written out as partial accumulators, hash-partitioned into spill files,
// and emptied. At the end each partition is aggregated on its own with
// Merge; a partition whose groups still do not fit is split again with
// another hash seed, down to WithMaxDepth levels (past it, the partition
// stays in memory over the budget: one group cannot be split).
//
// Use: Add (or AddPartial) every value, range over All, Close (defer it:
// it removes the spill files after an error too). Not safe for concurrent
// use. K, and the accumulator A, must have codecs (internal/codec).
type Aggregator[K comparable, V, A any] struct {
	fn     Combiner[V, A]
	o      options
	c      *codec.Codec[Group[K, A]]
	gshape *shape
	ashape *shape
	res    reservation
	sp     *space
	stats  Stats
	top    *aggLevel[K, V, A]
	flush  func(Group[K, A]) error // flush mode: where a full table goes (SetFlush)
	used   bool
	closed bool
}

// aggLevel is one hash table with its partitions: the top level takes the
// input, a deeper one a spilled partition of the level above.
type aggLevel[K comparable, V, A any] struct {
	a        *Aggregator[K, V, A]
	depth    int
	seed     maphash.Seed
	index    map[K]int32
	cur      Group[K, A] // the group insert is adding: by pointer to the shape's functions, not a heap copy each
	groups   []Group[K, A]
	extra    int64 // bytes the groups refer to
	parts    []*fileWriter[Group[K, A]]
	fromFile bool // groups come from spill files: copy their strings
	// The group of the last key added: inputs clustered by key (a table's
	// rows in key order, as lineitem's by order) skip the hash lookup.
	lastKey K
	lastIdx int32
	lastOK  bool
}

// find returns the index of k's group.
func (l *aggLevel[K, V, A]) find(k K) (int32, bool) {
	if l.lastOK && l.lastKey == k {
		return l.lastIdx, true
	}
	i, ok := l.index[k]
	if ok {
		l.lastKey, l.lastIdx, l.lastOK = k, i, true
	}
	return i, ok
}

// NewAggregator returns an aggregator by fn within budget.
func NewAggregator[K comparable, V, A any](fn Combiner[V, A], budget *Budget, opts ...Option) (*Aggregator[K, V, A], error) {
	c, err := codec.For[Group[K, A]]()
	if err != nil {
		return nil, fmt.Errorf("spill: aggregator keys %T and accumulators %T: %w", *new(K), *new(A), err)
	}
	if fn.Create == nil || fn.Add == nil || fn.Merge == nil {
		return nil, errors.New("spill: aggregator needs Create, Add and Merge")
	}
	if budget == nil {
		budget = NewBudget(0)
	}
	a := &Aggregator[K, V, A]{fn: fn, o: newOptions(budget, opts), c: c, gshape: shapeOf[Group[K, A]](), ashape: shapeOf[A](), res: newReservation(budget)}
	a.sp = newSpace(a.o.dirs, &a.stats)
	a.top = a.newLevel(0)
	return a, nil
}

func (a *Aggregator[K, V, A]) newLevel(depth int) *aggLevel[K, V, A] {
	a.stats.Depth = max(a.stats.Depth, depth)
	return &aggLevel[K, V, A]{a: a, depth: depth, seed: maphash.MakeSeed(), index: map[K]int32{}, fromFile: depth > 0}
}

// SetFlush puts the aggregator in flush mode, for a combiner before a
// shuffle: when its table is full it hands every group to fn (a partial
// accumulator, to be merged after the shuffle) and empties the table,
// instead of writing it to spill files. Nothing it aggregates then spills;
// a key may reach fn more than once, and All yields what is left at the
// end. fn is called from Add and AddPartial; an error it returns is
// theirs. Call it before the first Add.
func (a *Aggregator[K, V, A]) SetFlush(fn func(Group[K, A]) error) { a.flush = fn }

// Add folds v into the group of k.
func (a *Aggregator[K, V, A]) Add(ctx context.Context, k K, v V) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	l := a.top
	if i, ok := l.find(k); ok {
		g := &l.groups[i]
		if a.ashape.extra == nil {
			g.Acc = a.fn.Add(g.Acc, v)
			return nil
		}
		before := a.ashape.extra(unsafe.Pointer(&g.Acc))
		g.Acc = a.fn.Add(g.Acc, v)
		l.extra += a.ashape.extra(unsafe.Pointer(&g.Acc)) - before
		return l.fit()
	}
	return l.insert(k, a.fn.Create(v))
}

// Groups is the number of groups in the in-memory table now.
func (a *Aggregator[K, V, A]) Groups() int { return len(a.top.groups) }

// AddPartial merges acc, a partial accumulator of k (from a combiner before
// a shuffle), into k's group.
func (a *Aggregator[K, V, A]) AddPartial(ctx context.Context, k K, acc A) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	return a.top.merge(k, acc)
}

func (a *Aggregator[K, V, A]) check(ctx context.Context) error {
	if a.closed {
		return ErrClosed
	}
	if a.used {
		return errors.New("spill: aggregator: Add after All")
	}
	a.stats.Records++
	if a.stats.Records%ctxEvery == 0 {
		return ctx.Err()
	}
	return nil
}

// perGroup is the table's cost of one group beyond the group itself: its
// index entry.
func (l *aggLevel[K, V, A]) perGroup() int64 {
	return int64(unsafe.Sizeof(*new(K))) + 4 + mapEntryOverhead
}

// cost is the estimated bytes of the table.
func (l *aggLevel[K, V, A]) cost() int64 {
	return int64(cap(l.groups))*l.a.gshape.fixed + int64(len(l.index))*l.perGroup() + l.extra + l.partsCost()
}

// partsCost is what open partition writers buffer: a block and a message each.
func (l *aggLevel[K, V, A]) partsCost() int64 {
	if l.parts == nil {
		return 0
	}
	return int64(len(l.parts)) * 2 * l.a.o.partBlock
}

func (l *aggLevel[K, V, A]) merge(k K, acc A) error {
	if i, ok := l.find(k); ok {
		g := &l.groups[i]
		if l.a.ashape.extra == nil {
			g.Acc = l.a.fn.Merge(g.Acc, acc)
			return nil
		}
		before := l.a.ashape.extra(unsafe.Pointer(&g.Acc))
		g.Acc = l.a.fn.Merge(g.Acc, acc)
		if l.fromFile && l.a.ashape.own != nil {
			l.a.ashape.own(unsafe.Pointer(&g.Acc))
		}
		l.extra += l.a.ashape.extra(unsafe.Pointer(&g.Acc)) - before
		return l.fit()
	}
	return l.insert(k, acc)
}

// insert adds a new group, spilling the table first when it would not fit.
func (l *aggLevel[K, V, A]) insert(k K, acc A) error {
	l.cur = Group[K, A]{Key: k, Acc: acc}
	g := &l.cur
	if l.fromFile && l.a.gshape.own != nil {
		// Decoded strings share their block's buffer; a kept group must
		// not keep the whole block.
		l.a.gshape.own(unsafe.Pointer(g))
	}
	x := l.a.gshape.size(unsafe.Pointer(g)) - l.a.gshape.fixed
	for {
		c := cap(l.groups)
		if len(l.groups) == c {
			c = max(2*c, 64)
		}
		need := int64(c)*l.a.gshape.fixed + int64(len(l.index)+1)*l.perGroup() + l.extra + x + l.partsCost()
		if l.a.res.ensure(need) {
			break
		}
		if len(l.groups) == 0 || l.depth >= l.a.o.maxDepth {
			l.a.res.force(need)
			break
		}
		if err := l.spill(); err != nil {
			return err
		}
	}
	if len(l.groups) == cap(l.groups) {
		grown := make([]Group[K, A], len(l.groups), max(2*cap(l.groups), 64))
		copy(grown, l.groups)
		l.groups = grown
	}
	l.index[k] = int32(len(l.groups))
	l.lastKey, l.lastIdx, l.lastOK = k, int32(len(l.groups)), true
	l.groups = append(l.groups, *g)
	l.cur = Group[K, A]{}
	l.extra += x
	return nil
}

// fit spills when an accumulator that grew took the table past the budget.
func (l *aggLevel[K, V, A]) fit() error {
	need := l.cost()
	if l.a.res.ensure(need) {
		return nil
	}
	if l.depth >= l.a.o.maxDepth || len(l.groups) <= 1 {
		l.a.res.force(need)
		return nil
	}
	return l.spill()
}

// spill writes every group to its partition's file and empties the table
// (or, in flush mode, hands the groups on: see SetFlush).
func (l *aggLevel[K, V, A]) spill() error {
	if l.a.flush != nil && l.depth == 0 {
		return l.flushAll()
	}
	if l.parts == nil {
		l.parts = make([]*fileWriter[Group[K, A]], l.a.o.partitions)
		if l.depth > 0 {
			l.a.stats.Repartitions++
		}
	}
	for i := range l.groups {
		g := &l.groups[i]
		p := maphash.Comparable(l.seed, g.Key) % uint64(len(l.parts))
		w := l.parts[p]
		if w == nil {
			var err error
			if w, err = newFileWriter(l.a.sp, l.a.c, fmt.Sprintf("agg-l%d-p%d", l.depth, p), l.a.o.partBlock); err != nil {
				return err
			}
			l.parts[p] = w
		}
		if err := w.add(g); err != nil {
			return err
		}
	}
	l.a.o.log.Debug().Int("groups", len(l.groups)).Int("depth", l.depth).Msg("aggregate: spilled the table")
	clear(l.groups)
	l.groups = l.groups[:0]
	l.index = map[K]int32{}
	l.lastOK = false
	l.extra = 0
	l.a.res.shrink(l.cost())
	return nil
}

// flushAll hands every group of the table to the flush function and
// empties the table.
func (l *aggLevel[K, V, A]) flushAll() error {
	n := len(l.groups)
	for i := range l.groups {
		if err := l.a.flush(l.groups[i]); err != nil {
			return err
		}
	}
	l.a.stats.Flushes++
	l.a.stats.FlushedGroups += int64(n)
	l.a.o.log.Debug().Int("groups", n).Msg("aggregate: flushed the full table")
	clear(l.groups)
	l.groups = l.groups[:0]
	l.index = map[K]int32{}
	l.lastOK = false
	l.extra = 0
	l.a.res.shrink(l.cost())
	return nil
}

// emit yields the level's groups: the table's when nothing spilled, else
// every partition's, aggregated one partition at a time.
func (l *aggLevel[K, V, A]) emit(ctx context.Context, yield func(Group[K, A]) bool) (bool, error) {
	if l.parts == nil {
		for i, g := range l.groups {
			if i%ctxEvery == ctxEvery-1 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			if !yield(g) {
				return false, nil
			}
		}
		l.release()
		return true, nil
	}
	if err := l.spill(); err != nil {
		return false, err
	}
	names := make([]string, len(l.parts))
	for i, w := range l.parts {
		if w == nil {
			continue
		}
		name, err := w.finish()
		l.parts[i] = nil
		if err != nil {
			return false, err
		}
		names[i] = name
	}
	l.release()
	for i, name := range names {
		if name == "" {
			continue
		}
		sub := l.a.newLevel(l.depth + 1)
		n := 0
		err := eachRecord(l.a.c, name, func(g *Group[K, A]) error {
			n++
			if n%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			return sub.merge(g.Key, g.Acc)
		})
		_ = os.Remove(name)
		names[i] = ""
		if err != nil {
			sub.release()
			return false, err
		}
		more, err := sub.emit(ctx, yield)
		if err != nil || !more {
			sub.release()
			return false, err
		}
	}
	return true, nil
}

// release drops the level's table and open partition files.
func (l *aggLevel[K, V, A]) release() {
	for i, w := range l.parts {
		if w != nil {
			w.abort()
			l.parts[i] = nil
		}
	}
	l.parts = nil
	l.groups, l.index, l.extra, l.lastOK = nil, nil, 0, false
	l.a.res.shrink(0)
}

// All yields every group once, in no particular order, then stops; an
// error is yielded once, with a zero group, and ends the sequence. It can
// be ranged over once.
func (a *Aggregator[K, V, A]) All(ctx context.Context) iter.Seq2[Group[K, A], error] {
	return func(yield func(Group[K, A], error) bool) {
		if a.closed {
			yield(Group[K, A]{}, ErrClosed)
			return
		}
		if a.used {
			yield(Group[K, A]{}, ErrConsumed)
			return
		}
		a.used = true
		var stopped bool
		_, err := a.top.emit(ctx, func(g Group[K, A]) bool {
			if !yield(g, nil) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil && !stopped {
			yield(Group[K, A]{}, err)
		}
	}
}

// Stats returns the aggregator's counters so far.
func (a *Aggregator[K, V, A]) Stats() Stats {
	st := a.stats
	st.PeakReserved = a.res.peak
	st.OverBudget = a.res.forced
	return st
}

// Close removes the spill files and gives the memory back. It may be called
// more than once, and after a failure.
func (a *Aggregator[K, V, A]) Close() error {
	if a.closed {
		return nil
	}
	a.closed = true
	a.top.release()
	return a.sp.close()
}

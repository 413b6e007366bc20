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

// MergeJoin is a sort-merge join of left records L and right records R on
// keys K, within a memory budget: for two inputs that are both too large
// for a hash table. Each side goes into its own Sorter (half the budget
// each, spilling runs past it) ordered by a hash of its key, so that equal
// keys are adjacent and both sides come out in one order; then the two
// sorted streams are merged. Under one hash, the right side's records are
// held (in memory while they fit what the budget has left, else in a spill
// file), and the left side's records are matched against them in blocks
// (block nested loops over the file for a key too large for memory: a
// skewed key costs one pass over its right records per block of its left
// ones, not memory). Keys are compared with == within a hash, so two keys
// whose hashes collide do not join.
//
// The join type's "build" side is the left input: LeftOuterJoin emits
// unmatched left records with a nil right, RightOuterJoin unmatched right
// records with a nil left, FullOuterJoin both.
//
// Use: AddLeft and AddRight in any order, then Finish once, then Close
// (defer it: it removes the spill files after an error too). Not safe for
// concurrent use. L, R and K-free wrappers of them must have codecs
// (internal/codec).
type MergeJoin[K comparable, L, R any] struct {
	jt     JoinType
	keyL   func(L) K
	keyR   func(R) K
	seed   maphash.Seed
	o      options
	left   *Sorter[hashed[L]]
	right  *Sorter[hashed[R]]
	rc     *codec.Codec[hashed[R]]
	lshape *shape
	rshape *shape
	res    reservation // the run and the block during the merge
	sp     *space
	stats  Stats
	done   bool
	closed bool
}

// hashed is a record with the hash of its key: what the sorters order by.
type hashed[T any] struct {
	Hash uint64
	V    T
}

// mergeBlockMax is the most left records matched against a run at once.
const mergeBlockMax = 4096

// NewMergeJoin returns a sort-merge join of type jt within budget.
func NewMergeJoin[K comparable, L, R any](jt JoinType, keyL func(L) K, keyR func(R) K, budget *Budget, opts ...Option) (*MergeJoin[K, L, R], error) {
	if budget == nil {
		budget = NewBudget(0)
	}
	halves := budget.Split(2)
	byHashL := func(a, b hashed[L]) int { return cmpUint(a.Hash, b.Hash) }
	byHashR := func(a, b hashed[R]) int { return cmpUint(a.Hash, b.Hash) }
	left, err := NewSorter(byHashL, halves[0], opts...)
	if err != nil {
		return nil, fmt.Errorf("spill: merge join, left side: %w", err)
	}
	right, err := NewSorter(byHashR, halves[1], opts...)
	if err != nil {
		_ = left.Close()
		return nil, fmt.Errorf("spill: merge join, right side: %w", err)
	}
	j := &MergeJoin[K, L, R]{jt: jt, keyL: keyL, keyR: keyR, seed: maphash.MakeSeed(), o: newOptions(budget, opts),
		left: left, right: right, rc: right.c, lshape: shapeOf[L](), rshape: shapeOf[R](), res: newReservation(budget)}
	j.sp = newSpace(j.o.dirs, &j.stats)
	return j, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AddLeft adds a record of the left input.
func (j *MergeJoin[K, L, R]) AddLeft(ctx context.Context, v L) error {
	if j.done {
		return errors.New("spill: merge join: AddLeft after Finish")
	}
	return j.left.Add(ctx, hashed[L]{Hash: maphash.Comparable(j.seed, j.keyL(v)), V: v})
}

// AddRight adds a record of the right input.
func (j *MergeJoin[K, L, R]) AddRight(ctx context.Context, v R) error {
	if j.done {
		return errors.New("spill: merge join: AddRight after Finish")
	}
	return j.right.Add(ctx, hashed[R]{Hash: maphash.Comparable(j.seed, j.keyR(v)), V: v})
}

// mergeRun is the right records of one hash: in memory, or in a file once
// they outgrew the budget.
type mergeRun[K comparable, R any] struct {
	rows    []R
	keys    []K
	extra   int64 // bytes rows refer to
	file    *fileWriter[hashed[R]]
	name    string
	n       int
	matched []bool
}

// Finish ends both inputs and emits the join's results to emit: every pair
// with equal keys, and the unmatched records the join type keeps, with nil
// for the missing side. The pointers are valid only during the call.
func (j *MergeJoin[K, L, R]) Finish(ctx context.Context, emit Emit[L, R]) error {
	if j.closed {
		return ErrClosed
	}
	if j.done {
		return ErrConsumed
	}
	j.done = true
	nextL, stopL := iter.Pull2(j.left.All(ctx))
	defer stopL()
	nextR, stopR := iter.Pull2(j.right.All(ctx))
	defer stopR()
	l, lok, err := pull(nextL)
	if err != nil {
		return err
	}
	r, rok, err := pull(nextR)
	if err != nil {
		return err
	}
	keepL, keepR := j.jt.buildOuter(), j.jt.probeOuter()
	run := &mergeRun[K, R]{}
	defer j.dropRun(run)
	var block []L
	var blockKeys []K
	var blockMatched []bool
	var blockCost int64 // bytes the block holds
	keySize := int64(unsafe.Sizeof(*new(K)))
	n := 0
	for lok || rok {
		if n++; n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !rok || (lok && l.Hash < r.Hash) {
			if keepL {
				if err := emit(&l.V, nil); err != nil {
					return err
				}
			}
			if l, lok, err = pull(nextL); err != nil {
				return err
			}
			continue
		}
		if !lok || r.Hash < l.Hash {
			if keepR {
				if err := emit(nil, &r.V); err != nil {
					return err
				}
			}
			if r, rok, err = pull(nextR); err != nil {
				return err
			}
			continue
		}
		// Both sides have hash h: hold the right run, match the left run in blocks.
		h := l.Hash
		for rok && r.Hash == h {
			if err := j.addRun(run, r); err != nil {
				return err
			}
			if r, rok, err = pull(nextR); err != nil {
				return err
			}
		}
		if err := j.sealRun(run); err != nil {
			return err
		}
		for lok && l.Hash == h {
			block = append(block, l.V)
			blockKeys = append(blockKeys, j.keyL(l.V))
			blockCost += j.lshape.size(unsafe.Pointer(&l.V)) + keySize + 1
			if l, lok, err = pull(nextL); err != nil {
				return err
			}
			// A block holds at least one record, over the budget if it must.
			full := len(block) >= mergeBlockMax || !j.res.ensure(j.runCost(run)+blockCost)
			if full || !lok || l.Hash != h {
				blockMatched = append(blockMatched[:0], make([]bool, len(block))...)
				if err := j.matchBlock(run, block, blockKeys, blockMatched, emit); err != nil {
					return err
				}
				if keepL {
					for i := range block {
						if !blockMatched[i] {
							if err := emit(&block[i], nil); err != nil {
								return err
							}
						}
					}
				}
				clear(block)
				block, blockKeys, blockCost = block[:0], blockKeys[:0], 0
				j.res.shrink(j.runCost(run))
			}
		}
		if keepR {
			if err := j.eachRun(run, func(i int, v *R, _ K) error {
				if !run.matched[i] {
					return emit(nil, v)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		j.dropRun(run)
		*run = mergeRun[K, R]{}
	}
	return nil
}

// pull is the next record of a sorted side; false at the end.
func pull[T any](next func() (T, error, bool)) (T, bool, error) {
	v, err, ok := next()
	if !ok {
		var zero T
		return zero, false, nil
	}
	if err != nil {
		return v, false, err
	}
	return v, true, nil
}

// runCost is the memory the run holds.
func (j *MergeJoin[K, L, R]) runCost(run *mergeRun[K, R]) int64 {
	return int64(cap(run.rows))*(j.rshape.fixed+int64(unsafe.Sizeof(*new(K)))) + run.extra + int64(len(run.matched))
}

// addRun adds a right record to the run, moving the run to a file when it
// no longer fits.
func (j *MergeJoin[K, L, R]) addRun(run *mergeRun[K, R], r hashed[R]) error {
	run.n++
	if run.file != nil {
		return run.file.add(&r)
	}
	x := j.rshape.size(unsafe.Pointer(&r.V)) - j.rshape.fixed
	c := cap(run.rows)
	if len(run.rows) == c {
		c = max(2*c, 16)
	}
	need := int64(c)*(j.rshape.fixed+int64(unsafe.Sizeof(*new(K)))) + run.extra + x
	if j.res.ensure(need) || len(run.rows) == 0 {
		if len(run.rows) == 0 {
			j.res.force(need)
		}
		run.rows = append(run.rows, r.V)
		run.keys = append(run.keys, j.keyR(r.V))
		run.extra += x
		return nil
	}
	// The run outgrew the budget: it goes to a file, read once per block of
	// left records.
	w, err := newFileWriter(j.sp, j.rc, "merge-run", j.o.blockBytes)
	if err != nil {
		return err
	}
	run.file = w
	for i := range run.rows {
		if err := w.add(&hashed[R]{Hash: r.Hash, V: run.rows[i]}); err != nil {
			return err
		}
	}
	run.rows, run.keys, run.extra = nil, nil, 0
	j.res.shrink(0)
	j.stats.NestedLoops++
	return w.add(&r)
}

// sealRun ends the run's input: a file run is closed for reading.
func (j *MergeJoin[K, L, R]) sealRun(run *mergeRun[K, R]) error {
	run.matched = make([]bool, run.n)
	if run.file == nil {
		return nil
	}
	name, err := run.file.finish()
	run.file = nil
	if err != nil {
		return err
	}
	run.name = name
	return nil
}

// eachRun calls fn for every record of the run with its index and key.
func (j *MergeJoin[K, L, R]) eachRun(run *mergeRun[K, R], fn func(i int, v *R, k K) error) error {
	if run.name == "" {
		for i := range run.rows {
			if err := fn(i, &run.rows[i], run.keys[i]); err != nil {
				return err
			}
		}
		return nil
	}
	i := 0
	return eachRecord(j.rc, run.name, func(r *hashed[R]) error {
		err := fn(i, &r.V, j.keyR(r.V))
		i++
		return err
	})
}

// matchBlock emits every pair of a left record of the block and a right
// record of the run with equal keys.
func (j *MergeJoin[K, L, R]) matchBlock(run *mergeRun[K, R], block []L, keys []K, matched []bool, emit Emit[L, R]) error {
	return j.eachRun(run, func(i int, v *R, k K) error {
		for b := range block {
			if keys[b] != k {
				continue
			}
			matched[b] = true
			run.matched[i] = true
			if err := emit(&block[b], v); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropRun removes the run's file and gives back its memory.
func (j *MergeJoin[K, L, R]) dropRun(run *mergeRun[K, R]) {
	if run.file != nil {
		run.file.abort()
		run.file = nil
	}
	if run.name != "" {
		_ = os.Remove(run.name)
		run.name = ""
	}
	run.rows, run.keys = nil, nil
	j.res.shrink(0)
}

// Stats returns the join's counters so far: both sorts' and the merge's.
func (j *MergeJoin[K, L, R]) Stats() Stats {
	st := j.stats
	for _, s := range []Stats{j.left.Stats(), j.right.Stats()} {
		st.Records += s.Records
		st.SpilledRecords += s.SpilledRecords
		st.SpilledBytes += s.SpilledBytes
		st.Files += s.Files
		st.Runs += s.Runs
		st.MergePasses += s.MergePasses
		st.OverBudget += s.OverBudget
		st.PeakReserved += s.PeakReserved
	}
	st.PeakReserved += j.res.peak
	st.OverBudget += j.res.forced
	return st
}

// Close removes the spill files and gives the memory back. It may be called
// more than once, and after a failure.
func (j *MergeJoin[K, L, R]) Close() error {
	if j.closed {
		return nil
	}
	j.closed = true
	j.res.shrink(0)
	return errors.Join(j.left.Close(), j.right.Close(), j.sp.close())
}

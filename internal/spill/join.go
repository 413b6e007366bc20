package spill

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"unsafe"

	"floe/internal/codec"
	"floe/internal/keygroup"
)

// JoinType says which unmatched records a join emits. The build side is the
// left input, the probe side the right one: a caller that builds on its
// right input swaps LeftOuterJoin and RightOuterJoin (Swap).
type JoinType uint8

const (
	// InnerJoin emits only pairs of records with equal keys.
	InnerJoin JoinType = iota
	// LeftOuterJoin also emits every unmatched build record, with a nil probe.
	LeftOuterJoin
	// RightOuterJoin also emits every unmatched probe record, with a nil build.
	RightOuterJoin
	// FullOuterJoin emits the unmatched records of both sides.
	FullOuterJoin
)

func (t JoinType) buildOuter() bool { return t == LeftOuterJoin || t == FullOuterJoin }
func (t JoinType) probeOuter() bool { return t == RightOuterJoin || t == FullOuterJoin }

// Swap is the join type with the sides exchanged.
func (t JoinType) Swap() JoinType {
	switch t {
	case LeftOuterJoin:
		return RightOuterJoin
	case RightOuterJoin:
		return LeftOuterJoin
	}
	return t
}

func (t JoinType) String() string {
	switch t {
	case InnerJoin:
		return "inner"
	case LeftOuterJoin:
		return "left outer"
	case RightOuterJoin:
		return "right outer"
	case FullOuterJoin:
		return "full outer"
	}
	return fmt.Sprintf("JoinType(%d)", uint8(t))
}

// Emit receives one result of a join: a pair with equal keys, or an
// unmatched record of an outer side with the other side nil. The pointers
// are valid only during the call (copy the values to keep them); an error
// ends the join with it.
type Emit[B, P any] func(build *B, probe *P) error

// HashJoin is a hybrid hash join of build records B and probe records P on
// keys K, within a memory budget. Build records are hash-partitioned; while
// they fit, all partitions stay in memory. Past the budget the largest
// partitions go to spill files, and so do the probe records that fall into
// them; the other probe records are joined at once. At Finish every spilled
// partition is joined on its own, by a new hash join with another seed (so
// one too large for memory is split again); a partition whose build side
// does not shrink when split (one key holding most of it), or that is still
// too large at WithMaxDepth, is joined by block nested loops over its spill
// files: as much of the build side as fits, against the whole probe side,
// then the next block.
//
// Use: Build every build record, then Probe every probe record, then
// Finish, then Close (defer it: it removes the spill files after an error
// too). Results come to the Emit callbacks of Probe and Finish, in no
// particular order. Not safe for concurrent use. B and P must have codecs
// (internal/codec).
type HashJoin[K comparable, B, P any] struct {
	jt       JoinType
	buildKey func(B) K
	probeKey func(P) K
	o        options
	bc       *codec.Codec[B]
	pc       *codec.Codec[P]
	bshape   *shape
	pshape   *shape
	res      reservation
	sp       *space
	stats    Stats
	top      *joinLevel[K, B, P]
	intKeys  bool // K is an 8-byte integer: tables are intTables, partitions by keygroup.Mix
	// The record of the Build or Probe call under way: the level's code
	// takes it by pointer, which would move every argument to the heap.
	curB     B
	curP     P
	finished bool
	closed   bool
}

// NewHashJoin returns a join of type jt on buildKey(b) == probeKey(p).
func NewHashJoin[K comparable, B, P any](jt JoinType, buildKey func(B) K, probeKey func(P) K, budget *Budget, opts ...Option) (*HashJoin[K, B, P], error) {
	bc, err := codec.For[B]()
	if err != nil {
		return nil, fmt.Errorf("spill: join build side %T: %w", *new(B), err)
	}
	pc, err := codec.For[P]()
	if err != nil {
		return nil, fmt.Errorf("spill: join probe side %T: %w", *new(P), err)
	}
	if jt > FullOuterJoin {
		return nil, fmt.Errorf("spill: unknown join type %d", jt)
	}
	if budget == nil {
		budget = NewBudget(0)
	}
	j := &HashJoin[K, B, P]{jt: jt, buildKey: buildKey, probeKey: probeKey, o: newOptions(budget, opts), bc: bc, pc: pc,
		bshape: shapeOf[B](), pshape: shapeOf[P](), res: newReservation(budget), intKeys: intKeys[K]()}
	j.sp = newSpace(j.o.dirs, &j.stats)
	j.top = j.newLevel(0)
	return j, nil
}

// joinLevel is one partitioned hash join: the top level takes the input, a
// deeper one a spilled partition of the level above.
type joinLevel[K comparable, B, P any] struct {
	j      *HashJoin[K, B, P]
	depth  int
	seed   maphash.Seed
	iseed  uint64 // the seed of integer keys' partitions and tables
	parts  []joinPart[K, B, P]
	builds int64 // build records given to this level
	mem    int64 // estimated bytes held: records, tables, writers' buffers
	built  bool
	// The last probe key of an in-memory partition and where its matches
	// start: a probe side clustered by key (lineitem by order) hashes each
	// key once. Partitions do not change once probing has begun.
	lastKey   K
	lastPart  *joinPart[K, B, P]
	lastFirst int32
}

type joinPart[K comparable, B, P any] struct {
	recs    []B
	bytes   int64 // cap(recs)*fixed + what the records refer to
	spilled bool
	bw      *fileWriter[B]
	pw      *fileWriter[P]
	nBuild  int64
	tab     table[K]
	matched []bool
}

// table is a hash index of records by key: head of a chain per key, next
// links (-1 ends a chain). 8-byte integer keys are indexed by an intTable,
// others by a Go map.
type table[K comparable] struct {
	head map[K]int32
	ints *intTable
	next []int32
}

// build indexes key(0..n-1); ints says K is an 8-byte integer, seed is the
// intTable's.
func (t *table[K]) build(n int, key func(i int) K, ints bool, seed uint64) {
	t.next = make([]int32, n)
	if ints {
		t.ints = &intTable{}
		t.ints.build(n, func(i int) uint64 { return asUint64(key(i)) }, t.next, seed)
		return
	}
	t.head = make(map[K]int32, n)
	for i := range n {
		k := key(i)
		if h, ok := t.head[k]; ok {
			t.next[i] = h
		} else {
			t.next[i] = -1
		}
		t.head[k] = int32(i)
	}
}

func (t *table[K]) built() bool { return t.head != nil || t.ints != nil }

func (t *table[K]) first(k K) int32 {
	if t.ints != nil {
		return t.ints.first(asUint64(k))
	}
	if h, ok := t.head[k]; ok {
		return h
	}
	return -1
}

func (j *HashJoin[K, B, P]) newLevel(depth int) *joinLevel[K, B, P] {
	j.stats.Depth = max(j.stats.Depth, depth)
	seed := maphash.MakeSeed()
	return &joinLevel[K, B, P]{j: j, depth: depth, seed: seed, iseed: maphash.Comparable(seed, uint64(depth)),
		parts: make([]joinPart[K, B, P], j.o.partitions)}
}

// tableCost is the estimated bytes of a table over n records and their
// matched flags.
func (j *HashJoin[K, B, P]) tableCost(n int) int64 {
	if j.intKeys {
		return int64(n)*(4+1) + intTableCost(n)
	}
	return int64(n) * (4 + 1 + int64(unsafe.Sizeof(*new(K))) + 4 + mapEntryOverhead)
}

func (j *HashJoin[K, B, P]) writerCost() int64 { return 2 * j.o.partBlock }

func (j *HashJoin[K, B, P]) tick(ctx context.Context) error {
	j.stats.Records++
	if j.stats.Records%ctxEvery == 0 {
		return ctx.Err()
	}
	return nil
}

// Build adds one build record.
func (j *HashJoin[K, B, P]) Build(ctx context.Context, b B) error {
	if j.closed {
		return ErrClosed
	}
	if j.top.built {
		return errors.New("spill: join: Build after Probe or Finish")
	}
	if err := j.tick(ctx); err != nil {
		return err
	}
	j.curB = b
	return j.top.add(&j.curB)
}

func (l *joinLevel[K, B, P]) part(k K) *joinPart[K, B, P] {
	if l.j.intKeys {
		return &l.parts[reduce(keygroup.Mix(asUint64(k)^l.iseed), len(l.parts))]
	}
	return &l.parts[maphash.Comparable(l.seed, k)%uint64(len(l.parts))]
}

func (l *joinLevel[K, B, P]) add(b *B) error {
	j := l.j
	l.builds++
	p := l.part(j.buildKey(*b))
	p.nBuild++
	if p.spilled {
		return p.bw.add(b)
	}
	sz := j.bshape.size(unsafe.Pointer(b))
	grow := sz
	if len(p.recs) == cap(p.recs) {
		grow += int64(max(cap(p.recs), 16)) * j.bshape.fixed // doubling
	}
	for !j.res.ensure(l.mem + grow) {
		spilled, err := l.spillLargest()
		if err != nil {
			return err
		}
		if !spilled {
			j.res.force(l.mem + grow)
			break
		}
		if p.spilled {
			return p.bw.add(b)
		}
	}
	before := int64(cap(p.recs)) * j.bshape.fixed
	p.recs = append(p.recs, *b)
	after := int64(cap(p.recs)) * j.bshape.fixed
	p.bytes += after - before + sz - j.bshape.fixed
	l.mem += after - before + sz - j.bshape.fixed
	return nil
}

// spillLargest writes the largest partition still in memory to a spill
// file; false when none is left.
func (l *joinLevel[K, B, P]) spillLargest() (bool, error) {
	j := l.j
	best := -1
	for i := range l.parts {
		p := &l.parts[i]
		if !p.spilled && len(p.recs) > 0 && (best < 0 || p.bytes > l.parts[best].bytes) {
			best = i
		}
	}
	if best < 0 {
		return false, nil
	}
	p := &l.parts[best]
	w, err := newFileWriter(j.sp, j.bc, fmt.Sprintf("join-l%d-p%d-build", l.depth, best), j.o.partBlock)
	if err != nil {
		return false, err
	}
	p.bw = w
	if err := w.writeAll(p.recs); err != nil {
		return false, err
	}
	j.o.log.Debug().Int("records", len(p.recs)).Int("partition", best).Int("depth", l.depth).Msg("join: spilled a build partition")
	if p.tab.built() {
		l.mem -= j.tableCost(len(p.recs))
		p.tab, p.matched = table[K]{}, nil
	}
	l.mem += 2*j.writerCost() - p.bytes // its build writer now, its probe writer later
	p.recs, p.bytes, p.spilled = nil, 0, true
	j.res.shrink(l.mem)
	return true, nil
}

// endBuild indexes the partitions left in memory, spilling more of them if
// their tables would not fit.
func (l *joinLevel[K, B, P]) endBuild() error {
	if l.built {
		return nil
	}
	l.built = true
	j := l.j
	for {
		need := l.mem
		for i := range l.parts {
			if p := &l.parts[i]; !p.spilled {
				need += j.tableCost(len(p.recs))
			}
		}
		if j.res.ensure(need) {
			break
		}
		spilled, err := l.spillLargest()
		if err != nil {
			return err
		}
		if !spilled {
			j.res.force(need)
			break
		}
	}
	for i := range l.parts {
		p := &l.parts[i]
		if p.spilled || len(p.recs) == 0 {
			continue
		}
		p.tab.build(len(p.recs), func(i int) K { return j.buildKey(p.recs[i]) }, j.intKeys, keygroup.Mix(l.iseed))
		if j.jt.buildOuter() {
			p.matched = make([]bool, len(p.recs))
		}
		l.mem += j.tableCost(len(p.recs))
	}
	return nil
}

// Probe joins one probe record: at once when its partition is in memory,
// at Finish when it was spilled.
func (j *HashJoin[K, B, P]) Probe(ctx context.Context, p P, emit Emit[B, P]) error {
	if j.closed {
		return ErrClosed
	}
	if j.finished {
		return errors.New("spill: join: Probe after Finish")
	}
	if err := j.tick(ctx); err != nil {
		return err
	}
	if err := j.top.endBuild(); err != nil {
		return err
	}
	j.curP = p
	return j.top.probe(&j.curP, emit)
}

func (l *joinLevel[K, B, P]) probe(p *P, emit Emit[B, P]) error {
	j := l.j
	k := j.probeKey(*p)
	if l.lastPart != nil && l.lastKey == k {
		return l.matches(l.lastPart, l.lastFirst, p, emit)
	}
	part := l.part(k)
	if part.spilled {
		if part.pw == nil {
			w, err := newFileWriter(j.sp, j.pc, fmt.Sprintf("join-l%d-probe", l.depth), j.o.partBlock)
			if err != nil {
				return err
			}
			part.pw = w
		}
		return part.pw.add(p)
	}
	first := int32(-1)
	if part.tab.built() {
		first = part.tab.first(k)
	}
	l.lastKey, l.lastPart, l.lastFirst = k, part, first
	return l.matches(part, first, p, emit)
}

// matches emits p with each build record of part from index first on the
// chain of its key (-1: none).
func (l *joinLevel[K, B, P]) matches(part *joinPart[K, B, P], first int32, p *P, emit Emit[B, P]) error {
	j := l.j
	hit := false
	if first >= 0 {
		for i := first; i >= 0; i = part.tab.next[i] {
			hit = true
			if part.matched != nil {
				part.matched[i] = true
			}
			if err := emit(&part.recs[i], p); err != nil {
				return err
			}
		}
	}
	if !hit && j.jt.probeOuter() {
		return emit(nil, p)
	}
	return nil
}

// Finish ends the probe input, emits the unmatched build records of an
// outer join, and joins every spilled partition.
func (j *HashJoin[K, B, P]) Finish(ctx context.Context, emit Emit[B, P]) error {
	if j.closed {
		return ErrClosed
	}
	if j.finished {
		return errors.New("spill: join: Finish called twice")
	}
	j.finished = true
	if err := j.top.endBuild(); err != nil {
		return err
	}
	return j.top.finish(ctx, emit)
}

// spilledPart is a spilled partition's two files ("" when a side is empty).
type spilledPart struct {
	build, probe string
	nBuild       int64
}

func (l *joinLevel[K, B, P]) finish(ctx context.Context, emit Emit[B, P]) error {
	j := l.j
	var todo []spilledPart
	for i := range l.parts {
		p := &l.parts[i]
		if !p.spilled {
			if p.matched != nil {
				for k, m := range p.matched {
					if !m {
						if err := emit(&p.recs[k], nil); err != nil {
							return err
						}
					}
				}
			}
			*p = joinPart[K, B, P]{}
			continue
		}
		sp := spilledPart{nBuild: p.nBuild}
		var err error
		if sp.build, err = p.bw.finish(); err != nil {
			return err
		}
		p.bw = nil
		if p.pw != nil {
			if sp.probe, err = p.pw.finish(); err != nil {
				return err
			}
			p.pw = nil
		}
		todo = append(todo, sp)
	}
	l.parts, l.mem = nil, 0
	j.res.shrink(0)
	for i, sp := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if l.depth+1 > j.o.maxDepth || (l.depth > 0 && sp.nBuild*10 >= l.builds*9) {
			err = l.nestedLoop(ctx, sp, emit)
		} else {
			err = l.subJoin(ctx, sp, emit)
		}
		for _, name := range []string{sp.build, sp.probe} {
			if name != "" {
				_ = os.Remove(name)
			}
		}
		todo[i] = spilledPart{}
		if err != nil {
			return err
		}
	}
	return nil
}

// subJoin joins a spilled partition by a new level with another seed.
func (l *joinLevel[K, B, P]) subJoin(ctx context.Context, sp spilledPart, emit Emit[B, P]) error {
	j := l.j
	sub := j.newLevel(l.depth + 1)
	defer sub.abortParts()
	if err := eachRecord(j.bc, sp.build, sub.add); err != nil {
		return err
	}
	if err := sub.endBuild(); err != nil {
		return err
	}
	if sub.parts != nil && anySpilled(sub.parts) {
		j.stats.Repartitions++
	}
	if sp.probe != "" {
		if err := eachRecord(j.pc, sp.probe, func(p *P) error { return sub.probe(p, emit) }); err != nil {
			return err
		}
	}
	return sub.finish(ctx, emit)
}

func anySpilled[K comparable, B, P any](ps []joinPart[K, B, P]) bool {
	for i := range ps {
		if ps[i].spilled {
			return true
		}
	}
	return false
}

// nestedLoop joins a spilled partition whose build side does not fit: it
// loads as much of the build file as fits half the budget, indexes it,
// joins the whole probe file against it, and goes on with the next block.
// Probe records matched by any block are remembered in a bitmap, for the
// unmatched ones of a right or full outer join at the end.
func (l *joinLevel[K, B, P]) nestedLoop(ctx context.Context, sp spilledPart, emit Emit[B, P]) error {
	j := l.j
	j.stats.NestedLoops++
	j.o.log.Debug().Int64("build", sp.nBuild).Int("depth", l.depth).Msg("join: block nested loops over a skewed partition")
	var probeHit []uint64
	chunkLimit := int64(1) << 62
	if lim := j.res.limit(); lim > 0 {
		chunkLimit = max(lim/2, 1)
	}
	br, err := openFileReader(j.bc, sp.build)
	if err != nil {
		return err
	}
	defer br.close()
	eof := false
	for !eof {
		var chunk []B
		var bytes int64
		for !eof && bytes < chunkLimit {
			rows, err := br.next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return err
			}
			chunk = append(chunk, rows...)
			for i := range rows {
				bytes += j.bshape.size(unsafe.Pointer(&rows[i]))
			}
		}
		if len(chunk) == 0 {
			break
		}
		j.res.force(bytes + j.tableCost(len(chunk)) + 2*j.o.blockBytes)
		var tab table[K]
		tab.build(len(chunk), func(i int) K { return j.buildKey(chunk[i]) }, j.intKeys, keygroup.Mix(l.iseed))
		var matched []bool
		if j.jt.buildOuter() {
			matched = make([]bool, len(chunk))
		}
		if sp.probe != "" {
			var pi int
			err := eachRecord(j.pc, sp.probe, func(p *P) error {
				n := pi
				pi++
				if n%ctxEvery == ctxEvery-1 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				for i := tab.first(j.probeKey(*p)); i >= 0; i = tab.next[i] {
					if matched != nil {
						matched[i] = true
					}
					if j.jt.probeOuter() {
						for len(probeHit) <= n/64 {
							probeHit = append(probeHit, 0)
						}
						probeHit[n/64] |= 1 << (n % 64)
					}
					if err := emit(&chunk[i], p); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for i, m := range matched {
			if !m {
				if err := emit(&chunk[i], nil); err != nil {
					return err
				}
			}
		}
		j.res.shrink(0)
	}
	if j.jt.probeOuter() && sp.probe != "" {
		var pi int
		return eachRecord(j.pc, sp.probe, func(p *P) error {
			n := pi
			pi++
			if n/64 < len(probeHit) && probeHit[n/64]&(1<<(n%64)) != 0 {
				return nil
			}
			return emit(nil, p)
		})
	}
	return nil
}

// abortParts closes and removes the files of partitions not yet joined.
func (l *joinLevel[K, B, P]) abortParts() {
	for i := range l.parts {
		p := &l.parts[i]
		if p.bw != nil {
			p.bw.abort()
		}
		if p.pw != nil {
			p.pw.abort()
		}
	}
	l.parts = nil
}

// Stats returns the join's counters so far.
func (j *HashJoin[K, B, P]) Stats() Stats {
	st := j.stats
	st.PeakReserved = j.res.peak
	st.OverBudget = j.res.forced
	return st
}

// Close removes the spill files and gives the memory back. It may be called
// more than once, and after a failure.
func (j *HashJoin[K, B, P]) Close() error {
	if j.closed {
		return nil
	}
	j.closed = true
	j.top.abortParts()
	j.res.shrink(0)
	return j.sp.close()
}

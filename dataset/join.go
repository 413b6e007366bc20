package dataset

import (
	"cmp"
	"fmt"
	"hash/maphash"

	"floe/datastream"
	"floe/internal/spill"
)

// JoinOption chooses how a join runs.
type JoinOption func(*joinConfig)

type joinConfig struct {
	buildLeft bool
	broadcast bool
	sortMerge bool
}

// BuildLeft builds the hash table from the left input (the default builds
// it from the right one): declare the smaller input as the build side.
func BuildLeft() JoinOption { return func(c *joinConfig) { c.buildLeft = true } }

// BroadcastBuild sends the whole build side to every subtask of the other
// input, which is then not shuffled: for a small build side. It cannot keep
// the build side's unmatched rows (every subtask would emit them), so a
// right outer join with BroadcastBuild needs BuildLeft, a left outer one the
// default, and a full outer join cannot broadcast.
func BroadcastBuild() JoinOption { return func(c *joinConfig) { c.broadcast = true } }

// SortMerge joins by sorting both inputs by key and merging them instead of
// building a hash table: for two inputs that are both large (each several
// times the join's memory share). Each side is sorted within half the
// join's budget (spill.Sorter, spilling runs past it), by a hash of the key,
// and the sorted sides are merged; the records of one key on the right side
// are held in memory while they fit, else in a spill file that the left
// side's records of that key are matched against in blocks. A hash join
// (the default) reads the build side once into a table that spills by
// partition; a sort-merge join writes and reads both sides about once more
// when they are larger than memory, but never holds more than a block of
// either side and one key's right records. It cannot be combined with
// BroadcastBuild; BuildLeft makes no difference to it.
func SortMerge() JoinOption { return func(c *joinConfig) { c.sortMerge = true } }

// Join is the inner equi-join of a and b: fn(x, y) for every x of a and y of
// b with keyA(x) == keyB(y). A key may be a struct for joins on several
// columns. By default both inputs are shuffled by key and a hash table is
// built from b (see BuildLeft, BroadcastBuild); records of the probe side
// that arrive before the build side has ended wait in a buffer. Table and
// buffer spill to local disk past the operator's share of the managed
// memory (a hybrid hash join).
func Join[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, fn func(x A, y B) U, opts ...JoinOption) DataSet[U] {
	return join(a, b, keyA, keyB, false, false, func(x *A, y *B, emit func(U)) { emit(fn(*x, *y)) }, "Join", opts)
}

// LeftOuterJoin is Join that also keeps the records of a without a partner:
// fn gets y == nil for them.
func LeftOuterJoin[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, fn func(x A, y *B) U, opts ...JoinOption) DataSet[U] {
	return join(a, b, keyA, keyB, true, false, func(x *A, y *B, emit func(U)) { emit(fn(*x, y)) }, "LeftOuterJoin", opts)
}

// RightOuterJoin is Join that also keeps the records of b without a
// partner: fn gets x == nil for them.
func RightOuterJoin[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, fn func(x *A, y B) U, opts ...JoinOption) DataSet[U] {
	return join(a, b, keyA, keyB, false, true, func(x *A, y *B, emit func(U)) { emit(fn(x, *y)) }, "RightOuterJoin", opts)
}

// FullOuterJoin keeps the records of both sides: fn gets nil for the
// missing partner (never both nil).
func FullOuterJoin[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, fn func(x *A, y *B) U, opts ...JoinOption) DataSet[U] {
	return join(a, b, keyA, keyB, true, true, func(x *A, y *B, emit func(U)) { emit(fn(x, y)) }, "FullOuterJoin", opts)
}

// JoinWith is the inner join with a function that emits any number of
// results per pair (a join followed by FlatMap, without the pair record).
func JoinWith[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, fn func(x A, y B, emit func(U)), opts ...JoinOption) DataSet[U] {
	return join(a, b, keyA, keyB, false, false, func(x *A, y *B, emit func(U)) { fn(*x, *y, emit) }, "Join", opts)
}

// join plans a hash join: keepA/keepB keep unmatched records of a/b; pair
// gets nil for a missing side.
func join[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, keepA, keepB bool,
	pair func(x *A, y *B, emit func(U)), name string, opts []JoinOption) DataSet[U] {
	var c joinConfig
	for _, o := range opts {
		o(&c)
	}
	env := a.env
	if c.broadcast && ((c.buildLeft && keepA) || (!c.buildLeft && keepB)) {
		env.fail(fmt.Errorf("%w: %s: the broadcast build side cannot keep its unmatched records (build the other side, or do not broadcast)", ErrInvalidJob, name))
	}
	if c.sortMerge {
		if c.broadcast {
			env.fail(fmt.Errorf("%w: %s: SortMerge and BroadcastBuild exclude each other", ErrInvalidJob, name))
		}
		return sortMergeJoin(a, b, keyA, keyB, keepA, keepB, pair, name)
	}
	if c.buildLeft {
		return hashJoin(b, a, keyB, keyA, keepB, keepA, func(y *B, x *A, emit func(U)) { pair(x, y, emit) }, name, c.broadcast)
	}
	return hashJoin(a, b, keyA, keyB, keepA, keepB, pair, name, c.broadcast)
}

// hashJoin joins probe side p with build side b.
func hashJoin[P, B any, K comparable, U any](p DataSet[P], b DataSet[B], keyP func(P) K, keyB func(B) K, keepP, keepB bool,
	pair func(x *P, y *B, emit func(U)), name string, broadcast bool) DataSet[U] {
	inP, inB := datastream.ExchangeHash(keyP), datastream.ExchangeHash(keyB)
	if broadcast {
		inP, inB = datastream.ExchangeForward[P](), datastream.ExchangeBroadcast[B]()
	}
	env := p.env
	env.holdsMemory()
	s := datastream.Transform2(p.s, b.s, name, inP, inB, func(info datastream.OperatorInfo) (datastream.BoundedOperator2[P, B, U], error) {
		m := newOpMemory(env, info)
		return &hashJoinOp[P, B, K, U]{mem: m, table: newJoinTable(keyB, keyP, keepB, keepP, m), copyOut: keepP || keepB, pair: pair}, nil
	}, datastream.ReadSecondFirst())
	if broadcast {
		s.SetParallelism(p.s.Parallelism())
	}
	return DataSet[U]{env: p.env, s: s}
}

// hashJoinOp builds a table from input 2 and probes it with input 1. In
// BATCH mode the runtime reads input 2 to its end first
// (datastream.ReadSecondFirst), and a broadcast join's forward probe side
// is chained into it; otherwise probe records that come before the build
// side has ended wait in a sort buffer without order (which spills past the
// join's budget, shared with the table) and are joined when it has.
type hashJoinOp[P, B any, K comparable, U any] struct {
	mem     *opMemory
	table   joinTable[K, B, P]
	pair    func(*P, *B, func(U))
	copyOut bool // outer joins hand the records to the user by pointer: copy them
	built   bool
	ended   int
	waiting sortBuffer[P] // probe records that came before the build side ended
	emit    func(U)
	onPair  spill.Emit[B, P]
}

func (j *hashJoinOp[P, B, K, U]) Process1(v P, emit func(U)) {
	if !j.built {
		if j.waiting == nil {
			j.waiting = newSortBuffer(func(P, P) int { return 0 }, j.mem)
		}
		j.mem.check(j.waiting.Add(j.mem.ctx, v))
		return
	}
	j.mem.check(j.table.Probe(j.mem.ctx, v, j.emitter(emit)))
}

// emitter is the table's callback that pairs records and emits the results.
func (j *hashJoinOp[P, B, K, U]) emitter(emit func(U)) spill.Emit[B, P] {
	if j.onPair == nil {
		j.emit = emit
		j.onPair = func(b *B, p *P) error {
			if j.copyOut {
				if b != nil {
					c := *b
					b = &c
				}
				if p != nil {
					c := *p
					p = &c
				}
			}
			j.pair(p, b, j.emit)
			return nil
		}
	}
	return j.onPair
}

func (j *hashJoinOp[P, B, K, U]) Process2(v B, _ func(U)) { j.mem.check(j.table.Build(j.mem.ctx, v)) }

func (j *hashJoinOp[P, B, K, U]) EndInput(input int, emit func(U)) {
	j.ended++
	if input == 2 {
		j.built = true
		if j.waiting != nil {
			for v, err := range j.waiting.All(j.mem.ctx) {
				j.mem.check(err)
				j.mem.check(j.table.Probe(j.mem.ctx, v, j.emitter(emit)))
			}
			j.mem.report()
			j.mem.check(j.waiting.Close())
		}
	}
	if j.ended == 2 {
		j.mem.check(j.table.Finish(j.mem.ctx, j.emitter(emit)))
	}
}

func (j *hashJoinOp[P, B, K, U]) Close() error {
	var err error
	if j.waiting != nil {
		err = j.waiting.Close()
	}
	if cerr := j.table.Close(); err == nil {
		err = cerr
	}
	j.mem.report()
	return err
}

// Cross is every pair of a record of a and one of small: small is sent whole
// to every subtask of a and held in memory, so it must be small.
func Cross[A, B, U any](a DataSet[A], small DataSet[B], fn func(x A, y B) U) DataSet[U] {
	none := func(A) struct{} { return struct{}{} }
	return hashJoin(a, small, none, func(B) struct{} { return struct{}{} }, false, false,
		func(x *A, y *B, emit func(U)) { emit(fn(*x, *y)) }, "Cross", true)
}

// CoGroup calls fn once per key that a or b holds, with all records of each
// side under it (one side may be empty). Both inputs are sorted together by
// a hash of the key (spilling past the operator's memory budget), so only
// the records of one key are in memory at once when fn runs.
func CoGroup[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, fn func(key K, as []A, bs []B, emit func(U))) DataSet[U] {
	env := a.env
	env.holdsMemory()
	s := datastream.Transform2(a.s, b.s, "CoGroup", datastream.ExchangeHash(keyA), datastream.ExchangeHash(keyB), func(info datastream.OperatorInfo) (datastream.BoundedOperator2[A, B, U], error) {
		m := newOpMemory(env, info)
		return &coGroupOp[A, B, K, U]{mem: m, seed: maphash.MakeSeed(), keyA: keyA, keyB: keyB, fn: fn,
			buf: newSortBuffer(func(x, y coRecord[A, B]) int { return cmp.Compare(x.Hash, y.Hash) }, m)}, nil
	})
	return DataSet[U]{env: env, s: s}
}

// coRecord is a record of either side of a CoGroup (Side 1 or 2) with the
// hash of its key, the sort key.
type coRecord[A, B any] struct {
	Hash uint64
	Side uint8
	A    A
	B    B
}

type coGroup[A, B any] struct {
	as []A
	bs []B
}

type coGroupOp[A, B any, K comparable, U any] struct {
	mem   *opMemory
	seed  maphash.Seed
	buf   sortBuffer[coRecord[A, B]]
	keyA  func(A) K
	keyB  func(B) K
	fn    func(K, []A, []B, func(U))
	ended int
}

func (c *coGroupOp[A, B, K, U]) Process1(v A, _ func(U)) {
	c.mem.check(c.buf.Add(c.mem.ctx, coRecord[A, B]{Hash: maphash.Comparable(c.seed, c.keyA(v)), Side: 1, A: v}))
}

func (c *coGroupOp[A, B, K, U]) Process2(v B, _ func(U)) {
	c.mem.check(c.buf.Add(c.mem.ctx, coRecord[A, B]{Hash: maphash.Comparable(c.seed, c.keyB(v)), Side: 2, B: v}))
}

// EndInput reads the records in hash order and calls fn for the keys of
// each run of equal hashes (one key, unless two collide).
func (c *coGroupOp[A, B, K, U]) EndInput(_ int, emit func(U)) {
	if c.ended++; c.ended < 2 {
		return
	}
	run := map[K]*coGroup[A, B]{}
	var hash uint64
	flush := func() {
		for k, g := range run {
			c.fn(k, g.as, g.bs, emit)
			delete(run, k)
		}
	}
	for r, err := range c.buf.All(c.mem.ctx) {
		c.mem.check(err)
		if r.Hash != hash {
			flush()
			hash = r.Hash
		}
		var k K
		if r.Side == 1 {
			k = c.keyA(r.A)
		} else {
			k = c.keyB(r.B)
		}
		g, ok := run[k]
		if !ok {
			g = &coGroup[A, B]{}
			run[k] = g
		}
		if r.Side == 1 {
			g.as = append(g.as, r.A)
		} else {
			g.bs = append(g.bs, r.B)
		}
	}
	flush()
}

func (c *coGroupOp[A, B, K, U]) Close() error {
	err := c.buf.Close()
	c.mem.report()
	return err
}

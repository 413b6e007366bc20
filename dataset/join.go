package dataset

import (
	"fmt"

	"floe/datastream"
)

// JoinOption chooses how a join runs.
type JoinOption func(*joinConfig)

type joinConfig struct {
	buildLeft bool
	broadcast bool
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

// Join is the inner equi-join of a and b: fn(x, y) for every x of a and y of
// b with keyA(x) == keyB(y). A key may be a struct for joins on several
// columns. By default both inputs are shuffled by key and a hash table is
// built from b (see BuildLeft, BroadcastBuild); records of the probe side
// that arrive before the build side has ended wait in memory.
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
	s := datastream.Transform2(p.s, b.s, name, inP, inB, func(datastream.OperatorInfo) (datastream.BoundedOperator2[P, B, U], error) {
		return &hashJoinOp[P, B, K, U]{table: newBuildTable[K, B](), keyP: keyP, keyB: keyB, keepP: keepP, keepB: keepB, pair: pair}, nil
	})
	if broadcast {
		s.SetParallelism(p.s.Parallelism())
	}
	return DataSet[U]{env: p.env, s: s}
}

// hashJoinOp builds a table from input 2 and probes it with input 1.
type hashJoinOp[P, B any, K comparable, U any] struct {
	table        buildTable[K, B]
	keyP         func(P) K
	keyB         func(B) K
	keepP, keepB bool
	pair         func(*P, *B, func(U))
	built        bool
	ended        int
	waiting      []P // probe records that came before the build side ended
}

func (j *hashJoinOp[P, B, K, U]) Process1(v P, emit func(U)) {
	if !j.built {
		j.waiting = append(j.waiting, v)
		return
	}
	j.probe(&v, emit)
}

func (j *hashJoinOp[P, B, K, U]) probe(v *P, emit func(U)) {
	found := j.table.Probe(j.keyP(*v), func(b *B) { j.pair(v, b, emit) })
	if !found && j.keepP {
		j.pair(v, nil, emit)
	}
}

func (j *hashJoinOp[P, B, K, U]) Process2(v B, _ func(U)) { j.table.Add(j.keyB(v), v) }

func (j *hashJoinOp[P, B, K, U]) EndInput(input int, emit func(U)) {
	j.ended++
	if input == 2 {
		j.built = true
		for i := range j.waiting {
			j.probe(&j.waiting[i], emit)
		}
		j.waiting = nil
	}
	if j.ended == 2 && j.keepB {
		j.table.Unmatched(func(b *B) { j.pair(nil, b, emit) })
	}
}

func (j *hashJoinOp[P, B, K, U]) Close() error { return j.table.Close() }

// Cross is every pair of a record of a and one of small: small is sent whole
// to every subtask of a and held in memory, so it must be small.
func Cross[A, B, U any](a DataSet[A], small DataSet[B], fn func(x A, y B) U) DataSet[U] {
	none := func(A) struct{} { return struct{}{} }
	return hashJoin(a, small, none, func(B) struct{} { return struct{}{} }, false, false,
		func(x *A, y *B, emit func(U)) { emit(fn(*x, *y)) }, "Cross", true)
}

// CoGroup calls fn once per key that a or b holds, with all records of each
// side under it (one side may be empty). Both sides of a key are held in
// memory until both inputs have ended.
func CoGroup[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, fn func(key K, as []A, bs []B, emit func(U))) DataSet[U] {
	s := datastream.Transform2(a.s, b.s, "CoGroup", datastream.ExchangeHash(keyA), datastream.ExchangeHash(keyB), func(datastream.OperatorInfo) (datastream.BoundedOperator2[A, B, U], error) {
		return &coGroupOp[A, B, K, U]{groups: map[K]*coGroup[A, B]{}, keyA: keyA, keyB: keyB, fn: fn}, nil
	})
	return DataSet[U]{env: a.env, s: s}
}

type coGroup[A, B any] struct {
	as []A
	bs []B
}

type coGroupOp[A, B any, K comparable, U any] struct {
	groups map[K]*coGroup[A, B]
	keyA   func(A) K
	keyB   func(B) K
	fn     func(K, []A, []B, func(U))
	ended  int
}

func (c *coGroupOp[A, B, K, U]) group(k K) *coGroup[A, B] {
	g, ok := c.groups[k]
	if !ok {
		g = &coGroup[A, B]{}
		c.groups[k] = g
	}
	return g
}

func (c *coGroupOp[A, B, K, U]) Process1(v A, _ func(U)) {
	g := c.group(c.keyA(v))
	g.as = append(g.as, v)
}

func (c *coGroupOp[A, B, K, U]) Process2(v B, _ func(U)) {
	g := c.group(c.keyB(v))
	g.bs = append(g.bs, v)
}

func (c *coGroupOp[A, B, K, U]) EndInput(_ int, emit func(U)) {
	if c.ended++; c.ended < 2 {
		return
	}
	for k, g := range c.groups {
		c.fn(k, g.as, g.bs, emit)
		delete(c.groups, k)
	}
}

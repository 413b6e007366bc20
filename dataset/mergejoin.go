package dataset

import (
	"floe/datastream"
	"floe/internal/spill"
)

// sortMergeJoin plans a sort-merge join of a (left) and b (right): both
// shuffled by key into a two-input operator that sorts each side and
// merges them at the end of both (spill.MergeJoin).
func sortMergeJoin[A, B any, K comparable, U any](a DataSet[A], b DataSet[B], keyA func(A) K, keyB func(B) K, keepA, keepB bool,
	pair func(x *A, y *B, emit func(U)), name string) DataSet[U] {
	env := a.env
	env.holdsMemory()
	jt := spill.InnerJoin
	switch {
	case keepA && keepB:
		jt = spill.FullOuterJoin
	case keepA:
		jt = spill.LeftOuterJoin
	case keepB:
		jt = spill.RightOuterJoin
	}
	s := datastream.Transform2(a.s, b.s, name+" (sort-merge)", datastream.ExchangeHash(keyA), datastream.ExchangeHash(keyB),
		func(info datastream.OperatorInfo) (datastream.BoundedOperator2[A, B, U], error) {
			m := newOpMemory(env, info)
			j, err := spill.NewMergeJoin(jt, keyA, keyB, m.budget, m.opts...)
			if err != nil {
				// Types without a codec: the hash join's in-memory table.
				m.noSpill(err)
				return &hashJoinOp[A, B, K, U]{mem: m, table: newJoinTable(keyB, keyA, keepB, keepA, m), copyOut: keepA || keepB, pair: pair}, nil
			}
			m.track(j.Stats)
			return &mergeJoinOp[A, B, K, U]{mem: m, j: j, copyOut: keepA || keepB, pair: pair}, nil
		})
	return DataSet[U]{env: env, s: s}
}

// mergeJoinOp feeds both inputs to a spill.MergeJoin and joins them when
// both have ended.
type mergeJoinOp[A, B any, K comparable, U any] struct {
	mem     *opMemory
	j       *spill.MergeJoin[K, A, B]
	pair    func(*A, *B, func(U))
	copyOut bool // outer joins hand the records to the user by pointer: copy them
	ended   int
}

func (o *mergeJoinOp[A, B, K, U]) Process1(v A, _ func(U)) { o.mem.check(o.j.AddLeft(o.mem.ctx, v)) }
func (o *mergeJoinOp[A, B, K, U]) Process2(v B, _ func(U)) { o.mem.check(o.j.AddRight(o.mem.ctx, v)) }

func (o *mergeJoinOp[A, B, K, U]) EndInput(_ int, emit func(U)) {
	if o.ended++; o.ended < 2 {
		return
	}
	o.mem.check(o.j.Finish(o.mem.ctx, func(x *A, y *B) error {
		if o.copyOut {
			if x != nil {
				c := *x
				x = &c
			}
			if y != nil {
				c := *y
				y = &c
			}
		}
		o.pair(x, y, emit)
		return nil
	}))
}

func (o *mergeJoinOp[A, B, K, U]) Close() error {
	err := o.j.Close()
	o.mem.report()
	return err
}

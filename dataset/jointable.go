package dataset

import (
	"context"

	"floe/internal/spill"
)

// joinTable is a hash join: Build every record of the build side, then
// Probe every record of the other side, then Finish (the unmatched build
// records of an outer join, and the spilled partitions). It is
// spill.HashJoin, a hybrid hash join that spills partitions to local disk
// past its budget; memJoinTable, a Go map without a budget, stands in for
// record types without a codec.
type joinTable[K comparable, B, P any] interface {
	Build(ctx context.Context, b B) error
	Probe(ctx context.Context, p P, emit spill.Emit[B, P]) error
	Finish(ctx context.Context, emit spill.Emit[B, P]) error
	Stats() spill.Stats
	// Close frees what the table holds and removes its files (after a
	// failure too).
	Close() error
}

// newJoinTable returns a join that keeps the unmatched build records with
// keepB, the unmatched probe records with keepP.
func newJoinTable[K comparable, B, P any](keyB func(B) K, keyP func(P) K, keepB, keepP bool, m *opMemory) joinTable[K, B, P] {
	jt := spill.InnerJoin
	switch {
	case keepB && keepP:
		jt = spill.FullOuterJoin
	case keepB:
		jt = spill.LeftOuterJoin
	case keepP:
		jt = spill.RightOuterJoin
	}
	j, err := spill.NewHashJoin(jt, keyB, keyP, m.budget, m.opts...)
	if err != nil {
		m.noSpill(err)
		return &memJoinTable[K, B, P]{m: map[K]*buildRows[B]{}, keyB: keyB, keyP: keyP, keepB: keepB, keepP: keepP}
	}
	m.track(j.Stats)
	return j
}

type buildRows[T any] struct {
	rows    []T
	matched bool
}

type memJoinTable[K comparable, B, P any] struct {
	m            map[K]*buildRows[B]
	keyB         func(B) K
	keyP         func(P) K
	keepB, keepP bool
	n            int64
}

func (t *memJoinTable[K, B, P]) Build(_ context.Context, v B) error {
	t.n++
	k := t.keyB(v)
	r, ok := t.m[k]
	if !ok {
		r = &buildRows[B]{}
		t.m[k] = r
	}
	r.rows = append(r.rows, v)
	return nil
}

func (t *memJoinTable[K, B, P]) Probe(_ context.Context, p P, emit spill.Emit[B, P]) error {
	t.n++
	r, ok := t.m[t.keyP(p)]
	if !ok {
		if t.keepP {
			return emit(nil, &p)
		}
		return nil
	}
	r.matched = true
	for i := range r.rows {
		if err := emit(&r.rows[i], &p); err != nil {
			return err
		}
	}
	return nil
}

func (t *memJoinTable[K, B, P]) Finish(_ context.Context, emit spill.Emit[B, P]) error {
	if !t.keepB {
		return nil
	}
	for _, r := range t.m {
		if r.matched {
			continue
		}
		for i := range r.rows {
			if err := emit(&r.rows[i], nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *memJoinTable[K, B, P]) Stats() spill.Stats { return spill.Stats{Records: t.n} }

func (t *memJoinTable[K, B, P]) Close() error {
	t.m = nil
	return nil
}

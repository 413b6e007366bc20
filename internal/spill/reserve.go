package spill

import "unsafe"

// reservation is what one operator holds of a Budget. Operators reserve in
// chunks so that the shared counter is touched every few hundred records,
// not per record.
type reservation struct {
	b     *Budget
	held  int64
	chunk int64
	peak  int64
	// forced counts reservations taken past the budget.
	forced int64
}

func newReservation(b *Budget) reservation {
	chunk := int64(64 << 10)
	if b.limit > 0 {
		chunk = min(max(b.limit/64, 1<<10), chunk)
	}
	return reservation{b: b, chunk: chunk}
}

// ensure holds at least need bytes, and reports false when the budget
// refuses them (the caller spills and tries again).
func (r *reservation) ensure(need int64) bool {
	if need <= r.held {
		return true
	}
	want := need - r.held
	if !r.b.reserve(max(want, r.chunk)) {
		if want >= r.chunk || !r.b.reserve(want) {
			return false
		}
		r.add(want)
		return true
	}
	r.add(max(want, r.chunk))
	return true
}

// force holds at least need bytes, over the budget if it must: an operator
// holds one record, one block per run it merges, or a group it cannot split,
// whatever the budget says.
func (r *reservation) force(need int64) {
	if r.ensure(need) {
		return
	}
	r.forced++
	r.b.force(need - r.held)
	r.add(need - r.held)
}

func (r *reservation) add(n int64) {
	r.held += n
	r.peak = max(r.peak, r.held)
}

// shrink gives back what is held beyond keep.
func (r *reservation) shrink(keep int64) {
	if r.held > keep {
		r.b.release(r.held - max(keep, 0))
		r.held = max(keep, 0)
	}
}

// limit is the most an operator may hold (0: unlimited).
func (r *reservation) limit() int64 { return r.b.limit }

func ptrOf[T any](v *T) unsafe.Pointer { return unsafe.Pointer(v) }

package spill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"unsafe"

	"floe/internal/codec"
)

// ErrConsumed is returned when an operator's results are asked for twice
// (they are streamed from spill files that are deleted as they are read).
var ErrConsumed = errors.New("spill: results already consumed")

// ctxEvery is how many records go by between checks of the context.
const ctxEvery = 1024

// Sorter is an external merge sort of T records by cmp. Records are sorted
// in memory while they fit the budget; past it, each buffer-full is sorted
// and written as a run (Arrow IPC blocks) to a spill file, and the runs are
// merged, at most the fan-in at a time, in as many passes as it takes. The
// sort is stable: records that compare equal come out in the order they
// were added.
//
// Use: Add every record, then range over All (which ends the input), then
// Close, which removes the spill files (defer it: it cleans up after an
// error too). Not safe for concurrent use.
type Sorter[T any] struct {
	cmp    func(a, b T) int
	o      options
	c      *codec.Codec[T]
	shape  *shape
	res    reservation
	sp     *space
	buf    []T
	extra  int64 // bytes buf's records refer to
	runs   []string
	stats  Stats
	done   bool // input ended
	used   bool // results handed out
	closed bool
}

// NewSorter returns a sorter by cmp (negative when a sorts before b, as
// slices.SortFunc) within budget. T must have a codec (internal/codec): its
// records go to spill files.
func NewSorter[T any](cmp func(a, b T) int, budget *Budget, opts ...Option) (*Sorter[T], error) {
	c, err := codec.For[T]()
	if err != nil {
		return nil, fmt.Errorf("spill: sorter of %T: %w", *new(T), err)
	}
	if budget == nil {
		budget = NewBudget(0)
	}
	s := &Sorter[T]{cmp: cmp, o: newOptions(budget, opts), c: c, shape: shapeOf[T](), res: newReservation(budget)}
	s.sp = newSpace(s.o.dirs, &s.stats)
	return s, nil
}

// Add adds one record.
func (s *Sorter[T]) Add(ctx context.Context, rec T) error {
	if s.closed {
		return ErrClosed
	}
	if s.done {
		return fmt.Errorf("spill: sorter: Add after All or Finish")
	}
	s.stats.Records++
	if s.stats.Records%ctxEvery == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	x := s.shape.size(unsafe.Pointer(&rec)) - s.shape.fixed
	for {
		c := cap(s.buf)
		if len(s.buf) == c {
			c = max(2*c, 256)
		}
		need := int64(c)*s.shape.fixed + s.extra + x
		if s.res.ensure(need) {
			if c > cap(s.buf) {
				s.buf = slices.Grow(s.buf, c-len(s.buf))
			}
			break
		}
		if len(s.buf) == 0 && cap(s.buf) > 256 {
			// The empty buffer alone is past the budget (append rounds
			// capacities up): start again from a small one, or every
			// record would become a run of its own.
			s.buf = nil
			s.res.shrink(0)
			continue
		}
		if len(s.buf) == 0 {
			// Not even one record fits: hold it anyway.
			s.res.force(need)
			s.buf = slices.Grow(s.buf, c-len(s.buf))
			break
		}
		if err := s.spillRun(); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, rec)
	s.extra += x
	return nil
}

// spillRun sorts the buffer and writes it as one run.
func (s *Sorter[T]) spillRun() error {
	slices.SortStableFunc(s.buf, s.cmp)
	w, err := newFileWriter(s.sp, s.c, "run", s.o.blockBytes)
	if err != nil {
		return err
	}
	if err := w.writeAll(s.buf); err != nil {
		w.abort()
		return err
	}
	name, err := w.finish()
	if err != nil {
		return err
	}
	s.o.log.Debug().Int("records", len(s.buf)).Int64("bytes", w.bytes).Int("run", len(s.runs)).Msg("sort: spilled a run")
	s.runs = append(s.runs, name)
	s.stats.Runs++
	clear(s.buf)
	s.buf = s.buf[:0]
	s.extra = 0
	s.res.shrink(int64(cap(s.buf)) * s.shape.fixed)
	return nil
}

// Finish ends the input: with spilled runs, the last buffer is spilled too
// and runs are merged until at most the fan-in are left for All to merge.
// All calls it when it has not been called.
func (s *Sorter[T]) Finish(ctx context.Context) error {
	if s.closed {
		return ErrClosed
	}
	if s.done {
		return nil
	}
	s.done = true
	if len(s.runs) == 0 {
		slices.SortStableFunc(s.buf, s.cmp)
		return nil
	}
	if len(s.buf) > 0 {
		if err := s.spillRun(); err != nil {
			return err
		}
	}
	s.buf = nil
	s.res.shrink(0)
	for len(s.runs) > s.o.fanIn {
		if err := s.mergePass(ctx); err != nil {
			return err
		}
	}
	return nil
}

// mergePass merges adjacent groups of fan-in runs into one run each (adjacent,
// so that equal records keep their order).
func (s *Sorter[T]) mergePass(ctx context.Context) error {
	var next []string
	for i := 0; i < len(s.runs); i += s.o.fanIn {
		group := s.runs[i:min(i+s.o.fanIn, len(s.runs))]
		if len(group) == 1 {
			next = append(next, group[0])
			continue
		}
		w, err := newFileWriter(s.sp, s.c, "run", s.o.blockBytes)
		if err != nil {
			return err
		}
		err = s.merge(ctx, group, func(v *T) error { return w.add(v) })
		if err != nil {
			w.abort()
			return err
		}
		name, err := w.finish()
		if err != nil {
			return err
		}
		for _, r := range group {
			_ = os.Remove(r)
		}
		next = append(next, name)
		s.stats.Runs++
	}
	s.o.log.Debug().Int("runs", len(s.runs)).Int("into", len(next)).Msg("sort: merge pass")
	s.runs = next
	s.stats.MergePasses++
	return nil
}

// cursor is one run being merged.
type cursor[T any] struct {
	r    *fileReader[T]
	rows []T
	i    int
	run  int // position of the run, which breaks ties
}

// merge streams the records of runs in order to fn.
func (s *Sorter[T]) merge(ctx context.Context, runs []string, fn func(*T) error) error {
	// One decoded block, its message and the writer's block per run.
	s.res.force(int64(len(runs)+1) * 2 * s.o.blockBytes)
	defer s.res.shrink(0)
	cs := make([]*cursor[T], 0, len(runs))
	defer func() {
		for _, c := range cs {
			c.r.close()
		}
	}()
	for i, name := range runs {
		r, err := openFileReader(s.c, name)
		if err != nil {
			return err
		}
		c := &cursor[T]{r: r, run: i}
		cs = append(cs, c)
	}
	h := make([]*cursor[T], 0, len(cs))
	for _, c := range cs {
		ok, err := c.advanceBlock()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	less := func(a, b *cursor[T]) bool {
		if d := s.cmp(a.rows[a.i], b.rows[b.i]); d != 0 {
			return d < 0
		}
		return a.run < b.run
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i, less)
	}
	n := 0
	for len(h) > 0 {
		n++
		if n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		c := h[0]
		if err := fn(&c.rows[c.i]); err != nil {
			return err
		}
		c.i++
		if c.i == len(c.rows) {
			ok, err := c.advanceBlock()
			if err != nil {
				return err
			}
			if !ok {
				h[0] = h[len(h)-1]
				h = h[:len(h)-1]
			}
		}
		if len(h) > 0 {
			siftDown(h, 0, less)
		}
	}
	return nil
}

// advanceBlock loads the cursor's next non-empty block; false at the end.
func (c *cursor[T]) advanceBlock() (bool, error) {
	for {
		rows, err := c.r.next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if len(rows) > 0 {
			c.rows, c.i = rows, 0
			return true, nil
		}
	}
}

func siftDown[E any](h []E, i int, less func(a, b E) bool) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// All ends the input (Finish) and yields the records in order, then stops;
// an error is yielded once, with a zero record, and ends the sequence. The
// records are the caller's to keep. It can be ranged over once.
func (s *Sorter[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if s.used {
			yield(zero, ErrConsumed)
			return
		}
		s.used = true
		if err := s.Finish(ctx); err != nil {
			yield(zero, err)
			return
		}
		if len(s.runs) == 0 {
			for i, v := range s.buf {
				if i%ctxEvery == ctxEvery-1 {
					if err := ctx.Err(); err != nil {
						yield(zero, err)
						return
					}
				}
				if !yield(v, nil) {
					return
				}
			}
			clear(s.buf)
			s.buf = nil
			s.res.shrink(0)
			return
		}
		stop := errors.New("stop")
		err := s.merge(ctx, s.runs, func(v *T) error {
			if !yield(*v, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(zero, err)
		}
	}
}

// Stats returns the sorter's counters so far.
func (s *Sorter[T]) Stats() Stats {
	st := s.stats
	st.PeakReserved = s.res.peak
	st.OverBudget = s.res.forced
	return st
}

// Close removes the spill files and gives the memory back. It may be called
// more than once, and after a failure.
func (s *Sorter[T]) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.buf = nil
	s.res.shrink(0)
	s.runs = nil
	return s.sp.close()
}

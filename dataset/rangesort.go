package dataset

import (
	"math/rand/v2"
	"slices"
	"sort"

	"floe/datastream"
)

// A range-partitioned sort runs in four vertices:
//
//	producer -> Range Sample (chained: a reservoir sample per subtask)
//	         -> REBALANCE -> Range Bounds (one subtask: n-1 boundaries from the weighted samples)
//	         -> BROADCAST -> Range Partition <- FORWARD <- producer (its records, held until the bounds are in)
//	         -> by range -> Range Sort (subtask i sorts range i)
//
// so the records cross the network once by range, and the total order is
// subtask 0's records, then subtask 1's, and so on.

// rangeSamplesPerRange is how many sample records each producing subtask
// keeps per range (at most rangeMaxSamples): with s samples per range in
// all, a range holds about 1/n of the records give or take 1/sqrt(s).
const (
	rangeSamplesPerRange = 256
	rangeMaxSamples      = 16384
)

// rangeSample is one sampled record and the number of records it stands for.
type rangeSample[T any] struct {
	Weight float64
	V      T
}

// rangeBound is boundary I (0-based) of the ranges.
type rangeBound[T any] struct {
	I int64
	V T
}

// rangeRecord is a record with the range it belongs to.
type rangeRecord[T any] struct {
	Range int32
	V     T
}

// RangeSort is d in total order at the environment's parallelism n: the
// input is sampled (a reservoir per subtask, weighted by its count), one
// subtask picks n-1 boundaries from the samples, every record goes to the
// subtask of its range, and each subtask sorts its range within its memory
// budget (spill.Sorter, spilling past it). Subtask i holds the i-th range,
// so a file sink after RangeSort writes part-<i>-0 files whose contents, read
// in the order of i, are the total order (the part names sort in that order
// below 10 subtasks; from 10 on, read them by the number after "part-").
// Unlike Sort, the order of equal records is unspecified: records equal to
// a boundary that many samples share (one key that dominates the input)
// are spread over the ranges that boundary closes, so a skewed key does
// not end in one subtask. Use Sort for a small result that should be one
// file; RangeSort for a large one.
func RangeSort[T any](d DataSet[T], order Order[T]) DataSet[T] {
	env := d.env
	env.holdsMemory()
	return rangePartition(d, order, "Range Sort", func(info datastream.OperatorInfo) (datastream.BoundedOperator[rangeRecord[T], T], error) {
		m := newOpMemory(env, info)
		return &rangeSortOp[T]{sortOp[T]{mem: m, buf: newSortBuffer(order, m)}}, nil
	})
}

// PartitionByRange sends the records of d to the environment's parallelism
// n of subtasks by range of order, with RangeSort's boundaries: every
// record of subtask i comes before (or ties with) every record of subtask
// i+1, in no order within a subtask.
func PartitionByRange[T any](d DataSet[T], order Order[T]) DataSet[T] {
	return rangePartition(d, order, "PartitionByRange", func(datastream.OperatorInfo) (datastream.BoundedOperator[rangeRecord[T], T], error) {
		return unwrapRange[T]{}, nil
	})
}

// rangePartition plans the sample, the boundaries and the partitioning, and
// last, the operator that reads each range.
func rangePartition[T any](d DataSet[T], order Order[T], name string, last func(datastream.OperatorInfo) (datastream.BoundedOperator[rangeRecord[T], T], error)) DataSet[T] {
	env := d.env
	var out datastream.Stream[T] // its parallelism, read when the job runs, is the number of ranges
	ranges := func() int { return max(out.Parallelism(), 1) }
	samples := datastream.Transform(d.s, "Range Sample", datastream.ExchangeForward[T](), func(info datastream.OperatorInfo) (datastream.BoundedOperator[T, rangeSample[T]], error) {
		k := min(rangeSamplesPerRange*ranges(), rangeMaxSamples)
		return &sampleOp[T]{k: k, rnd: rand.New(rand.NewPCG(uint64(info.Subtask)+1, 0x5eed))}, nil
	})
	samples.SetParallelism(d.s.Parallelism())
	bounds := datastream.Transform(samples, "Range Bounds", datastream.ExchangeRebalance[rangeSample[T]](), func(datastream.OperatorInfo) (datastream.BoundedOperator[rangeSample[T], rangeBound[T]], error) {
		return &boundsOp[T]{order: order, n: ranges()}, nil
	})
	bounds.SetParallelism(1)
	env.holdsMemory()
	tagged := datastream.Transform2(d.s, bounds, "Range Partition", datastream.ExchangeForward[T](), datastream.ExchangeBroadcast[rangeBound[T]](),
		func(info datastream.OperatorInfo) (datastream.BoundedOperator2[T, rangeBound[T], rangeRecord[T]], error) {
			m := newOpMemory(env, info)
			return &rangePartitionOp[T]{mem: m, order: order, waiting: newSortBuffer(func(T, T) int { return 0 }, m)}, nil
		})
	tagged.SetParallelism(d.s.Parallelism())
	byRange := datastream.ExchangePartition(func(r rangeRecord[T], n int) int { return min(int(r.Range), n-1) })
	out = datastream.Transform(tagged, name, byRange, last)
	return DataSet[T]{env: env, s: out}
}

// sampleOp keeps a uniform sample of k of its records (reservoir sampling)
// and emits it at the end, each sample weighted by the records it stands for.
type sampleOp[T any] struct {
	k    int
	rnd  *rand.Rand
	seen int64
	keep []T
}

func (s *sampleOp[T]) Process(v T, _ func(rangeSample[T])) {
	s.seen++
	if len(s.keep) < s.k {
		s.keep = append(s.keep, v)
		return
	}
	if j := s.rnd.Int64N(s.seen); j < int64(s.k) {
		s.keep[j] = v
	}
}

func (s *sampleOp[T]) EndInput(emit func(rangeSample[T])) {
	if len(s.keep) == 0 {
		return
	}
	w := float64(s.seen) / float64(len(s.keep))
	for _, v := range s.keep {
		emit(rangeSample[T]{Weight: w, V: v})
	}
	s.keep = nil
}

// boundsOp collects every subtask's samples and emits n-1 boundaries: the
// weighted quantiles i/n of the samples.
type boundsOp[T any] struct {
	order   Order[T]
	n       int
	samples []rangeSample[T]
}

func (b *boundsOp[T]) Process(v rangeSample[T], _ func(rangeBound[T])) {
	b.samples = append(b.samples, v)
}

func (b *boundsOp[T]) EndInput(emit func(rangeBound[T])) {
	for i, v := range chooseBounds(b.samples, b.order, b.n) {
		emit(rangeBound[T]{I: int64(i), V: v})
	}
	b.samples = nil
}

// chooseBounds is the n-1 weighted quantiles of samples (fewer when there
// are no samples): bound i is the first sample, in order, at which the
// weights so far reach (i+1)/n of their sum. Equal bounds are kept: they
// tell the partitioner that a key fills several ranges.
func chooseBounds[T any](samples []rangeSample[T], order Order[T], n int) []T {
	if len(samples) == 0 || n <= 1 {
		return nil
	}
	slices.SortStableFunc(samples, func(a, b rangeSample[T]) int { return order(a.V, b.V) })
	var total float64
	for _, s := range samples {
		total += s.Weight
	}
	bounds := make([]T, 0, n-1)
	var sum float64
	j := 0
	for i := 1; i < n; i++ {
		target := total * float64(i) / float64(n)
		for j < len(samples)-1 && sum+samples[j].Weight < target {
			sum += samples[j].Weight
			j++
		}
		bounds = append(bounds, samples[j].V)
	}
	return bounds
}

// rangeOf is the range of v among bounds: range i holds the records after
// bound i-1 up to bound i. A record equal to bounds lo..hi-1 may go to any
// of the ranges lo..hi (the ranges between hold only that key, and range hi
// starts with it), and rr spreads such records over them in turn.
func rangeOf[T any](bounds []T, order Order[T], v T, rr *int) int {
	lo := sort.Search(len(bounds), func(i int) bool { return order(bounds[i], v) >= 0 })
	if lo == len(bounds) || order(bounds[lo], v) != 0 {
		return lo
	}
	hi := lo + sort.Search(len(bounds)-lo, func(i int) bool { return order(bounds[lo+i], v) > 0 })
	*rr++
	return lo + *rr%(hi-lo+1)
}

// rangePartitionOp tags every record of input 1 with its range once the
// boundaries (input 2) have all come; records before that wait in a
// buffer without order that spills past the operator's budget.
type rangePartitionOp[T any] struct {
	mem     *opMemory
	order   Order[T]
	bounds  []rangeBound[T]
	sorted  []T
	ready   bool
	rr      int
	waiting sortBuffer[T]
}

func (r *rangePartitionOp[T]) Process1(v T, emit func(rangeRecord[T])) {
	if !r.ready {
		r.mem.check(r.waiting.Add(r.mem.ctx, v))
		return
	}
	emit(rangeRecord[T]{Range: int32(rangeOf(r.sorted, r.order, v, &r.rr)), V: v})
}

func (r *rangePartitionOp[T]) Process2(b rangeBound[T], _ func(rangeRecord[T])) {
	r.bounds = append(r.bounds, b)
}

func (r *rangePartitionOp[T]) EndInput(input int, emit func(rangeRecord[T])) {
	if input != 2 {
		return
	}
	slices.SortFunc(r.bounds, func(a, b rangeBound[T]) int { return int(a.I - b.I) })
	r.sorted = make([]T, len(r.bounds))
	for i, b := range r.bounds {
		r.sorted[i] = b.V
	}
	r.bounds = nil
	r.ready = true
	for v, err := range r.waiting.All(r.mem.ctx) {
		r.mem.check(err)
		emit(rangeRecord[T]{Range: int32(rangeOf(r.sorted, r.order, v, &r.rr)), V: v})
	}
	r.mem.report()
	r.mem.check(r.waiting.Close())
}

func (r *rangePartitionOp[T]) Close() error {
	err := r.waiting.Close()
	r.mem.report()
	return err
}

// rangeSortOp sorts the records of its range.
type rangeSortOp[T any] struct{ s sortOp[T] }

func (o *rangeSortOp[T]) Process(r rangeRecord[T], _ func(T)) { o.s.Process(r.V, nil) }
func (o *rangeSortOp[T]) EndInput(emit func(T))               { o.s.EndInput(emit) }
func (o *rangeSortOp[T]) Close() error                        { return o.s.Close() }

type unwrapRange[T any] struct{}

func (unwrapRange[T]) Process(r rangeRecord[T], emit func(T)) { emit(r.V) }
func (unwrapRange[T]) EndInput(func(T))                       {}

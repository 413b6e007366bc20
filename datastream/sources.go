package datastream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"floe/container/network"
	"floe/container/operator"
	"floe/internal/formats"
	"floe/internal/fsys"
	"floe/internal/keygroup"
)

// source is the loop of one source subtask: it emits into its output and
// returns at the end of its input (or when sc says stop). Sources with a
// position to checkpoint also implement operator.Snapshotter.
type source interface {
	run(sc *operator.SourceContext) error
}

// sourceFunc is a source without state.
type sourceFunc func(sc *operator.SourceContext) error

func (f sourceFunc) run(sc *operator.SourceContext) error { return f(sc) }

// newSource adds a source node whose subtasks run mk's loop.
func newSource[T any](env *Environment, name string, parallelism int,
	mk func(info operator.TaskInfo, out network.Output[T]) (source, closer, error)) Stream[T] {
	n := &node{name: name, parallelism: parallelism, isSource: true}
	n.build = func(info operator.TaskInfo, out any) (any, closer, error) {
		return mk(info, out.(network.Output[T]))
	}
	return newStream[T](env, n)
}

// FromSlice is a bounded source of items, in order, at parallelism 1. The
// items must be the same in every process that runs the job.
func FromSlice[T any](env *Environment, items []T) Stream[T] {
	return newSource(env, "Source: Slice", 1, func(info operator.TaskInfo, out network.Output[T]) (source, closer, error) {
		return sourceFunc(func(sc *operator.SourceContext) error {
			for _, v := range items {
				if sc.Poll() {
					return nil
				}
				out.Collect(v)
			}
			return nil
		}), nil, nil
	})
}

// GeneratorOptions bound and pace a generator.
type GeneratorOptions struct {
	// Count is the number of records over all subtasks; 0 means unbounded.
	Count int64
	// RatePerSecond limits records per second over all subtasks; 0 means as fast as possible.
	RatePerSecond float64
}

// Generate is a source that emits fn(i) for i = 0, 1, 2, ... (below
// opts.Count, or without end). The indices are split into max-parallelism
// splits (split j holds the i with i mod maxParallelism == j), which are
// spread over the subtasks like key groups; a subtask takes its splits in
// turn. Its position (records emitted per split) is checkpointed, so a job
// restored at any parallelism goes on where it was, and the set of records
// never depends on the parallelism.
func Generate[T any](env *Environment, fn func(i int64) T, opts GeneratorOptions) Stream[T] {
	return GenerateInto(env, func(i int64, v *T) { *v = fn(i) }, opts)
}

// GenerateInto is Generate for large records: fn sets *v to record i in
// place. v is one variable per subtask, reused, so it holds the record
// before (the zero value for the first): fn must set every field it does
// not want carried over. It saves building each record on the stack and
// copying it out.
func GenerateInto[T any](env *Environment, fn func(i int64, v *T), opts GeneratorOptions) Stream[T] {
	if opts.Count < 0 || opts.RatePerSecond < 0 {
		env.fail(fmt.Errorf("%w: generator: count and rate must not be negative", ErrInvalidJob))
	}
	return newSource(env, "Source: Generator", env.parallelism, func(info operator.TaskInfo, out network.Output[T]) (source, closer, error) {
		g := &generator[T]{fn: fn, opts: opts, out: out, info: info, splits: int64(info.MaxParallelism)}
		lo, hi := keygroup.Range(info.MaxParallelism, info.Parallelism, info.Subtask)
		g.owned = make([]int64, 0, hi-lo)
		for j := lo; j < hi; j++ {
			g.owned = append(g.owned, int64(j))
		}
		g.pos = make([]int64, len(g.owned))
		return g, nil, nil
	})
}

// generator emits record i, set in place by fn, for the indices of its splits.
type generator[T any] struct {
	fn     func(int64, *T)
	opts   GeneratorOptions
	out    network.Output[T]
	info   operator.TaskInfo
	splits int64
	owned  []int64 // split numbers
	pos    []int64 // records emitted per owned split
}

func (g *generator[T]) run(sc *operator.SourceContext) error {
	var pace *pacer
	if g.opts.RatePerSecond > 0 {
		pace = newPacer(g.opts.RatePerSecond / float64(g.info.Parallelism))
	}
	var n int64 // records emitted by this run, for pacing
	var v T
	collect := network.PointerTo(g.out) // v is large, maybe: by pointer where the chain takes it
	wm, _ := g.out.(*watermarker[T])
	run, id := g.info.Runner(), ident(g.info)
	for {
		// Emit in increasing index: each pass takes the splits at the
		// lowest position. After a restore at another parallelism a subtask
		// may own splits at different positions (they come from different
		// subtasks); the ones behind catch up first, so that the indices,
		// and the event times that sources derive from them, never go back.
		round := int64(math.MaxInt64)
		for k, j := range g.owned {
			if g.opts.Count <= 0 || j+g.pos[k]*g.splits < g.opts.Count {
				round = min(round, g.pos[k])
			}
		}
		if round == math.MaxInt64 {
			return nil
		}
		for k, j := range g.owned {
			i := j + g.pos[k]*g.splits
			if g.pos[k] != round || (g.opts.Count > 0 && i >= g.opts.Count) {
				continue
			}
			if sc.Poll() {
				return nil
			}
			if pace != nil {
				if err := pace.wait(sc, n); err != nil {
					return nil
				}
			}
			call(g.fn, i, run, &id, &v) // into one variable: records can be large
			g.pos[k]++
			n++
			if wm != nil {
				wm.CollectPtr(&v) // a static call, where the chain has the usual timestamp assigner next
			} else {
				collect.CollectPtr(&v)
			}
		}
	}
}

// SnapshotState keeps one (split, position) entry per owned split, as union
// state: every subtask of a restored job sees all and takes its own splits.
func (g *generator[T]) SnapshotState(int64) (operator.OperatorState, error) {
	st := operator.OperatorState{Union: true}
	for k, j := range g.owned {
		b := binary.AppendVarint(nil, g.splits)
		b = binary.AppendVarint(b, j)
		b = binary.AppendVarint(b, g.pos[k])
		st.List = append(st.List, b)
	}
	return st, nil
}

func (g *generator[T]) RestoreState(st operator.OperatorState) error {
	idx := map[int64]int{}
	for k, j := range g.owned {
		idx[j] = k
	}
	for _, b := range st.List {
		s, k1 := binary.Varint(b)
		j, k2 := binary.Varint(b[max(k1, 0):])
		n, k3 := binary.Varint(b[max(k1+k2, 0):])
		if k1 <= 0 || k2 <= 0 || k3 <= 0 {
			return fmt.Errorf("generator: corrupt position")
		}
		if s != g.splits {
			return fmt.Errorf("generator: positions of %d splits cannot restore %d (max parallelism changed)", s, g.splits)
		}
		if k, ok := idx[j]; ok {
			g.pos[k] = n
		}
	}
	return nil
}

func call[T any](fn func(int64, *T), i int64, run *operator.Running, id *operator.Ident, v *T) {
	prev := run.Enter(id)
	fn(i, v)
	run.Leave(prev)
}

// pacer spaces records to a rate, sleeping in steps of at least a millisecond.
type pacer struct {
	start time.Time
	rate  float64
}

func newPacer(rate float64) *pacer { return &pacer{start: time.Now(), rate: rate} }

func (p *pacer) wait(sc *operator.SourceContext, n int64) error {
	due := p.start.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	for {
		d := time.Until(due)
		if d < time.Millisecond {
			return nil
		}
		// Send what is buffered while waiting, and notice cancellation.
		if sc.Poll() {
			return context.Canceled
		}
		select {
		case <-time.After(min(d, 50*time.Millisecond)):
		case <-sc.Context().Done():
			return sc.Context().Err()
		}
	}
}

// ErrNoInput is wrapped by errors about missing input files.
var ErrNoInput = errors.New("no input")

// ExpandPaths resolves a path, a directory (its visible files, not
// recursively) or a glob in the last element, local (plain or file://) or on
// HDFS (hdfs://), to files in a stable order.
func ExpandPaths(path string) ([]string, error) {
	files, err := fsys.Glob(context.Background(), path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoInput, err)
	}
	return files, nil
}

// ReadTextFile is a bounded source of the lines of a file, a directory's
// files, or a glob's matches (without line terminators; blank lines too).
// Files are cut into byte ranges (-D floe.source.split-size) that the
// JobManager hands to the source's subtasks on demand, as ReadCSV's.
func ReadTextFile(env *Environment, path string) Stream[string] {
	return readFiles[string](env, "text", path, formats.Text{}, nil, FileOptions{}).Name("Source: " + path)
}

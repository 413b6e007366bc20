package dataset

import (
	"context"
	"errors"
	"fmt"

	"floe/client"
	"floe/datastream"
)

// ErrInvalidJob is wrapped by errors found while building a dataset graph
// (datastream.ErrInvalidJob, so either package's check finds it).
var ErrInvalidJob = datastream.ErrInvalidJob

// Environment builds a batch job: a datastream.Environment in BATCH runtime
// mode, so a job may mix both APIs (FromStream, DataSet.Stream) in one graph.
type Environment struct {
	ds     *datastream.Environment
	errs   []error
	memOps int // memory-holding operators (memory.go)
}

// NewEnvironment returns a batch environment. Configuration comes, as for
// datastream.NewEnvironment, from FLOE_CONFIG (set by `floe run`) and opts;
// the runtime mode is BATCH unless -D execution.runtime-mode says otherwise
// (dataset operators give the same results in both modes).
func NewEnvironment(opts ...datastream.Option) *Environment {
	ds := datastream.NewEnvironment(opts...)
	ds.SetRuntimeMode(datastream.Batch)
	return &Environment{ds: ds}
}

// DataStream is the environment's datastream.Environment.
func (e *Environment) DataStream() *datastream.Environment { return e.ds }

// Parallelism is the default parallelism of shuffling operators.
func (e *Environment) Parallelism() int { return e.ds.Parallelism() }

// SetParallelism sets the default parallelism of operators created afterwards.
func (e *Environment) SetParallelism(p int) *Environment {
	e.ds.SetParallelism(p)
	return e
}

func (e *Environment) fail(err error) { e.errs = append(e.errs, err) }

// Execute runs the job and waits for it to end, with datastream's rules (see
// its package doc: in a TaskManager process Execute never returns). In the
// client process it first checks every file output (see WriteCSV). It
// returns an error wrapping client.ErrJobFailed if the job failed.
func (e *Environment) Execute(ctx context.Context, name string) (*client.Result, error) {
	if len(e.errs) > 0 {
		return nil, errors.Join(e.errs...)
	}
	return e.ds.Execute(ctx, name)
}

// DataSet is a bounded collection of records of type T, distributed over the
// subtasks of the operator that produces it.
type DataSet[T any] struct {
	env *Environment
	s   datastream.Stream[T]
}

// FromSlice is a data set of items (read at parallelism 1). The items must be
// the same in every process that runs the job (see datastream's package doc).
func FromSlice[T any](env *Environment, items []T) DataSet[T] {
	return DataSet[T]{env: env, s: datastream.FromSlice(env.ds, items)}
}

// FromStream treats a bounded stream of env's datastream environment as a
// data set. An unbounded stream never ends, and neither would the job.
func FromStream[T any](env *Environment, s datastream.Stream[T]) DataSet[T] {
	if s.Env() != env.ds {
		env.fail(fmt.Errorf("%w: FromStream: the stream belongs to another environment", ErrInvalidJob))
	}
	return DataSet[T]{env: env, s: s}
}

// Stream is the data set as a datastream stream (to use datastream's
// operators and sinks on it).
func (d DataSet[T]) Stream() datastream.Stream[T] { return d.s }

// Env is the data set's environment.
func (d DataSet[T]) Env() *Environment { return d.env }

// Name sets the name of the operator that produces d.
func (d DataSet[T]) Name(name string) DataSet[T] {
	d.s.Name(name)
	return d
}

// UID sets the stable id of the operator that produces d.
func (d DataSet[T]) UID(uid string) DataSet[T] {
	d.s.UID(uid)
	return d
}

// SetParallelism sets the parallelism of the operator that produces d.
func (d DataSet[T]) SetParallelism(p int) DataSet[T] {
	d.s.SetParallelism(p)
	return d
}

// Parallelism is the parallelism of the operator that produces d.
func (d DataSet[T]) Parallelism() int { return d.s.Parallelism() }

// derive wraps s, an operator on d's records, at d's parallelism (records
// keep their partition, and an ordered data set its order).
func derive[T, U any](d DataSet[T], s datastream.Stream[U]) DataSet[U] {
	s.SetParallelism(d.s.Parallelism())
	return DataSet[U]{env: d.env, s: s}
}

package datastream

import (
	"fmt"
	"reflect"
	"time"

	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/keygroup"
	"floe/internal/state"
)

// Stream is a stream of records of type T.
type Stream[T any] struct {
	env *Environment
	n   *node
}

// Env returns the stream's environment.
func (s Stream[T]) Env() *Environment { return s.env }

// Name sets the operator's name (shown in logs and the web interface).
func (s Stream[T]) Name(name string) Stream[T] {
	s.n.name = name
	return s
}

// UID sets the operator's stable id, by which state is matched on restore.
func (s Stream[T]) UID(uid string) Stream[T] {
	s.n.uid = uid
	return s
}

// SetParallelism sets the operator's parallelism.
func (s Stream[T]) SetParallelism(p int) Stream[T] {
	if p < 1 || p > s.env.maxPar {
		s.env.fail(fmt.Errorf("%w: operator %q: parallelism %d must be between 1 and %d", ErrInvalidJob, s.n.name, p, s.env.maxPar))
		return s
	}
	s.n.parallelism = p
	return s
}

// SlotSharingGroup puts the operator in a slot sharing group: operators of
// different groups never share a task slot (default group: "").
func (s Stream[T]) SlotSharingGroup(name string) Stream[T] {
	s.n.slotGroup = name
	return s
}

// Parallelism is the operator's parallelism.
func (s Stream[T]) Parallelism() int { return s.n.parallelism }

func newStream[T any](env *Environment, n *node, inputs ...*link) Stream[T] {
	n.out = plumbingFor[T]()
	n.outType = reflect.TypeFor[T]()
	env.addNode(n, inputs...)
	return Stream[T]{env: env, n: n}
}

// forward links s to an operator of the same default parallelism.
func (s Stream[T]) forward() *link { return &link{from: s.n, part: jobgraph.Forward} }

// oneInput builds a node whose operator turns records of IN into OUT.
func oneInput[IN, OUT any](s Stream[IN], name string, parallelism int, l *link,
	mk func(info operator.TaskInfo, out network.Output[OUT]) (network.Output[IN], closer, error)) Stream[OUT] {
	n := &node{name: name, parallelism: parallelism}
	n.build = func(info operator.TaskInfo, out any) (any, closer, error) {
		in, c, err := mk(info, out.(network.Output[OUT]))
		return in, c, err
	}
	return newStream[OUT](s.env, n, l)
}

// ident names an operator's subtask for operator.Running.
func ident(info operator.TaskInfo) operator.Ident {
	return operator.Ident{Name: info.Name, Subtask: info.Subtask}
}

// Map applies fn to every record.
func Map[T, U any](s Stream[T], fn func(T) U) Stream[U] {
	return oneInput(s, "Map", s.env.parallelism, s.forward(), func(info operator.TaskInfo, out network.Output[U]) (network.Output[T], closer, error) {
		return &mapOp[T, U]{fn: fn, out: out, id: ident(info), run: info.Runner()}, nil, nil
	})
}

// FlatMap calls fn for every record; fn emits any number of results.
func FlatMap[T, U any](s Stream[T], fn func(v T, emit func(U))) Stream[U] {
	return oneInput(s, "FlatMap", s.env.parallelism, s.forward(), func(info operator.TaskInfo, out network.Output[U]) (network.Output[T], closer, error) {
		return &flatMapOp[T, U]{fn: fn, out: out, emit: out.Collect, id: ident(info), run: info.Runner()}, nil, nil
	})
}

// FlatMapRef is FlatMap for large records, by pointer both ways: fn reads
// the record through v and emits results by pointer, for example a field of
// *v, so that neither the record nor what is picked out of it is copied into
// the calls. fn reads *v during the call only: it must neither keep v nor
// change *v. emit reads its argument during its call only, so fn may reuse
// the variable it points at; pointing it at a variable of fn's own makes Go
// allocate that variable on every call, where emitting a field of *v or of a
// variable fn keeps across calls does not.
func FlatMapRef[T, U any](s Stream[T], fn func(v *T, emit func(*U))) Stream[U] {
	return oneInput(s, "FlatMap", s.env.parallelism, s.forward(), func(info operator.TaskInfo, out network.Output[U]) (network.Output[T], closer, error) {
		return &flatMapRefOp[T, U]{fn: fn, out: out, emit: network.ByPointer(out), id: ident(info), run: info.Runner()}, nil, nil
	})
}

// Filter keeps the records for which fn is true.
func (s Stream[T]) Filter(fn func(T) bool) Stream[T] {
	return oneInput(s, "Filter", s.env.parallelism, s.forward(), func(info operator.TaskInfo, out network.Output[T]) (network.Output[T], closer, error) {
		return &filterOp[T]{fn: fn, out: out, outPtr: network.PointerTo(out), id: ident(info), run: info.Runner()}, nil, nil
	})
}

// Rebalance redistributes records round robin to the next operator's subtasks.
func (s Stream[T]) Rebalance() Stream[T] {
	return s.partitionBy(jobgraph.Rebalance, "Rebalance")
}

// Broadcast sends every record to every subtask of the next operator.
func (s Stream[T]) Broadcast() Stream[T] {
	return s.partitionBy(jobgraph.Broadcast, "Broadcast")
}

// partitionBy inserts an identity operator behind a non-forward edge.
func (s Stream[T]) partitionBy(p jobgraph.Partitioning, name string) Stream[T] {
	return oneInput(s, name, s.env.parallelism, &link{from: s.n, part: p}, func(_ operator.TaskInfo, out network.Output[T]) (network.Output[T], closer, error) {
		return out, nil, nil
	})
}

// Union merges s with others (all of one type) into one stream.
func (s Stream[T]) Union(others ...Stream[T]) Stream[T] {
	links := []*link{{from: s.n, part: jobgraph.Rebalance}}
	for _, o := range others {
		if o.env != s.env {
			s.env.fail(fmt.Errorf("%w: union of streams from different environments", ErrInvalidJob))
			return s
		}
		links = append(links, &link{from: o.n, part: jobgraph.Rebalance})
	}
	// Keep subtask-local routing where parallelism allows; otherwise spread evenly.
	for _, l := range links {
		if l.from.parallelism == s.env.parallelism {
			l.part = jobgraph.Forward
		}
	}
	n := &node{name: "Union", parallelism: s.env.parallelism}
	n.build = func(_ operator.TaskInfo, out any) (any, closer, error) { return out, nil, nil }
	return newStream[T](s.env, n, links...)
}

// KeyedStream is a stream partitioned by a key: every record with the same
// key goes to the same subtask of the next operator.
type KeyedStream[T any, K comparable] struct {
	up     Stream[T]
	key    func(T) K
	hasher keygroup.Hasher[K]
}

// KeyBy partitions s by key.
func KeyBy[T any, K comparable](s Stream[T], key func(T) K) KeyedStream[T, K] {
	h, err := keygroup.NewHasher[K]()
	if err != nil {
		s.env.fail(fmt.Errorf("%w: KeyBy after %q: %w", ErrInvalidJob, s.n.name, err))
	}
	return KeyedStream[T, K]{up: s, key: key, hasher: h}
}

// Env returns the stream's environment.
func (ks KeyedStream[T, K]) Env() *Environment { return ks.up.env }

// link is the HASH edge from the upstream operator to an operator on ks.
func (ks KeyedStream[T, K]) link() *link {
	h, key := ks.hasher, ks.key
	return &link{from: ks.up.n, part: jobgraph.Hash, selector: func(_, maxPar int) any {
		return hashSelector(h, key, maxPar)
	}}
}

// hashSelector routes a record to the subtask that owns its key's key group.
func hashSelector[T any, K comparable](h keygroup.Hasher[K], key func(T) K, maxPar int) network.Selector[T] {
	return func(v T, n int) int {
		if n == 1 { // one consumer (a WindowAll's): no key to hash
			return 0
		}
		return keygroup.Subtask(keygroup.Of(h.Hash(key(v)), maxPar), maxPar, n)
	}
}

// Reduce keeps a running reduction per key and emits every updated value.
// The running values are keyed state in the job's state backend, so they
// are checkpointed and restored (and kept on disk with the pebble backend).
// In BATCH runtime mode it emits only the final value per key, at the end of
// input, and keeps the values in memory: a failed BATCH stage reruns from
// its input instead of restoring.
func (ks KeyedStream[T, K]) Reduce(fn func(acc, v T) T) Stream[T] {
	env := ks.up.env
	switch m := env.RuntimeMode(); m {
	case Streaming, Batch:
	default:
		env.fail(fmt.Errorf("%w: %s=%q: want STREAMING or BATCH", ErrInvalidJob, RuntimeModeKey, m))
	}
	batch := env.RuntimeMode() == Batch
	s := oneInput(ks.up, "Reduce", env.parallelism, ks.link(), func(info operator.TaskInfo, out network.Output[T]) (network.Output[T], closer, error) {
		if batch {
			return &reduceOp[T, K]{fn: fn, key: ks.key, acc: map[K]T{}, out: out, id: ident(info), run: info.Runner()}, nil, nil
		}
		k, err := newKeyedOp[K](info, out, nil, nil)
		if err != nil {
			return nil, nil, err
		}
		tab, err := state.Value[K, T](k.ctx.backend, reduceState)
		if err != nil {
			k.close()
			return nil, nil, err
		}
		return &keyedReduceOp[T, K]{keyedOp: k, fn: fn, key: ks.key, tab: tab}, k.close, nil
	})
	s.n.keyedState = !batch
	return s
}

// Number is a type Sum can add.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Sum keeps a running sum of one field per key: every record updates its
// key's sum, and the first record of the key, with the field replaced by the
// sum, is emitted (as Flink's sum(field)).
func Sum[T any, K comparable, N Number](ks KeyedStream[T, K], field func(*T) *N) Stream[T] {
	return ks.Reduce(func(acc, v T) T {
		*field(&acc) += *field(&v)
		return acc
	}).Name("Sum")
}

func batchSize(info operator.TaskInfo) (int, error) {
	timeout, err := info.Config.Duration(config.BufferTimeout, 100*time.Millisecond)
	if err != nil {
		return 0, err
	}
	if timeout == 0 {
		return 1, nil
	}
	n, err := info.Config.Int(config.BatchSize, 1024)
	if err != nil {
		return 0, err
	}
	return max(n, 1), nil
}

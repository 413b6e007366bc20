package datastream

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"

	"floe/internal/fsys"
	"floe/internal/runtime"
)

// Sink is the end of a stream.
type Sink struct{ n *node }

// Name sets the sink's name.
func (s Sink) Name(name string) Sink {
	s.n.name = name
	return s
}

// UID sets the sink's stable id.
func (s Sink) UID(uid string) Sink {
	s.n.uid = uid
	return s
}

// SlotSharingGroup puts the sink in a slot sharing group.
func (s Sink) SlotSharingGroup(name string) Sink {
	s.n.slotGroup = name
	return s
}

// SetParallelism sets the sink's parallelism.
func (s Sink) SetParallelism(p int) Sink {
	s.n.parallelism = p
	return s
}

// sinkNode adds a sink fed by s through a forward edge.
func sinkNode[T any](s Stream[T], name string, mk func(info runtime.TaskInfo) (runtime.Output[T], closer, error)) Sink {
	n := &node{name: name, parallelism: s.env.parallelism, isSink: true}
	n.build = func(info runtime.TaskInfo, _ any) (any, closer, error) {
		return mk(info)
	}
	s.env.addNode(n, s.forward())
	return Sink{n: n}
}

// funcSink calls write for every record and done at the end of input.
type funcSink[T any] struct {
	write   func(T) error
	done    func() error
	name    string
	subtask int
	count   *int64
}

func (f *funcSink[T]) Collect(v T) {
	if err := f.write(v); err != nil {
		panic(runtime.Abort{Err: fmt.Errorf("sink %q: %w", f.name, err)})
	}
	*f.count++
}

func (f *funcSink[T]) Emit(e runtime.Event) {
	if e.Kind == runtime.EndOfInput && f.done != nil {
		if err := f.done(); err != nil {
			panic(runtime.Abort{Err: fmt.Errorf("sink %q: %w", f.name, err)})
		}
	}
}

// Print writes every record to standard output, one per line, formatted by
// format (fmt's %v when nil).
func Print[T any](s Stream[T], format func(T) string) Sink {
	return sinkNode(s, "Sink: Print", func(info runtime.TaskInfo) (runtime.Output[T], closer, error) {
		w := bufio.NewWriter(os.Stdout)
		var n int64
		return &funcSink[T]{name: info.Name, subtask: info.Subtask, count: &n,
			write: func(v T) error {
				var err error
				if format != nil {
					_, err = io.WriteString(w, format(v)+"\n")
				} else {
					_, err = fmt.Fprintln(w, v)
				}
				return err
			},
			done: w.Flush}, nil, nil
	})
}

// WriteText writes every record as one line to a part file per subtask in
// dir (local, file:// or hdfs://), formatted by format (fmt's %v when nil).
// While the job runs, a part file has a hidden name (".part-N.inprogress");
// it is renamed to "part-N" when its subtask's input ends, so readers never
// see a partial file.
func WriteText[T any](s Stream[T], dir string, format func(T) string) Sink {
	return sinkNode(s, "Sink: "+dir, func(info runtime.TaskInfo) (runtime.Output[T], closer, error) {
		fsy, root, err := fsys.Resolve(dir)
		if err != nil {
			return nil, nil, err
		}
		if err := fsy.MkdirAll(root); err != nil {
			return nil, nil, fmt.Errorf("output directory: %w", err)
		}
		final := fsy.Join(root, fmt.Sprintf("part-%d", info.Subtask))
		tmp := fsy.Join(root, fmt.Sprintf(".part-%d.inprogress", info.Subtask))
		f, err := fsy.Create(tmp)
		if err != nil {
			return nil, nil, fmt.Errorf("output file: %w", err)
		}
		w := bufio.NewWriterSize(f, 1<<16)
		closed := false
		var n int64
		sink := &funcSink[T]{name: info.Name, subtask: info.Subtask, count: &n,
			write: func(v T) error {
				var err error
				if format != nil {
					_, err = io.WriteString(w, format(v))
				} else {
					_, err = fmt.Fprint(w, v)
				}
				if err == nil {
					err = w.WriteByte('\n')
				}
				return err
			},
			done: func() error {
				if err := w.Flush(); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				closed = true
				if err := fsy.RemoveAll(final); err != nil { // a former attempt's
					return err
				}
				return fsy.Rename(tmp, final)
			}}
		return sink, func() error {
			if !closed { // the job failed or was cancelled: leave no visible output
				f.Close()
				fsy.RemoveAll(tmp)
			}
			return nil
		}, nil
	})
}

// Collector holds what a Collect sink received. It works in local jobs whose
// TaskManagers run in the client's process (tests).
type Collector[T any] struct {
	mu    sync.Mutex
	items map[int][]T // by subtask: the output of its last attempt that finished
}

// Items returns the collected records, by subtask, in arrival order within one.
func (c *Collector[T]) Items() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []T
	for _, i := range slices.Sorted(maps.Keys(c.items)) {
		all = append(all, c.items[i]...)
	}
	return all
}

// Collect gathers the records of s in memory.
func Collect[T any](s Stream[T]) (*Collector[T], Sink) {
	c := &Collector[T]{items: map[int][]T{}}
	s.env.inProcessOnly = append(s.env.inProcessOnly, "Collect")
	sink := sinkNode(s, "Sink: Collect", func(info runtime.TaskInfo) (runtime.Output[T], closer, error) {
		var local []T
		var n int64
		return &funcSink[T]{name: info.Name, subtask: info.Subtask, count: &n,
			write: func(v T) error { local = append(local, v); return nil },
			done: func() error {
				c.mu.Lock()
				c.items[info.Subtask] = local
				c.mu.Unlock()
				return nil
			}}, nil, nil
	})
	return c, sink
}

// Discard drops every record (a blackhole sink, for benchmarks).
func Discard[T any](s Stream[T]) Sink {
	return sinkNode(s, "Sink: Discard", func(info runtime.TaskInfo) (runtime.Output[T], closer, error) {
		return runtime.Discard[T]{}, nil, nil
	})
}

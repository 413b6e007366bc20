package datastream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"floe/container/network"
	"floe/container/operator"
	"floe/internal/codec"
	"floe/internal/formats"
	"floe/internal/fsys"
	"floe/internal/output"
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

// Overwrite lets the sink replace the files of an earlier run in its
// output directory, as -D floe.output.overwrite=true does for every file
// sink of the job (see WriteText); other sinks ignore it.
func (s Sink) Overwrite() Sink {
	s.n.overwrite = true
	return s
}

// sinkNode adds a sink fed by s through a forward edge.
func sinkNode[T any](s Stream[T], name string, mk func(info operator.TaskInfo) (network.Output[T], closer, error)) Sink {
	n := &node{name: name, parallelism: s.env.parallelism, isSink: true}
	n.build = func(info operator.TaskInfo, _ any) (any, closer, error) {
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
		panic(network.Abort{Err: fmt.Errorf("sink %q: %w", f.name, err)})
	}
	*f.count++
}

func (f *funcSink[T]) Emit(e network.Event) {
	if e.Kind == network.EndOfInput && f.done != nil {
		if err := f.done(); err != nil {
			panic(network.Abort{Err: fmt.Errorf("sink %q: %w", f.name, err)})
		}
	}
}

// Print writes every record to standard output, one per line, formatted by
// format (fmt's %v when nil).
func Print[T any](s Stream[T], format func(T) string) Sink {
	return sinkNode(s, "Sink: Print", func(info operator.TaskInfo) (network.Output[T], closer, error) {
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

// WriteText writes every record as one line (formatted by format, fmt's %v
// when nil) to part files in dir (local, file:// or hdfs://), exactly once:
// records go to a hidden in-progress file; at a checkpoint's barrier it
// becomes pending, and when the checkpoint completes it is renamed to
// "part-<subtask>-<n>". Without checkpoints, and at the end of a bounded
// input, the last file waits under a hidden name until the whole job has
// finished, when the JobManager publishes every subtask's (and removes
// them if the job failed). Readers of dir
// never see a file that is still being written; after a recovery, pending
// files of the restored checkpoint are published and files written after it
// are removed.
func WriteText[T any](s Stream[T], dir string, format func(T) string) Sink {
	return fileSink(s, "Sink: "+dir, dir, func(f io.WriteCloser) (partWriter[T], error) {
		return &textPart[T]{f: f, w: bufio.NewWriterSize(f, 1<<16), format: format}, nil
	})
}

// CSVSinkOptions describe the files WriteCSV writes.
type CSVSinkOptions struct {
	// Delimiter separates fields (0: ','); fields holding it, quotes, line
	// breaks or a leading space are quoted (RFC 4180).
	Delimiter rune
	// Header writes the column names first in each part file.
	Header bool
}

// WriteCSV writes records T (a struct) as delimited lines, with WriteText's
// exactly-once part files, its columns as ReadCSV reads them back: T's
// fields in order, named by their floe or json tag (floe:"-" leaves one
// out), a nested struct's fields as columns "Outer.Inner"; numbers as Go
// formats them (floats in the shortest form that reads back exactly), a
// time.Time at midnight UTC as YYYY-MM-DD and others in RFC 3339, durations
// as time.Duration.String, []byte as its bytes.
func WriteCSV[T any](s Stream[T], dir string, opts CSVSinkOptions) Sink {
	f, err := formats.NewCSV[T](formats.CSVOptions{Delimiter: opts.Delimiter})
	if err != nil {
		s.env.fail(fmt.Errorf("%w: WriteCSV %s: %w", ErrInvalidJob, dir, err))
	}
	return fileSink(s, "Sink: CSV "+dir, dir, func(w io.WriteCloser) (partWriter[T], error) {
		if f == nil {
			return nil, fmt.Errorf("WriteCSV: %w", err)
		}
		p := &csvPart[T]{f: w, b: bufio.NewWriterSize(w, 1<<16), format: f}
		if opts.Header {
			if _, err := p.b.Write(f.AppendHeader(nil)); err != nil {
				return nil, err
			}
		}
		return p, nil
	})
}

type csvPart[T any] struct {
	f      io.WriteCloser
	b      *bufio.Writer
	format *formats.CSV[T]
	line   []byte
}

func (p *csvPart[T]) write(v T) error {
	p.line = p.format.AppendRecord(p.line[:0], &v)
	_, err := p.b.Write(p.line)
	return err
}

func (p *csvPart[T]) close() error {
	if err := p.b.Flush(); err != nil {
		p.f.Close()
		return err
	}
	return p.f.Close()
}

func (p *csvPart[T]) abort() { p.f.Close() }

// WriteParquet writes records as Parquet files (one row group per 64k rows,
// columns from T's Arrow schema, see floe/internal/codec) with WriteText's
// exactly-once part files.
func WriteParquet[T any](s Stream[T], dir string) Sink {
	if _, err := codec.For[T](); err != nil {
		s.env.fail(fmt.Errorf("%w: WriteParquet: %w", ErrInvalidJob, err))
	}
	return fileSink(s, "Sink: Parquet "+dir, dir, func(f io.WriteCloser) (partWriter[T], error) {
		c, err := codec.For[T]()
		if err != nil {
			return nil, err
		}
		pw, err := pqarrow.NewFileWriter(c.Schema(), f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
		if err != nil {
			return nil, err
		}
		return &parquetPart[T]{f: f, pw: pw, c: c}, nil
	})
}

// fileSink adds an exactly-once part-file sink writing parts with newPart.
func fileSink[T any](s Stream[T], name, dir string, newPart func(io.WriteCloser) (partWriter[T], error)) Sink {
	sk := sinkNode(s, name, func(info operator.TaskInfo) (network.Output[T], closer, error) {
		fsy, root, err := fsys.Resolve(dir)
		if err != nil {
			return nil, nil, err
		}
		if err := fsy.MkdirAll(context.Background(), root); err != nil {
			return nil, nil, fmt.Errorf("output directory: %w", err)
		}
		ts := &textSink[T]{ctx: context.Background(), fsy: fsy, root: root, info: info, newPart: newPart}
		return ts, ts.abandon, nil
	})
	sk.n.outputDir = dir
	s.env.outputs = append(s.env.outputs, sk.n)
	return sk
}

type parquetPart[T any] struct {
	f    io.WriteCloser
	pw   *pqarrow.FileWriter
	c    *codec.Codec[T]
	rows []T
}

const parquetRowGroup = 64 << 10

func (p *parquetPart[T]) write(v T) error {
	p.rows = append(p.rows, v)
	if len(p.rows) >= parquetRowGroup {
		return p.flush()
	}
	return nil
}

func (p *parquetPart[T]) flush() error {
	if len(p.rows) == 0 {
		return nil
	}
	rec, err := p.c.Encode(nil, p.rows)
	if err != nil {
		return err
	}
	defer rec.Release()
	clear(p.rows)
	p.rows = p.rows[:0]
	return p.pw.Write(rec)
}

func (p *parquetPart[T]) close() error {
	if err := p.flush(); err != nil {
		p.f.Close()
		return err
	}
	if err := p.pw.Close(); err != nil {
		p.f.Close()
		return err
	}
	return p.f.Close()
}

func (p *parquetPart[T]) abort() { p.f.Close() }

// partWriter writes one part file in some format.
type partWriter[T any] interface {
	write(v T) error
	// close finishes the file (footer, flush) and closes it.
	close() error
	// abort closes the file without finishing it.
	abort()
}

type textPart[T any] struct {
	f      io.WriteCloser
	w      *bufio.Writer
	format func(T) string
}

func (p *textPart[T]) write(v T) error {
	var err error
	if p.format != nil {
		_, err = io.WriteString(p.w, p.format(v))
	} else {
		_, err = fmt.Fprint(p.w, v)
	}
	if err == nil {
		err = p.w.WriteByte('\n')
	}
	return err
}

func (p *textPart[T]) close() error {
	if err := p.w.Flush(); err != nil {
		p.f.Close()
		return err
	}
	return p.f.Close()
}

func (p *textPart[T]) abort() { p.f.Close() }

// textSink is WriteText's two-phase-commit writer for one subtask.
type textSink[T any] struct {
	// ctx of the sink's filesystem calls: a sink's methods run on its task's
	// goroutine without one, and a cancelled task abandons its part instead.
	ctx     context.Context
	fsy     fsys.FS
	root    string
	info    operator.TaskInfo
	newPart func(io.WriteCloser) (partWriter[T], error)
	seq     int  // number of the part file being written
	ready   bool // restored, or what failed attempts left was removed
	part    partWriter[T]
	pending []pendingPart
}

type pendingPart struct {
	Checkpoint int64  `json:"checkpoint"`
	Pending    string `json:"pending"`
	Final      string `json:"final"`
}

type sinkState struct {
	Subtask int           `json:"subtask"`
	Next    int           `json:"next"`
	Pending []pendingPart `json:"pending"`
}

func (t *textSink[T]) name(kind string, seq int) string {
	switch kind {
	case "final":
		return fmt.Sprintf("part-%d-%d", t.info.Subtask, seq)
	case "ready": // waits for the JobManager to publish it when the job has finished
		return output.ReadyName(t.name("final", seq), t.info.JobID)
	default:
		return fmt.Sprintf(".part-%d-%d.%s", t.info.Subtask, seq, kind)
	}
}

func (t *textSink[T]) path(name string) string { return t.fsy.Join(t.root, name) }

func (t *textSink[T]) Collect(v T) {
	if err := t.write(v); err != nil {
		panic(network.Abort{Err: fmt.Errorf("sink %q: %w", t.info.Name, err)})
	}
}

// prepare runs before the first write: a restarted attempt with nothing
// restored removes what failed attempts of this subtask left.
func (t *textSink[T]) prepare() error {
	if t.ready {
		return nil
	}
	t.ready = true
	if t.info.Attempt > 0 {
		return t.cleanup(0)
	}
	return nil
}

func (t *textSink[T]) write(v T) error {
	if err := t.prepare(); err != nil {
		return err
	}
	if t.part == nil {
		f, err := t.fsy.Create(t.ctx, t.path(t.name("inprogress", t.seq)))
		if err != nil {
			return fmt.Errorf("output file: %w", err)
		}
		if t.part, err = t.newPart(&onceCloser{WriteCloser: f}); err != nil {
			f.Close()
			return fmt.Errorf("output file: %w", err)
		}
	}
	return t.part.write(v)
}

// onceCloser lets format writers and the sink both close a file.
type onceCloser struct {
	io.WriteCloser
	once sync.Once
	err  error
}

func (c *onceCloser) Close() error {
	c.once.Do(func() { c.err = c.WriteCloser.Close() })
	return c.err
}

// closePart closes the current in-progress file and renames it to kind.
func (t *textSink[T]) closePart(kind string) (string, error) {
	if t.part == nil {
		return "", nil
	}
	err := t.part.close()
	t.part = nil
	if err != nil {
		return "", err
	}
	to := t.name(kind, t.seq)
	if err := t.fsy.Rename(t.ctx, t.path(t.name("inprogress", t.seq)), t.path(to)); err != nil {
		return "", err
	}
	t.seq++
	return to, nil
}

func (t *textSink[T]) Emit(e network.Event) {
	if e.Kind != network.EndOfInput {
		return
	}
	// End of input: parts pending on a checkpoint are published (as its
	// completion would); the last part waits, hidden, for the JobManager to
	// publish it with every other subtask's when the whole job has finished.
	err := t.prepare()
	if err == nil {
		err = t.publish(func(pendingPart) bool { return true })
	}
	if err == nil {
		_, err = t.closePart("ready")
	}
	if err != nil {
		panic(network.Abort{Err: fmt.Errorf("sink %q: %w", t.info.Name, err)})
	}
}

func (t *textSink[T]) SnapshotState(id int64) (operator.OperatorState, error) {
	if seq := t.seq; t.part != nil {
		name, err := t.closePart("pending")
		if err != nil {
			return operator.OperatorState{}, err
		}
		t.pending = append(t.pending, pendingPart{Checkpoint: id, Pending: name, Final: t.name("final", seq)})
	}
	b, err := json.Marshal(sinkState{Subtask: t.info.Subtask, Next: t.seq, Pending: t.pending})
	if err != nil {
		return operator.OperatorState{}, err
	}
	return operator.OperatorState{List: [][]byte{b}}, nil
}

// publish renames the pending files that match into place.
func (t *textSink[T]) publish(match func(pendingPart) bool) error {
	var keep []pendingPart
	for _, p := range t.pending {
		if !match(p) {
			keep = append(keep, p)
			continue
		}
		if err := t.fsy.Rename(t.ctx, t.path(p.Pending), t.path(p.Final)); err != nil {
			if _, serr := t.fsy.Stat(t.ctx, t.path(p.Final)); serr != nil { // not already published
				return fmt.Errorf("publish %s: %w", p.Final, err)
			}
		}
	}
	t.pending = keep
	return nil
}

func (t *textSink[T]) NotifyCheckpointComplete(id int64) error {
	return t.publish(func(p pendingPart) bool { return p.Checkpoint <= id })
}

func (t *textSink[T]) NotifyCheckpointAborted(int64) {}

func (t *textSink[T]) RestoreState(st operator.OperatorState) error {
	t.ready = true
	next := 0
	for _, b := range st.List {
		var s sinkState
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("sink %q: restore: %w", t.info.Name, err)
		}
		t.pending = append(t.pending, s.Pending...)
		if s.Subtask == t.info.Subtask {
			next = max(next, s.Next)
		}
	}
	// The restored checkpoint completed: what it left pending is committed.
	if err := t.publish(func(pendingPart) bool { return true }); err != nil {
		return err
	}
	t.seq = next
	return t.cleanup(next)
}

// cleanup removes this subtask's files written after the restored point:
// hidden in-progress and pending files, and parts numbered from next on.
func (t *textSink[T]) cleanup(next int) error {
	ents, err := t.fsy.List(t.ctx, t.root)
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("part-%d-", t.info.Subtask)
	for _, e := range ents {
		name := strings.TrimPrefix(e.Name, ".")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if strings.HasPrefix(e.Name, ".") || n >= next {
			if err := t.fsy.RemoveAll(t.ctx, t.path(e.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// abandon runs when the task ends: a failed or cancelled attempt leaves no
// visible output behind (its in-progress file is removed).
func (t *textSink[T]) abandon() error {
	if t.part != nil {
		t.part.abort()
		t.fsy.RemoveAll(t.ctx, t.path(t.name("inprogress", t.seq)))
		t.part = nil
	}
	return nil
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
	sink := sinkNode(s, "Sink: Collect", func(info operator.TaskInfo) (network.Output[T], closer, error) {
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
	return sinkNode(s, "Sink: Discard", func(info operator.TaskInfo) (network.Output[T], closer, error) {
		return network.Discard[T]{}, nil, nil
	})
}

// WriteJSON writes every record as one JSON object per line (encoding/json,
// so field tags apply) to dir, with WriteText's exactly-once part files.
func WriteJSON[T any](s Stream[T], dir string) Sink {
	return WriteText(s, dir, func(v T) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("WriteJSON: %v", err))
		}
		return string(b)
	}).Name("Sink: JSON " + dir)
}

package datastream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync/atomic"

	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/formats"
	"floe/internal/jobgraph"
	"floe/internal/output"
	"floe/internal/role"
)

// savepointPathKey is appmaster.KeySavepointPath: a run restoring from it
// continues into the output of the run that took it.
const savepointPathKey = "execution.savepoint.path"

// ErrMalformedRecord is wrapped by the error of a file source that met a
// record it cannot decode (more of them than it may skip).
var ErrMalformedRecord = errors.New("malformed record")

// FileOptions are the options every file source takes.
type FileOptions struct {
	// SplitSize is the length in bytes of the ranges text files are cut
	// into; 0 takes -D floe.source.split-size (default 64 MiB). Parquet
	// files are cut into their row groups.
	SplitSize int64
	// MaxMalformed is how many records that do not decode each source
	// subtask skips (logging the first few, counting all) before it fails
	// the job; 0 takes -D floe.source.max-malformed-records (default 0:
	// the first fails the job, naming the file, the line or row group, and
	// the reason); -1 skips them all.
	MaxMalformed int
}

// CSVOptions describe delimited text files. The zero value reads
// comma-separated files without a header, columns in the order of T's
// fields.
type CSVOptions struct {
	// Delimiter separates fields (any one character; 0: ','). TPC-H's .tbl
	// files are '|'-separated, with a '|' after the last field too, which
	// is accepted.
	Delimiter rune
	// Quote encloses fields that hold the delimiter (0: '"'; a doubled quote
	// inside is one quote character). Quoted fields cannot hold line breaks.
	Quote rune
	// NoQuoting reads quote characters like any other.
	NoQuoting bool
	// Header: each file's first line names its columns, which are matched
	// with T's fields by name.
	Header bool
	// Columns names the columns in file order, for files without a header.
	Columns []string
	FileOptions
}

// JSONLinesOptions describe JSON-lines files.
type JSONLinesOptions struct{ FileOptions }

// ParquetOptions describe Parquet files.
type ParquetOptions struct{ FileOptions }

// ReadCSV is a bounded source of the records of delimited text files: a
// file, a directory's files or a glob's matches (see ExpandPaths). Each line
// is a record T, a struct whose exported fields take the columns: by name
// (case-insensitively; a field's name is its `floe` tag, else its `json`
// tag, else its Go name) with Header or Columns, else in order. Fields are
// ints, uints, floats, bools, strings, []byte, time.Time (YYYY-MM-DD or
// RFC 3339) and time.Duration; an empty field is the zero value. Files are
// cut into byte ranges (a range owns the lines that start in it) read in
// parallel: the JobManager hands each source subtask its next split when it
// asks, so a fast subtask reads more. Positions are checkpointed, so a
// restored job goes on where it was.
func ReadCSV[T any](env *Environment, path string, opts CSVOptions) Stream[T] {
	f, err := formats.NewCSV[T](formats.CSVOptions{Delimiter: opts.Delimiter, Quote: opts.Quote,
		NoQuoting: opts.NoQuoting, Header: opts.Header, Columns: opts.Columns})
	return readFiles[T](env, "CSV", path, f, err, opts.FileOptions)
}

// ReadJSONLines is a bounded source of JSON objects, one per line, in files
// named as ReadCSV's. Keys are matched with T's fields by name
// (case-insensitively); other keys are ignored, missing ones leave the zero
// value. time.Time and time.Duration take ReadCSV's text forms, []byte is
// base64 (as encoding/json and WriteJSON write it); fields of other types
// (nested structs, slices) are decoded by encoding/json.
func ReadJSONLines[T any](env *Environment, path string, opts JSONLinesOptions) Stream[T] {
	f, err := formats.NewJSONLines[T]()
	return readFiles[T](env, "JSON lines", path, f, err, opts.FileOptions)
}

// ReadParquet is a bounded source of the rows of Parquet files, named as
// ReadCSV's, one split per row group. T's fields take the top-level columns
// of their name (case-insensitively); integer, float, decimal, date,
// timestamp, duration, string and binary columns convert to the field's
// type where its kind allows (a decimal to a float, a date to a
// time.Time...). A field without a column fails the job before it starts.
func ReadParquet[T any](env *Environment, path string, opts ParquetOptions) Stream[T] {
	f, err := formats.NewParquet[T]()
	return readFiles[T](env, "Parquet", path, f, err, opts.FileOptions)
}

// readFiles plans the splits of path's files (in every process that builds
// the graph: the listing is sorted, so all agree) and adds their source,
// whose subtasks ask the JobManager for one split at a time.
func readFiles[T any, F formats.Format[T]](env *Environment, kind, path string, f F, err error, opts FileOptions) Stream[T] {
	return readFilesHooked[T](env, kind, path, f, err, opts, nil)
}

// readFilesHooked is readFiles with a function called before each record a
// subtask emits, with the record's split (tests slow one subtask down with
// it; nil in jobs).
func readFilesHooked[T any, F formats.Format[T]](env *Environment, kind, path string, f F, err error, opts FileOptions, hook func(subtask, split int)) Stream[T] {
	name := "Source: " + kind + " " + path
	var splits []formats.Split
	if err != nil {
		env.fail(fmt.Errorf("%w: %s: %w", ErrInvalidJob, name, err))
	} else if splits, err = planSplits[T](env, f, path, opts); err != nil {
		env.fail(err)
	}
	maxBad := opts.MaxMalformed
	if maxBad == 0 {
		n, err := env.conf.Int(config.SourceMaxMalformed, 0)
		if err != nil {
			env.fail(err)
		}
		maxBad = n
	}
	st := newSource(env, name, env.parallelism, func(info operator.TaskInfo, out network.Output[T]) (source, closer, error) {
		if info.Splits == nil {
			return nil, nil, fmt.Errorf("source %q: no JobManager to ask for splits", info.Name)
		}
		return &splitSource[T]{format: f, splits: splits, out: out, info: info, maxBad: maxBad, hook: hook}, nil, nil
	})
	in := &jobgraph.InputSplits{N: len(splits)}
	for i, sp := range splits {
		if len(sp.Hosts) > 0 {
			if in.Hosts == nil {
				in.Hosts = make([][]string, len(splits))
			}
			in.Hosts[i] = sp.Hosts
		}
	}
	st.n.splits = in
	return st
}

func planSplits[T any](env *Environment, f formats.Format[T], path string, opts FileOptions) ([]formats.Split, error) {
	files, err := ExpandPaths(path)
	if err != nil {
		return nil, err
	}
	size := opts.SplitSize
	if size <= 0 {
		mb, err := env.conf.MemoryMB(config.SourceSplitSize, formats.DefaultSplitSize>>20)
		if err != nil {
			return nil, err
		}
		size = mb << 20
	}
	splits, err := f.Splits(context.Background(), files, size)
	if err != nil {
		if errors.Is(err, formats.ErrMapping) || errors.Is(err, formats.ErrUnsupportedType) {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidJob, path, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrNoInput, path, err)
	}
	return splits, nil
}

// splitSource reads the splits the JobManager hands it (operator.
// SplitRequester), one after the other, asking for the next when it has
// none: a fast subtask reads more splits than a slow one. Its checkpointed
// state is the splits it holds (assigned, not finished) with the reader's
// position in each, as list state (number of splits, split, position per
// entry), redistributed on rescale; the JobManager's checkpoint holds the
// splits not handed out yet. A split finished before the barrier is in
// neither: its records are before the barrier.
type splitSource[T any] struct {
	format formats.Format[T]
	splits []formats.Split
	held   []heldSplit // assigned and not finished; the first is being read
	// finished are the splits done since the last request, lastCheckpoint
	// the newest checkpoint snapshotted (both go with the next request).
	finished       []int
	lastCheckpoint int64
	out            network.Output[T]
	info           operator.TaskInfo
	maxBad         int          // malformed records to skip; -1: all
	bad            atomic.Int64 // malformed records skipped (read by the task at its end)
	hook           func(subtask, split int)
}

// heldSplit is a split a subtask holds and where its reader is (a Reader's
// Pos; 0: not started).
type heldSplit struct {
	split int
	pos   int64
}

// loggedMalformed is how many skipped records a subtask logs one by one.
const loggedMalformed = 10

func (s *splitSource[T]) run(sc *operator.SourceContext) error {
	defer func() {
		if s.bad.Load() > 0 {
			s.info.Log.Warn().Int64("skipped", s.bad.Load()).Str("source", s.info.Name).Msg("malformed records skipped")
		}
	}()
	var v T
	for {
		if sc.Poll() {
			return nil
		}
		if len(s.held) == 0 {
			k, ok, err := s.info.Splits.NextSplit(sc.Context(), s.finished, s.lastCheckpoint)
			if err != nil {
				if sc.Context().Err() != nil {
					return nil // cancelled while asking
				}
				return fmt.Errorf("source %q: %w", s.info.Name, err)
			}
			s.finished = s.finished[:0]
			if !ok {
				return nil
			}
			if k < 0 || k >= len(s.splits) {
				return fmt.Errorf("source %q: the JobManager assigned split %d of %d", s.info.Name, k, len(s.splits))
			}
			s.held = append(s.held, heldSplit{split: k})
			continue // a checkpoint may have come meanwhile
		}
		h := &s.held[0]
		r, err := s.format.Open(sc.Context(), s.splits[h.split], h.pos)
		if err != nil {
			return fmt.Errorf("source %q: %w", s.info.Name, err)
		}
		stopped, err := s.read(sc, r, &v)
		r.Close()
		if err != nil || stopped {
			return err
		}
		s.finished = append(s.finished, h.split)
		s.held = s.held[1:]
	}
}

// read emits the records of the first held split from r.
func (s *splitSource[T]) read(sc *operator.SourceContext, r formats.Reader[T], v *T) (stopped bool, err error) {
	// Declared once: errors.As takes its address, which puts it on the
	// heap (an allocation per record when declared in the loop).
	var re *formats.RecordError
	for {
		if sc.Poll() {
			return true, nil
		}
		err := r.Next(v)
		s.held[0].pos = r.Pos()
		switch {
		case err == nil:
			if s.hook != nil {
				s.hook(s.info.Subtask, s.held[0].split)
			}
			s.out.Collect(*v)
		case errors.Is(err, io.EOF):
			return false, nil
		case errors.As(err, &re):
			if err := s.malformed(sc.Context(), re); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("source %q: %w", s.info.Name, err)
		}
	}
}

// malformed skips re, or returns the error that fails the job.
func (s *splitSource[T]) malformed(ctx context.Context, re *formats.RecordError) error {
	if s.maxBad < 0 || s.bad.Load() < int64(s.maxBad) {
		if s.bad.Add(1) <= loggedMalformed {
			s.info.Log.Warn().Str("source", s.info.Name).Str("record", re.Error()).Msg("malformed record skipped")
		}
		return nil
	}
	if re.Offset >= 0 {
		if line, err := formats.LineOf(ctx, re.Path, re.Offset); err == nil {
			re.Line = line
		}
	}
	if s.maxBad > 0 {
		return fmt.Errorf("source %q: %w: %w (after skipping %d, the most -D %s allows)", s.info.Name, ErrMalformedRecord, re, s.bad.Load(), config.SourceMaxMalformed)
	}
	return fmt.Errorf("source %q: %w: %w", s.info.Name, ErrMalformedRecord, re)
}

// recordsSkipped is the number of malformed records this subtask skipped.
func (s *splitSource[T]) recordsSkipped() int64 { return s.bad.Load() }

func (s *splitSource[T]) SnapshotState(id int64) (operator.OperatorState, error) {
	s.lastCheckpoint = max(s.lastCheckpoint, id)
	var st operator.OperatorState
	for _, h := range s.held {
		b := binary.AppendVarint(nil, int64(len(s.splits)))
		b = binary.AppendVarint(b, int64(h.split))
		b = binary.AppendVarint(b, h.pos)
		st.List = append(st.List, b)
	}
	return st, nil
}

func (s *splitSource[T]) RestoreState(st operator.OperatorState) error {
	s.held = s.held[:0]
	for _, b := range st.List {
		n, k1 := binary.Varint(b)
		k, k2 := binary.Varint(b[max(k1, 0):])
		pos, k3 := binary.Varint(b[max(k1+k2, 0):])
		if k1 <= 0 || k2 <= 0 || k3 <= 0 {
			return fmt.Errorf("source %q: corrupt position", s.info.Name)
		}
		if int(n) != len(s.splits) {
			return fmt.Errorf("source %q: the input has %d splits now, %d when checkpointed (did the files change?)", s.info.Name, len(s.splits), n)
		}
		if pos == -1 { // an entry of the static assignment floe used before: that split was done
			continue
		}
		if k < 0 || k >= n {
			return fmt.Errorf("source %q: corrupt position: split %d of %d", s.info.Name, k, n)
		}
		s.held = append(s.held, heldSplit{split: int(k), pos: pos})
	}
	return nil
}

// Errors of Execute about file sinks' output directories, found in the
// client before the job is submitted.
var (
	// ErrOutput is wrapped when an output directory cannot be used: it
	// holds files (ErrOutputExists too), or it cannot be written.
	ErrOutput = output.ErrUnusable
	// ErrOutputExists is wrapped when an output directory holds files and
	// replacing them was not asked for.
	ErrOutputExists = output.ErrExists
)

// prepareOutputs checks, in the client before the job is submitted, the
// output directories of the file sinks (floe/internal/output): one that
// holds files fails the job with a one-line error unless the sink's
// Overwrite or -D floe.output.overwrite=true, which moves the earlier files
// aside until the job ends. A run restoring a savepoint or checkpoint
// continues its output and skips this. With follow (an attached run that
// waits for the job's end), the returned done settles the outcome: on
// success the earlier files go; on failure what the run wrote goes and the
// earlier files come back.
func (e *Environment) prepareOutputs(ctx context.Context, follow bool) (done func(succeeded bool) error, err error) {
	done = func(bool) error { return nil }
	if r, _ := role.Current(); r != role.Client || len(e.outputs) == 0 {
		return done, nil
	}
	if _, restoring := e.conf.Lookup(savepointPathKey); restoring {
		return done, nil
	}
	all, err := e.conf.Bool(config.OutputOverwrite, false)
	if err != nil {
		return done, err
	}
	if attached, err := e.conf.Bool(config.Attached, true); err != nil {
		return done, err
	} else if !attached {
		follow = false
	}
	overwrite := map[string]bool{}
	for _, n := range e.outputs {
		overwrite[n.outputDir] = overwrite[n.outputDir] || n.overwrite || all
	}
	var dones []func(bool) error
	settle := func(ok bool) error {
		var errs []error
		for _, d := range dones {
			errs = append(errs, d(ok))
		}
		return errors.Join(errs...)
	}
	for _, dir := range slices.Sorted(maps.Keys(overwrite)) {
		if !follow && overwrite[dir] {
			continue // nobody would move the earlier files back or remove them
		}
		d, err := output.Prepare(context.WithoutCancel(ctx), dir, overwrite[dir]) // done runs after the job, ctx may have ended
		if err != nil {
			return done, errors.Join(err, settle(false))
		}
		dones = append(dones, d)
	}
	if !follow {
		return done, nil
	}
	return settle, nil
}

package formats

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"floe/internal/fsys"
)

// DefaultSplitSize is the length of the byte ranges text files are cut into.
const DefaultSplitSize = 64 << 20

// Split is a part of an input read by one source subtask at a time: a byte
// range [Start, End) of a text file (it owns the lines that start in it), or
// one row group of a Parquet file.
type Split struct {
	Path       string
	Start, End int64 // text files
	RowGroup   int   // Parquet files
	Rows       int64 // Parquet: rows of the row group
	// Hosts, when known, hold the split's data (its HDFS block's
	// replicas): the JobManager gives it to a subtask there first.
	Hosts []string
}

// Format reads records T from files. Implementations are immutable and safe
// for concurrent use.
type Format[T any] interface {
	// Splits cuts files into splits, in a stable order (the same in every
	// process that plans the job). size is the length of text splits
	// (0: DefaultSplitSize).
	Splits(ctx context.Context, files []string, size int64) ([]Split, error)
	// Open reads split s from position from (a Reader's Pos; 0 or less: from
	// the split's start).
	Open(ctx context.Context, s Split, from int64) (Reader[T], error)
}

// Reader reads the records of one split. It is not safe for concurrent use.
type Reader[T any] interface {
	// Next decodes the next record into v. It returns io.EOF at the end of
	// the split, a *RecordError for a record that does not decode (Next
	// can be called again for the one after), and other errors for I/O.
	Next(v *T) error
	// Pos is where Open resumes after the records Next returned so far,
	// malformed ones included.
	Pos() int64
	Close() error
}

// RecordError is a record that does not decode.
type RecordError struct {
	Path string
	// Offset is the byte offset of a text record's line (-1 for Parquet).
	Offset int64
	// Line is the text record's line number from 1, when known (LineOf).
	Line int64
	// RowGroup and Row locate a Parquet record.
	RowGroup int
	Row      int64
	Err      error
}

func (e *RecordError) Error() string {
	switch {
	case e.Offset < 0:
		return fmt.Sprintf("%s: row group %d, row %d: %v", e.Path, e.RowGroup, e.Row, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s: line %d (byte %d): %v", e.Path, e.Line, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: byte %d: %v", e.Path, e.Offset, e.Err)
}

func (e *RecordError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// LineOf returns the number (from 1) of the line starting at offset of
// file path, by counting the line breaks before it. It reads the file up to
// offset: use it for error messages, not per record.
func LineOf(ctx context.Context, path string, offset int64) (int64, error) {
	fsy, p, err := fsys.Resolve(path)
	if err != nil {
		return 0, err
	}
	f, err := fsy.Open(ctx, p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	line := int64(1)
	for left := offset; left > 0; {
		n, err := f.Read(buf[:min(int64(len(buf)), left)])
		line += int64(bytes.Count(buf[:n], []byte{'\n'}))
		left -= int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, fmt.Errorf("count lines of %s: %w", path, err)
		}
	}
	return line, nil
}

// textSplits cuts each file into byte ranges of size; empty files have none.
func textSplits(ctx context.Context, files []string, size int64) ([]Split, error) {
	if size <= 0 {
		size = DefaultSplitSize
	}
	var splits []Split
	for _, file := range files {
		fsy, p, err := fsys.Resolve(file)
		if err != nil {
			return nil, err
		}
		st, err := fsy.Stat(ctx, p)
		if err != nil {
			return nil, err
		}
		for off := int64(0); off < st.Size; off += size {
			splits = append(splits, Split{Path: file, Start: off, End: min(off+size, st.Size)})
		}
	}
	return splits, nil
}

// lines reads the lines that start in a split's range.
type lines struct {
	f    io.ReadSeekCloser
	r    *bufio.Reader
	path string
	pos  int64 // offset of the next line
	end  int64
	long []byte // a line longer than the buffer
}

// openLines opens s at from (a line start inside s; <= s.Start: the split's
// first line).
func openLines(ctx context.Context, s Split, from int64) (*lines, error) {
	fsy, p, err := fsys.Resolve(s.Path)
	if err != nil {
		return nil, err
	}
	f, err := fsy.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	l := &lines{f: f, path: s.Path, pos: max(from, s.Start), end: s.End}
	seek := l.pos
	skip := from <= s.Start && s.Start > 0 // the line crossing Start is the previous split's
	if skip {
		seek = s.Start - 1 // a line starting at Start is ours: the byte before it is '\n'
	}
	if _, err := f.Seek(seek, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek %s to %d: %w", s.Path, seek, err)
	}
	l.r = bufio.NewReaderSize(f, 1<<16)
	if skip {
		l.pos = seek
		if _, err := l.next(); err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			return nil, err
		}
	}
	return l, nil
}

// next returns the next line without its line break, and io.EOF after the
// last. The line is valid until the next call.
func (l *lines) next() ([]byte, error) {
	l.long = l.long[:0]
	for {
		b, err := l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			l.long = append(l.long, b...)
			continue
		}
		if len(l.long) > 0 {
			l.long = append(l.long, b...)
			b = l.long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s at %d: %w", l.path, l.pos, err)
		}
		if len(b) == 0 {
			return nil, io.EOF
		}
		l.pos += int64(len(b))
		b = bytes.TrimSuffix(b, []byte{'\n'})
		return bytes.TrimSuffix(b, []byte{'\r'}), nil
	}
}

// record returns the next line of the split and its offset, io.EOF after
// the last line starting before the split's end.
func (l *lines) record() (line []byte, at int64, err error) {
	if l.pos >= l.end {
		return nil, l.pos, io.EOF
	}
	at = l.pos
	line, err = l.next()
	return line, at, err
}

// textReader decodes the lines of a split with decode.
type textReader[T any] struct {
	l      *lines
	decode func(line []byte, v *T) error
}

func (r *textReader[T]) Next(v *T) error {
	for {
		line, at, err := r.l.record()
		if err != nil {
			return err
		}
		if len(line) == 0 { // blank lines hold no record
			continue
		}
		if err := r.decode(line, v); err != nil {
			return &RecordError{Path: r.l.path, Offset: at, Err: err}
		}
		return nil
	}
}

func (r *textReader[T]) Pos() int64   { return r.l.pos }
func (r *textReader[T]) Close() error { return r.l.f.Close() }

// Splits cuts files into byte ranges.
func (c *CSV[T]) Splits(ctx context.Context, files []string, size int64) ([]Split, error) {
	return textSplits(ctx, files, size)
}

// Open reads the lines of s; with a header, it first reads the file's
// first line, and the split at the file's start skips it.
func (c *CSV[T]) Open(ctx context.Context, s Split, from int64) (Reader[T], error) {
	var header []byte
	if c.opts.Header {
		h, err := openLines(ctx, Split{Path: s.Path, End: 1}, 0)
		if err != nil {
			return nil, err
		}
		line, err := h.next()
		h.f.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		header = bytes.Clone(line)
		if from <= 0 && s.Start == 0 {
			from = h.pos // the first record follows the header
		}
	}
	d, err := c.Bind(header)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	l, err := openLines(ctx, s, from)
	if err != nil {
		return nil, err
	}
	return &textReader[T]{l: l, decode: d.Decode}, nil
}

// Splits cuts files into byte ranges.
func (j *JSONLines[T]) Splits(ctx context.Context, files []string, size int64) ([]Split, error) {
	return textSplits(ctx, files, size)
}

// Open reads the lines of s.
func (j *JSONLines[T]) Open(ctx context.Context, s Split, from int64) (Reader[T], error) {
	l, err := openLines(ctx, s, from)
	if err != nil {
		return nil, err
	}
	return &textReader[T]{l: l, decode: j.Decode}, nil
}

// Text reads each line of text files as a string, blank lines too, without
// its line break. It is stateless.
type Text struct{}

// Splits cuts files into byte ranges.
func (Text) Splits(ctx context.Context, files []string, size int64) ([]Split, error) {
	return textSplits(ctx, files, size)
}

// Open reads the lines of s.
func (Text) Open(ctx context.Context, s Split, from int64) (Reader[string], error) {
	l, err := openLines(ctx, s, from)
	if err != nil {
		return nil, err
	}
	return lineReader{l}, nil
}

// lineReader returns the lines of a split as they are.
type lineReader struct{ l *lines }

func (r lineReader) Next(v *string) error {
	line, _, err := r.l.record()
	if err != nil {
		return err
	}
	*v = string(line)
	return nil
}

func (r lineReader) Pos() int64   { return r.l.pos }
func (r lineReader) Close() error { return r.l.f.Close() }

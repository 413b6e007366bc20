package spill

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/rs/zerolog"

	"floe/internal/codec"
)

// ErrClosed is returned by an operator used after Close.
var ErrClosed = errors.New("spill: operator closed")

// ErrCorrupt is wrapped by errors about a spill file that does not read back
// as it was written (a truncated or damaged local disk file).
var ErrCorrupt = errors.New("spill: corrupt spill file")

// Option configures an operator.
type Option func(*options)

type options struct {
	dirs       []string
	log        zerolog.Logger
	fanIn      int
	partitions int
	blockBytes int64
	partBlock  int64 // block size of partition writers
	maxDepth   int
}

// WithDirs sets the directories spill files go to (default: os.TempDir();
// a TaskManager passes TmpDirs of its configuration). Each operator makes
// its own subdirectory in them and removes it on Close.
func WithDirs(dirs ...string) Option { return func(o *options) { o.dirs = dirs } }

// WithLogger sets the logger for spill events (one line per spill or
// merge pass at debug level, never per record).
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithFanIn caps how many runs a sort merges at once (default: as many as
// the budget gives a read buffer, 2..64).
func WithFanIn(n int) Option { return func(o *options) { o.fanIn = n } }

// WithPartitions sets how many partitions a hash aggregation or join splits
// spilled data into per level (default 16).
func WithPartitions(n int) Option { return func(o *options) { o.partitions = n } }

// WithBlockBytes sets the size of one record batch in a spill file (default:
// the budget / 256, between 4 KiB and 1 MiB).
func WithBlockBytes(n int64) Option { return func(o *options) { o.blockBytes = n } }

// WithMaxDepth caps how often a partition is split again with a new seed
// before a join falls back to nested loops and an aggregation keeps the
// partition in memory over its budget (default 4).
func WithMaxDepth(n int) Option { return func(o *options) { o.maxDepth = n } }

func newOptions(b *Budget, opts []Option) options {
	o := options{log: zerolog.Nop(), partitions: 16, maxDepth: 4}
	for _, f := range opts {
		f(&o)
	}
	if len(o.dirs) == 0 {
		o.dirs = []string{os.TempDir()}
	}
	if o.blockBytes <= 0 {
		o.blockBytes = 1 << 20
		if b.limit > 0 {
			o.blockBytes = min(max(b.limit/256, 4<<10), 1<<20)
		}
	}
	if o.fanIn <= 0 {
		o.fanIn = 64
		if b.limit > 0 {
			// Each merged run holds a decoded block and its message.
			o.fanIn = int(min(max(b.limit/(4*o.blockBytes), 2), 64))
		}
	}
	o.fanIn = max(o.fanIn, 2)
	o.partitions = max(o.partitions, 2)
	o.partBlock = o.blockBytes
	if b.limit > 0 {
		// Open partition writers buffer a block and a message each: keep
		// them within an eighth of the budget, with fewer partitions and
		// smaller blocks when the budget is small.
		o.partitions = int(min(max(b.limit/(16*o.blockBytes), 2), int64(o.partitions)))
		o.partBlock = max(min(o.blockBytes, b.limit/(16*int64(o.partitions))), 1<<10)
	}
	o.maxDepth = max(o.maxDepth, 1)
	return o
}

// space is one operator's spill directories: a subdirectory per root,
// made when the first file goes there, removed with everything in it on
// close. Files go to the roots in turn.
type space struct {
	roots []string
	made  []string // made[i]: the subdirectory in roots[i], "" until made
	next  int
	seq   int
	stats *Stats
}

func newSpace(roots []string, st *Stats) *space {
	return &space{roots: roots, made: make([]string, len(roots)), stats: st}
}

func (s *space) create(kind string) (*os.File, error) {
	i := s.next % len(s.roots)
	s.next++
	if s.made[i] == "" {
		if err := os.MkdirAll(s.roots[i], 0o755); err != nil {
			return nil, fmt.Errorf("spill: spill directory %s: %w", s.roots[i], err)
		}
		d, err := os.MkdirTemp(s.roots[i], "floe-spill-")
		if err != nil {
			return nil, fmt.Errorf("spill: spill directory in %s: %w", s.roots[i], err)
		}
		s.made[i] = d
	}
	s.seq++
	f, err := os.OpenFile(filepath.Join(s.made[i], fmt.Sprintf("%s-%06d.arrows", kind, s.seq)), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spill: create spill file: %w", err)
	}
	s.stats.Files++
	return f, nil
}

// close removes the subdirectories and every file in them.
func (s *space) close() error {
	var errs []error
	for i, d := range s.made {
		if d == "" {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("spill: remove %s: %w", d, err))
		}
		s.made[i] = ""
	}
	return errors.Join(errs...)
}

// A spill file is a sequence of frames: a little-endian uint32 length, then
// one message of codec.Writer (Arrow IPC stream bytes of one record batch,
// the first also carrying the schema, and their CRC-32C).

// fileWriter writes records of T to one spill file, in blocks of about
// blockBytes. Not safe for concurrent use.
type fileWriter[T any] struct {
	f       *os.File
	bw      *bufio.Writer
	w       *codec.Writer[T]
	shape   *shape
	block   int64
	pending []T
	pendB   int64
	records int64
	bytes   int64
	stats   *Stats
}

func newFileWriter[T any](sp *space, c *codec.Codec[T], kind string, block int64) (*fileWriter[T], error) {
	f, err := sp.create(kind)
	if err != nil {
		return nil, err
	}
	return &fileWriter[T]{f: f, bw: bufio.NewWriterSize(f, 4<<10), w: c.NewWriter(nil), shape: shapeOf[T](), block: block, stats: sp.stats}, nil
}

// add buffers v and writes a block when the buffer is full.
func (w *fileWriter[T]) add(v *T) error {
	w.pending = append(w.pending, *v)
	w.pendB += w.shape.size(unsafe.Pointer(v))
	if w.pendB >= w.block {
		return w.flushPending()
	}
	return nil
}

func (w *fileWriter[T]) flushPending() error {
	if len(w.pending) == 0 {
		return nil
	}
	err := w.writeBlock(w.pending)
	clear(w.pending)
	w.pending, w.pendB = w.pending[:0], 0
	return err
}

// writeAll writes rows in blocks of about the block size.
func (w *fileWriter[T]) writeAll(rows []T) error {
	start, acc := 0, int64(0)
	for i := range rows {
		acc += w.shape.size(unsafe.Pointer(&rows[i]))
		if acc >= w.block {
			if err := w.writeBlock(rows[start : i+1]); err != nil {
				return err
			}
			start, acc = i+1, 0
		}
	}
	if start < len(rows) {
		return w.writeBlock(rows[start:])
	}
	return nil
}

func (w *fileWriter[T]) writeBlock(rows []T) error {
	msg, err := w.w.Append(rows)
	if err != nil {
		return fmt.Errorf("spill: encode block: %w", err)
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(msg)))
	if _, err := w.bw.Write(n[:]); err != nil {
		return fmt.Errorf("spill: write %s: %w", w.f.Name(), err)
	}
	if _, err := w.bw.Write(msg); err != nil {
		return fmt.Errorf("spill: write %s: %w", w.f.Name(), err)
	}
	w.records += int64(len(rows))
	w.bytes += int64(len(msg) + 4)
	w.stats.SpilledRecords += int64(len(rows))
	w.stats.SpilledBytes += int64(len(msg) + 4)
	return nil
}

// finish writes what is buffered and closes the file; the spilled file stays
// on disk under name for a reader.
func (w *fileWriter[T]) finish() (name string, err error) {
	if err := w.flushPending(); err != nil {
		w.abort()
		return "", err
	}
	if err := w.bw.Flush(); err != nil {
		w.abort()
		return "", fmt.Errorf("spill: write %s: %w", w.f.Name(), err)
	}
	_ = w.w.Close()
	name = w.f.Name()
	if err := w.f.Close(); err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("spill: close %s: %w", name, err)
	}
	return name, nil
}

// abort closes and removes the file.
func (w *fileWriter[T]) abort() {
	_ = w.w.Close()
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}

// fileReader reads the blocks of one spill file back. Not safe for
// concurrent use.
type fileReader[T any] struct {
	f    *os.File
	left int64 // bytes of the file not read yet
	r    *codec.Reader[T]
	msg  []byte
	rows []T
}

func openFileReader[T any](c *codec.Codec[T], name string) (*fileReader[T], error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("spill: open spill file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("spill: stat spill file: %w", err)
	}
	// Unbuffered: a frame is read whole with two reads, and a merge holds
	// many readers at once.
	return &fileReader[T]{f: f, left: fi.Size(), r: c.NewReader(nil)}, nil
}

// maxFrame bounds one frame; blocks are at most a few MiB.
const maxFrame = 1 << 30

// next returns the next block's records, valid until the following call
// (the values, not the slice, may be kept); io.EOF after the last.
func (r *fileReader[T]) next() ([]T, error) {
	var n [4]byte
	if _, err := io.ReadFull(r.f, n[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: %s: frame length: %w", ErrCorrupt, r.f.Name(), err)
	}
	l := binary.LittleEndian.Uint32(n[:])
	r.left -= 4
	if l > maxFrame || int64(l) > r.left {
		return nil, fmt.Errorf("%w: %s: %d-byte frame, %d bytes left in the file", ErrCorrupt, r.f.Name(), l, r.left)
	}
	r.left -= int64(l)
	if cap(r.msg) < int(l) {
		r.msg = make([]byte, l)
	}
	r.msg = r.msg[:l]
	if _, err := io.ReadFull(r.f, r.msg); err != nil {
		return nil, fmt.Errorf("%w: %s: frame of %d bytes: %w", ErrCorrupt, r.f.Name(), l, err)
	}
	clear(r.rows)
	rows, err := r.r.Read(r.msg, r.rows[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, r.f.Name(), err)
	}
	r.rows = rows
	return rows, nil
}

func (r *fileReader[T]) close() {
	r.r.Close()
	_ = r.f.Close()
}

// eachRecord calls fn for every record of the file at name, in order.
func eachRecord[T any](c *codec.Codec[T], name string, fn func(*T) error) error {
	r, err := openFileReader(c, name)
	if err != nil {
		return err
	}
	defer r.close()
	for {
		rows, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
	}
}

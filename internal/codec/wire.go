package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Writer encodes batches of one channel as Arrow IPC stream messages: the
// first message carries the schema, every message one record batch. Not safe
// for concurrent use.
type Writer[T any] struct {
	c   *Codec[T]
	mem memory.Allocator
	buf bytes.Buffer
	w   *ipc.Writer
	b   *array.RecordBuilder
}

// NewWriter returns a writer for one channel.
func (c *Codec[T]) NewWriter(mem memory.Allocator) *Writer[T] {
	if mem == nil {
		mem = Pool
	}
	w := &Writer[T]{c: c, mem: mem}
	w.w = ipc.NewWriter(&w.buf, ipc.WithSchema(c.schema), ipc.WithAllocator(mem))
	w.b = array.NewRecordBuilder(mem, c.schema)
	return w
}

// Append encodes rows as one record batch and returns the bytes to send as
// one message; they are valid until the next call. A message is Arrow IPC
// stream bytes followed by their CRC-32C, so corruption is detected before
// the bytes reach Arrow's decoder, which trusts lengths inside them.
func (w *Writer[T]) Append(rows []T) ([]byte, error) {
	w.buf.Reset()
	rec := w.c.encodeWith(w.b, rows)
	defer rec.Release()
	if err := w.w.Write(rec); err != nil {
		return nil, fmt.Errorf("codec: write batch: %w", err)
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc32.Checksum(w.buf.Bytes(), castagnoli))
	w.buf.Write(sum[:])
	return w.buf.Bytes(), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Close releases the writer's builders.
func (w *Writer[T]) Close() error {
	w.b.Release()
	return w.w.Close()
}

// Reader decodes the messages of one channel, in order. Not safe for
// concurrent use.
type Reader[T any] struct {
	c   *Codec[T]
	mem *boundedAllocator
	in  chunk
	r   *ipc.Reader
	err error
}

// boundedAllocator refuses allocations larger than the message being read:
// lengths inside a message come from another process and must not make this
// one allocate gigabytes.
type boundedAllocator struct {
	memory.Allocator
	limit int
}

func (a *boundedAllocator) Allocate(n int) []byte {
	if n > a.limit {
		panic(fmt.Sprintf("message asks for %d bytes, more than its own size allows", n))
	}
	return a.Allocator.Allocate(n)
}

func (a *boundedAllocator) Reallocate(n int, b []byte) []byte {
	if n > a.limit {
		panic(fmt.Sprintf("message asks for %d bytes, more than its own size allows", n))
	}
	return a.Allocator.Reallocate(n, b)
}

// chunk hands the IPC reader one message at a time.
type chunk struct{ b []byte }

func (c *chunk) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.b)
	c.b = c.b[n:]
	return n, nil
}

// NewReader returns a reader for one channel.
func (c *Codec[T]) NewReader(mem memory.Allocator) *Reader[T] {
	if mem == nil {
		mem = Pool
	}
	return &Reader[T]{c: c, mem: &boundedAllocator{Allocator: mem}}
}

// Read decodes one message made by Writer.Append and appends its rows to
// dst. Input that is not such a message returns an error wrapping
// ErrMalformed, and the reader stays failed (the channel's stream is lost).
func (r *Reader[T]) Read(msg []byte, dst []T) (out []T, err error) {
	if r.err != nil {
		return dst, r.err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrMalformed, p)
		}
		if err != nil {
			r.err = err
			out = dst
		}
	}()
	if len(msg) < 4 {
		return dst, fmt.Errorf("%w: %d-byte message", ErrMalformed, len(msg))
	}
	body, sum := msg[:len(msg)-4], binary.LittleEndian.Uint32(msg[len(msg)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return dst, fmt.Errorf("%w: checksum mismatch (corrupted message)", ErrMalformed)
	}
	msg = body
	r.in.b = msg
	r.mem.limit = len(msg) + 1<<10
	if r.r == nil {
		rd, err := ipc.NewReader(&r.in, ipc.WithSchema(r.c.schema), ipc.WithAllocator(r.mem))
		if err != nil {
			return dst, fmt.Errorf("%w: schema: %w", ErrMalformed, err)
		}
		r.r = rd
	}
	if !r.r.Next() {
		if e := r.r.Err(); e != nil && !errors.Is(e, io.EOF) {
			return dst, fmt.Errorf("%w: %w", ErrMalformed, e)
		}
		return dst, fmt.Errorf("%w: message holds no record batch", ErrMalformed)
	}
	if len(r.in.b) != 0 {
		return dst, fmt.Errorf("%w: %d trailing bytes after the record batch", ErrMalformed, len(r.in.b))
	}
	rec := r.r.Record()
	// Every row takes at least a bit of the message; a larger count is a lie
	// that would make Decode allocate without bound.
	if rec.NumRows() < 0 || rec.NumRows() > 8*int64(len(msg))+8 {
		return dst, fmt.Errorf("%w: %d rows in a %d-byte message", ErrMalformed, rec.NumRows(), len(msg))
	}
	return r.c.Decode(rec, dst)
}

// Resume prepares a new reader for messages from the middle of a channel's
// stream (recovered channel state, whose schema message went to an earlier
// attempt): it reads the start of a stream of its own, schema and no rows.
// Call it before the first Read.
func (r *Reader[T]) Resume() error {
	if r.r != nil || r.err != nil {
		return fmt.Errorf("codec: resume a reader that has read already")
	}
	w := r.c.NewWriter(nil)
	defer w.Close()
	msg, err := w.Append(nil)
	if err != nil {
		return fmt.Errorf("codec: resume: %w", err)
	}
	if _, err := r.Read(msg, nil); err != nil {
		return fmt.Errorf("codec: resume: %w", err)
	}
	return nil
}

// Close releases the reader's state.
func (r *Reader[T]) Close() {
	if r.r != nil {
		r.r.Release()
		r.r = nil
	}
}

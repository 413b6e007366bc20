package codec

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"floe/internal/bufpool"
)

// Writer encodes batches of one channel as Arrow IPC stream messages: the
// first message carries the schema, every message one record batch. Not safe
// for concurrent use.
type Writer[T any] struct {
	c    *Codec[T]
	mem  memory.Allocator
	out  growBuf
	own  []byte    // Append's reused buffer
	last int       // size of the last message, to size the next
	held []*[]byte // column buffers of the batch being written (encodeDirect)
	get  func(int) []byte
	w    *ipc.Writer
	b    *array.RecordBuilder

	// The fast path (fastwrite.go): fast when every column can take it,
	// tmpl once Arrow's writer has written a batch to copy it from.
	fast        bool
	tmpl        *batchTemplate
	fastBatches int // written by the template (tests)
	nBufs       int
	sizes       []int
	marks       []int
	bufs        [][]byte
}

// NewWriter returns a writer for one channel.
func (c *Codec[T]) NewWriter(mem memory.Allocator) *Writer[T] {
	if mem == nil {
		mem = Pool
	}
	w := &Writer[T]{c: c, mem: mem}
	w.w = ipc.NewWriter(&w.out, ipc.WithSchema(c.schema), ipc.WithAllocator(mem))
	w.b = array.NewRecordBuilder(mem, c.schema)
	w.get = func(n int) []byte {
		b := arrowBufs.Get(n)
		w.held = append(w.held, b)
		return *b
	}
	w.fast = true
	for _, col := range c.cols {
		switch col.vc.(type) {
		case stringCodec:
			w.nBufs += 3
		case fastColumn:
			w.nBufs += 2
		default:
			w.fast = false
		}
	}
	return w
}

// Append encodes rows as one record batch and returns the bytes to send as
// one message; they are valid until the next call. A message is Arrow IPC
// stream bytes followed by their CRC-32C, so corruption is detected before
// the bytes reach Arrow's decoder, which trusts lengths inside them.
func (w *Writer[T]) Append(rows []T) ([]byte, error) {
	w.out.b, w.out.pool = w.own[:0], false
	msg, err := w.encode(rows)
	w.own = w.out.b
	return msg, err
}

// AppendOwned is Append into a buffer of bufpool.Messages that belongs to
// the caller: it stays valid, and whoever last reads it may give it back
// (bufpool.Messages.Put) or leave it to the GC.
func (w *Writer[T]) AppendOwned(rows []T) ([]byte, error) {
	w.out.b, w.out.pool = (*bufpool.Messages.Get(max(w.last, 4<<10)))[:0], true
	msg, err := w.encode(rows)
	w.out.b = nil
	if err != nil {
		bufpool.Messages.Put(&msg)
		return nil, err
	}
	w.last = len(msg)
	return msg, nil
}

func (w *Writer[T]) encode(rows []T) ([]byte, error) {
	if w.tmpl == nil || len(rows) == 0 || !w.fastEncode(rows) {
		if err := w.arrowEncode(rows); err != nil {
			return w.out.b, err
		}
		if w.fast && w.tmpl == nil && len(rows) > 0 {
			w.tmpl = w.templateFrom(w.out.b)
		}
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc32.Checksum(w.out.b, castagnoli))
	w.out.Write(sum[:]) //nolint:errcheck // never fails
	return w.out.b, nil
}

// templateFrom takes the fast path's template from the record batch
// message at the end of b (after the schema's, on a stream's first).
func (w *Writer[T]) templateFrom(b []byte) *batchTemplate {
	m, rest, err := nextMessage(b)
	if err == nil && m.header == headerSchema {
		m, rest, err = nextMessage(rest)
	}
	if err != nil || m.header != headerRecordBatch || len(rest) != 0 {
		return nil
	}
	return templateOf(m, len(w.c.cols), w.nBufs)
}

// arrowEncode writes rows as a record batch with Arrow's IPC writer.
func (w *Writer[T]) arrowEncode(rows []T) error {
	rec := w.c.encodeDirect(w.b, rows, w.get)
	defer func() {
		rec.Release()
		for i, b := range w.held {
			arrowBufs.Put(b)
			w.held[i] = nil
		}
		w.held = w.held[:0]
	}()
	if err := w.w.Write(rec); err != nil {
		return fmt.Errorf("codec: write batch: %w", err)
	}
	return nil
}

// growBuf is the IPC writer's output: appends to b, which grows through
// bufpool.Messages when pool is set (the old buffer goes back).
type growBuf struct {
	b    []byte
	pool bool
}

func (g *growBuf) Write(p []byte) (int, error) {
	if len(g.b)+len(p) > cap(g.b) && g.pool {
		nb := (*bufpool.Messages.Get(2*cap(g.b) + len(p)))[:len(g.b)]
		copy(nb, g.b)
		old := g.b // the pool keeps the pointer it is given: not &g.b
		bufpool.Messages.Put(&old)
		g.b = nb
	}
	g.b = append(g.b, p...)
	return len(p), nil
}

// reserve returns b resliced to n bytes, with room for n and whatever was
// in b before dropped.
func (g *growBuf) reserve(n int) []byte {
	if cap(g.b) < n {
		if g.pool {
			old := g.b
			bufpool.Messages.Put(&old)
			g.b = *bufpool.Messages.Get(n)
		} else {
			g.b = make([]byte, n)
		}
	}
	return g.b[:n]
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Close releases the writer's builders.
func (w *Writer[T]) Close() error {
	w.b.Release()
	return w.w.Close()
}

// Reader decodes the messages of one channel, in order, in place: the
// batch's columns are slices of the message (inplace.go), from which Decode
// copies the values into the records. Not safe for concurrent use.
type Reader[T any] struct {
	c      *Codec[T]
	schema bool // the stream's schema was read
	err    error
}

// NewReader returns a reader for one channel. mem is not used: the reader
// allocates nothing but the records' own memory.
func (c *Codec[T]) NewReader(mem memory.Allocator) *Reader[T] {
	return &Reader[T]{c: c}
}

// Read decodes one message made by Writer.Append and appends its rows to
// dst; nothing in them refers to msg afterwards. Input that is not such a
// message returns an error wrapping ErrMalformed, and the reader stays
// failed (the channel's stream is lost).
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
	if !aligned(body) { // columns are read through casts of the bytes
		a := arrowBufs.Get(len(body))
		defer arrowBufs.Put(a)
		copy(*a, body)
		body = *a
	}
	return r.read(body, dst)
}

// read decodes the IPC stream bytes of one message (checksum checked).
func (r *Reader[T]) read(b []byte, dst []T) ([]T, error) {
	m, rest, err := nextMessage(b)
	if err != nil {
		return dst, err
	}
	if !r.schema {
		if m.header != headerSchema {
			return dst, fmt.Errorf("%w: stream does not start with its schema", ErrMalformed)
		}
		if err := checkSchema(m, r.c.schema); err != nil {
			return dst, err
		}
		r.schema = true
		if m, rest, err = nextMessage(rest); err != nil {
			return dst, err
		}
	}
	if m.header != headerRecordBatch {
		return dst, fmt.Errorf("%w: message of type %d, want a record batch", ErrMalformed, m.header)
	}
	if len(rest) != 0 {
		return dst, fmt.Errorf("%w: %d trailing bytes after the record batch", ErrMalformed, len(rest))
	}
	rec, err := loadBatch(m, r.c.schema)
	if err != nil {
		return dst, err
	}
	defer rec.Release()
	// Every row takes at least a bit of the message; a larger count is a lie
	// that would make Decode allocate without bound.
	if rec.NumRows() > 8*int64(len(b))+8 {
		return dst, fmt.Errorf("%w: %d rows in a %d-byte message", ErrMalformed, rec.NumRows(), len(b))
	}
	return r.c.Decode(rec, dst)
}

// Resume prepares a new reader for messages from the middle of a channel's
// stream (recovered channel state, whose schema message went to an earlier
// attempt): it reads the start of a stream of its own, schema and no rows.
// Call it before the first Read.
func (r *Reader[T]) Resume() error {
	if r.schema || r.err != nil {
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
func (r *Reader[T]) Close() {}

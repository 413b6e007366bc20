package codec

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// The fast path of a channel's Writer, for records whose columns are all
// numbers and strings (no nulls): once Arrow's IPC writer has written one
// batch of the schema, its metadata is a template. Later batches copy it,
// patch in their row count, field nodes, buffer offsets and lengths and
// body length (fixed-size fields, so the flatbuffer's layout does not
// change), and write each column's values straight into the message: one
// copy of each value, no Arrow arrays, no flatbuffer built per batch.

// fastColumn writes one column's buffers straight into a message.
type fastColumn interface {
	// sizes are the lengths of the column's data buffers (after its
	// validity bitmap, always empty here), false if it cannot be written.
	sizes(base unsafe.Pointer, n int, stride, off uintptr, dst []int) ([]int, bool)
	// put writes the buffers of sizes into bufs.
	put(base unsafe.Pointer, n int, stride, off uintptr, bufs [][]byte)
}

func (c *primCodec[N]) sizes(_ unsafe.Pointer, n int, _, _ uintptr, dst []int) ([]int, bool) {
	return append(dst, n*int(unsafe.Sizeof(*new(N)))), true
}

func (c *primCodec[N]) put(base unsafe.Pointer, n int, stride, off uintptr, bufs [][]byte) {
	vals := unsafe.Slice((*N)(unsafe.Pointer(unsafe.SliceData(bufs[0]))), n)
	for i := range vals {
		vals[i] = *(*N)(unsafe.Add(base, uintptr(i)*stride+off))
	}
}

func (stringCodec) sizes(base unsafe.Pointer, n int, stride, off uintptr, dst []int) ([]int, bool) {
	total := 0
	for i := range n {
		total += len(*(*string)(unsafe.Add(base, uintptr(i)*stride+off)))
	}
	return append(dst, 4*(n+1), total), total <= math.MaxInt32
}

func (stringCodec) put(base unsafe.Pointer, n int, stride, off uintptr, bufs [][]byte) {
	offs := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(bufs[0]))), n+1)
	chars := bufs[1]
	pos := 0
	for i := range n {
		offs[i] = int32(pos)
		pos += copy(chars[pos:], *(*string)(unsafe.Add(base, uintptr(i)*stride+off)))
	}
	offs[n] = int32(pos)
}

// batchTemplate is the metadata of a record batch message of one schema,
// with the positions of the fields a batch changes.
type batchTemplate struct {
	meta           []byte // as in the message, padded
	length, body   int    // RecordBatch.length, Message.bodyLength
	nodes, buffers int    // the vectors' first elements
	nNodes, nBufs  int
}

// templateOf cuts the template out of a record batch message Arrow wrote,
// or returns nil when its layout is not the fixed one (a field left at
// its default is left out of a flatbuffer).
func templateOf(m ipcMessage, nNodes, nBufs int) *batchTemplate {
	msg, ok := fbRoot(m.meta)
	if !ok {
		return nil
	}
	t := &batchTemplate{meta: append([]byte(nil), m.meta...), nNodes: nNodes, nBufs: nBufs}
	var ok1, ok2 bool
	t.body, ok1 = msg.field(3)
	t.length, ok2 = m.batch.field(0)
	nodes, ok3 := m.batch.structs(1, 16)
	bufs, ok4 := m.batch.structs(2, 16)
	if !ok1 || !ok2 || !ok3 || !ok4 || t.body == 0 || t.length == 0 || len(nodes) != 16*nNodes || len(bufs) != 16*nBufs {
		return nil
	}
	if c, _ := m.batch.field(3); c != 0 { // compression
		return nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.meta)))
	t.nodes = int(uintptr(unsafe.Pointer(unsafe.SliceData(nodes))) - base)
	t.buffers = int(uintptr(unsafe.Pointer(unsafe.SliceData(bufs))) - base)
	return t
}

func pad8(n int) int { return (n + 7) &^ 7 }

// fastEncode writes rows (at least one) as a record batch message by the
// template into out (grown through grow), followed by nothing: the caller
// appends the checksum. It returns false, writing nothing, when a column
// cannot be written this way.
func (w *Writer[T]) fastEncode(rows []T) bool {
	c, t := w.c, w.tmpl
	n := len(rows)
	base := unsafe.Pointer(&rows[0])
	w.sizes = w.sizes[:0]
	w.marks = w.marks[:0]
	for _, col := range c.cols {
		var ok bool
		w.marks = append(w.marks, len(w.sizes))
		if w.sizes, ok = col.vc.(fastColumn).sizes(base, n, c.stride, col.off, w.sizes); !ok {
			return false
		}
	}
	w.marks = append(w.marks, len(w.sizes))
	if len(w.sizes)+len(c.cols) != t.nBufs {
		return false
	}
	body := 0
	for _, s := range w.sizes {
		body += pad8(s)
	}
	total := 8 + len(t.meta) + body
	msg := w.out.reserve(total + 4)[:total]
	binary.LittleEndian.PutUint32(msg, continuation)
	binary.LittleEndian.PutUint32(msg[4:], uint32(len(t.meta)))
	meta := msg[8 : 8+len(t.meta)]
	copy(meta, t.meta)
	binary.LittleEndian.PutUint64(meta[t.length:], uint64(n))
	binary.LittleEndian.PutUint64(meta[t.body:], uint64(body))
	bodyBytes := msg[8+len(t.meta):]
	pos, b := 0, 0
	putBuf := func(size int) []byte {
		e := meta[t.buffers+16*b:]
		binary.LittleEndian.PutUint64(e, uint64(pos))
		binary.LittleEndian.PutUint64(e[8:], uint64(size))
		b++
		buf := bodyBytes[pos : pos+size]
		clear(bodyBytes[pos+size : pos+pad8(size)])
		pos += pad8(size)
		return buf
	}
	for i, col := range c.cols {
		e := meta[t.nodes+16*i:]
		binary.LittleEndian.PutUint64(e, uint64(n))
		binary.LittleEndian.PutUint64(e[8:], 0)
		putBuf(0) // no validity bitmap: no nulls
		sz := w.sizes[w.marks[i]:w.marks[i+1]]
		bufs := w.bufs[:0]
		for _, s := range sz {
			bufs = append(bufs, putBuf(s))
		}
		col.vc.(fastColumn).put(base, n, c.stride, col.off, bufs)
		w.bufs = bufs[:0]
	}
	w.out.b = msg
	w.fastBatches++
	return true
}

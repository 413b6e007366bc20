package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// The in-place reader of a channel's messages. Arrow's IPC reader copies
// every buffer of a record batch out of the message into memory of its
// allocator (zeroed first); this one reads the batch's metadata itself and
// makes the columns slices of the message: Decode then copies the values
// out once, into the records. It reads what Writer writes: an IPC stream
// whose first message is the schema, then record batches, uncompressed,
// without dictionaries. Everything in a message is checked against its
// bounds before use; the columns' contents are checked by Decode, whose
// slice accesses are bounds-checked (a panic there is ErrMalformed).

// The message header types of Arrow's Message.fbs.
const (
	headerSchema      = 1
	headerRecordBatch = 3
)

// continuation is the marker before each IPC message's metadata length.
const continuation = 0xFFFFFFFF

// ipcMessage is one message of a stream, cut out of its bytes.
type ipcMessage struct {
	whole      []byte // the message, metadata and body
	meta, body []byte
	header     uint8
	batch      fbTable // header == headerRecordBatch: the RecordBatch table
}

// nextMessage cuts the first message off b.
func nextMessage(b []byte) (m ipcMessage, rest []byte, err error) {
	if len(b) < 8 || binary.LittleEndian.Uint32(b) != continuation {
		return m, nil, fmt.Errorf("%w: no IPC message at %d bytes", ErrMalformed, len(b))
	}
	n := int64(int32(binary.LittleEndian.Uint32(b[4:])))
	if n <= 0 || n > int64(len(b)-8) {
		return m, nil, fmt.Errorf("%w: metadata of %d bytes in %d", ErrMalformed, n, len(b))
	}
	m.meta = b[8 : 8+n]
	msg, ok := fbRoot(m.meta)
	if !ok {
		return m, nil, fmt.Errorf("%w: message metadata", ErrMalformed)
	}
	m.header, ok = msg.uint8(1)
	if !ok {
		return m, nil, fmt.Errorf("%w: message header type", ErrMalformed)
	}
	bodyLen, ok := msg.int64(3)
	if !ok || bodyLen < 0 || bodyLen > int64(len(b))-8-n {
		return m, nil, fmt.Errorf("%w: body of %d bytes, %d left", ErrMalformed, bodyLen, int64(len(b))-8-n)
	}
	end := 8 + n + bodyLen
	m.whole, m.body, rest = b[:end], b[8+n:end], b[end:]
	if m.header == headerRecordBatch {
		if m.batch, ok = msg.table(2); !ok {
			return m, nil, fmt.Errorf("%w: record batch header", ErrMalformed)
		}
	}
	return m, rest, nil
}

// checkSchema checks that a stream's schema message is schema, with
// Arrow's own reader (once per channel).
func checkSchema(m ipcMessage, schema *arrow.Schema) error {
	var eos [8]byte
	binary.LittleEndian.PutUint32(eos[:], continuation)
	rd, err := ipc.NewReader(bytes.NewReader(append(append([]byte(nil), m.whole...), eos[:]...)), ipc.WithSchema(schema))
	if err != nil {
		return fmt.Errorf("%w: schema: %w", ErrMalformed, err)
	}
	rd.Release()
	return nil
}

// batchLoader builds the columns of one record batch over its body.
type batchLoader struct {
	body          []byte
	nodes, bufs   []byte // FieldNode and Buffer structs, 16 bytes each
	nodeN, bufN   int    // the next of each
	depth, budget int
}

// loadBatch returns the record batch of m, its columns slices of m.body.
func loadBatch(m ipcMessage, schema *arrow.Schema) (arrow.Record, error) {
	length, ok := m.batch.int64(0)
	if !ok || length < 0 {
		return nil, fmt.Errorf("%w: batch length %d", ErrMalformed, length)
	}
	if c, _ := m.batch.field(3); c != 0 {
		return nil, fmt.Errorf("%w: compressed batch", ErrMalformed)
	}
	l := batchLoader{body: m.body, budget: 1 << 16}
	if l.nodes, ok = m.batch.structs(1, 16); !ok {
		return nil, fmt.Errorf("%w: field nodes", ErrMalformed)
	}
	if l.bufs, ok = m.batch.structs(2, 16); !ok {
		return nil, fmt.Errorf("%w: buffers", ErrMalformed)
	}
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, f := range schema.Fields() {
		d, err := l.load(f.Type)
		if err != nil {
			return nil, err
		}
		cols = append(cols, array.MakeFromData(d))
		d.Release()
	}
	if l.nodeN*16 != len(l.nodes) || l.bufN*16 != len(l.bufs) {
		return nil, fmt.Errorf("%w: %d field nodes and %d buffers for the schema's %d and %d", ErrMalformed,
			len(l.nodes)/16, len(l.bufs)/16, l.nodeN, l.bufN)
	}
	return array.NewRecord(schema, cols, length), nil
}

// load builds the next array of type dt (with its children, depth first,
// as the IPC format lists their nodes and buffers).
func (l *batchLoader) load(dt arrow.DataType) (arrow.ArrayData, error) {
	if l.depth > 64 || l.budget <= 0 {
		return nil, fmt.Errorf("%w: type nested too deep", ErrMalformed)
	}
	l.budget--
	if (l.nodeN+1)*16 > len(l.nodes) {
		return nil, fmt.Errorf("%w: %d field nodes, more columns", ErrMalformed, l.nodeN)
	}
	node := l.nodes[l.nodeN*16:]
	l.nodeN++
	n, nulls := int64(binary.LittleEndian.Uint64(node)), int64(binary.LittleEndian.Uint64(node[8:]))
	if n < 0 || nulls < 0 || nulls > n || n > int64(len(l.body))*8+8 {
		return nil, fmt.Errorf("%w: field node of %d values, %d null", ErrMalformed, n, nulls)
	}
	nbufs := 2
	var children []arrow.DataType
	switch t := dt.(type) {
	case *arrow.BooleanType, *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type,
		*arrow.Float32Type, *arrow.Float64Type, *arrow.TimestampType, *arrow.DurationType:
	case *arrow.StringType, *arrow.BinaryType:
		nbufs = 3
	case *arrow.ListType:
		children = []arrow.DataType{t.Elem()}
	case *arrow.StructType:
		nbufs = 1
		for _, f := range t.Fields() {
			children = append(children, f.Type)
		}
	default:
		return nil, fmt.Errorf("%w: column type %s", ErrUnsupportedType, dt)
	}
	bufs := make([]*memory.Buffer, nbufs)
	for i := range bufs {
		b, err := l.buffer()
		if err != nil {
			return nil, err
		}
		bufs[i] = b
	}
	if nulls == 0 {
		bufs[0] = nil // a validity bitmap may be left out then
	}
	var kids []arrow.ArrayData
	defer func() {
		for _, k := range kids {
			k.Release()
		}
	}()
	l.depth++
	for _, c := range children {
		k, err := l.load(c)
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	l.depth--
	return array.NewData(dt, int(n), bufs, kids, int(nulls), 0), nil
}

// buffer is the next buffer, a slice of the body.
func (l *batchLoader) buffer() (*memory.Buffer, error) {
	if (l.bufN+1)*16 > len(l.bufs) {
		return nil, fmt.Errorf("%w: %d buffers, more wanted", ErrMalformed, l.bufN)
	}
	b := l.bufs[l.bufN*16:]
	l.bufN++
	off, n := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	// Offsets are multiples of 8 (the writer pads to 8 or more), so values
	// read through unsafe casts of the bytes are aligned.
	if off < 0 || n < 0 || off%8 != 0 || off > int64(len(l.body)) || n > int64(len(l.body))-off {
		return nil, fmt.Errorf("%w: buffer of %d bytes at %d in a %d-byte body", ErrMalformed, n, off, len(l.body))
	}
	return memory.NewBufferBytes(l.body[off : off+n]), nil
}

// aligned reports whether b starts at a multiple of 8 in memory.
func aligned(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 == 0
}

// fbTable is a table of a flatbuffer: the position of the table and of its
// vtable in b. Every access is checked against b's bounds.
type fbTable struct {
	b         []byte
	pos, vt   int
	vtEntries int
}

func fbRoot(b []byte) (fbTable, bool) {
	if len(b) < 4 {
		return fbTable{}, false
	}
	return fbAt(b, int64(binary.LittleEndian.Uint32(b)))
}

func fbAt(b []byte, pos int64) (fbTable, bool) {
	if pos < 0 || pos > int64(len(b))-4 {
		return fbTable{}, false
	}
	vt := pos - int64(int32(binary.LittleEndian.Uint32(b[pos:])))
	if vt < 0 || vt > int64(len(b))-4 {
		return fbTable{}, false
	}
	size := int64(binary.LittleEndian.Uint16(b[vt:]))
	if size < 4 || size%2 != 0 || size > int64(len(b))-vt {
		return fbTable{}, false
	}
	return fbTable{b: b, pos: int(pos), vt: int(vt), vtEntries: int(size-4) / 2}, true
}

// field is the position of field i in b, 0 when absent; false when it
// points outside b.
func (t fbTable) field(i int) (int, bool) {
	if i >= t.vtEntries {
		return 0, true
	}
	off := int(binary.LittleEndian.Uint16(t.b[t.vt+4+2*i:]))
	if off == 0 {
		return 0, true
	}
	if t.pos+off >= len(t.b) {
		return 0, false
	}
	return t.pos + off, true
}

func (t fbTable) scalar(i, size int) ([]byte, bool) {
	p, ok := t.field(i)
	switch {
	case !ok:
		return nil, false
	case p == 0:
		return make([]byte, size), true // absent: the default, zero
	case p+size > len(t.b):
		return nil, false
	}
	return t.b[p : p+size], true
}

func (t fbTable) uint8(i int) (uint8, bool) {
	v, ok := t.scalar(i, 1)
	if !ok {
		return 0, false
	}
	return v[0], true
}

func (t fbTable) int64(i int) (int64, bool) {
	v, ok := t.scalar(i, 8)
	if !ok {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(v)), true
}

// table is the table field i refers to.
func (t fbTable) table(i int) (fbTable, bool) {
	p, ok := t.field(i)
	if !ok || p == 0 || p+4 > len(t.b) {
		return fbTable{}, false
	}
	return fbAt(t.b, int64(p)+int64(binary.LittleEndian.Uint32(t.b[p:])))
}

// structs is the bytes of field i, a vector of structs of size bytes each
// (empty when absent).
func (t fbTable) structs(i, size int) ([]byte, bool) {
	p, ok := t.field(i)
	if !ok || p+4 > len(t.b) {
		return nil, false
	}
	if p == 0 {
		return nil, true
	}
	v := int64(p) + int64(binary.LittleEndian.Uint32(t.b[p:]))
	if v > int64(len(t.b))-4 {
		return nil, false
	}
	n := int64(binary.LittleEndian.Uint32(t.b[v:]))
	if n*int64(size) > int64(len(t.b))-v-4 {
		return nil, false
	}
	return t.b[v+4 : v+4+n*int64(size)], true
}

package formats

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
)

// The direct reader's column chunks are read into buffers that outlive a
// row group: arrow's RowGroupReader.GetColumnPageReader reads a chunk into
// a new slice, copies it into a new buffered reader, makes a page reader
// whose decompression buffer grows from 16 KiB page by page, and allocates
// each page's decompressed bytes afresh. A chunkState keeps all of these
// (the chunk's bytes, the page reader, one page buffer) for the next chunk.

// chunkState is what reading one column chunk keeps for the next.
type chunkState struct {
	buf   []byte
	rd    sliceReader
	alloc pageAlloc
	pr    file.PageReader
}

var chunkStates = sync.Pool{New: func() any { return new(chunkState) }}

// errNoChunkReuse: the chunk is read by arrow's own page reader (encrypted,
// or written by a parquet-mr that left the dictionary page header out of
// the chunk's size).
var errNoChunkReuse = errors.New("column chunk read by arrow's page reader")

// openChunk reads column chunk cc of a file of size bytes from ra into st
// and returns st's page reader over it.
func (st *chunkState) open(ra io.ReaderAt, size int64, md *metadata.FileMetaData, cc *metadata.ColumnChunkMetaData) (file.PageReader, error) {
	if cc.CryptoMetadata() != nil || md.WriterVersion().LessThan(metadata.Parquet816FixedVersion) {
		return nil, errNoChunkReuse
	}
	start := cc.DataPageOffset()
	if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
		start = cc.DictionaryPageOffset()
	}
	n := cc.TotalCompressedSize()
	if start < 0 || n < 0 || start > size || n > size-start {
		return nil, fmt.Errorf("column chunk of %d bytes at %d in a file of %d", n, start, size)
	}
	if int64(cap(st.buf)) < n {
		st.buf = make([]byte, n)
	}
	b := st.buf[:n]
	if k, err := ra.ReadAt(b, start); k < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read the column chunk (%d bytes at %d): %w", n, start, err)
	}
	st.rd = sliceReader{b: b}
	if st.pr == nil {
		pr, err := file.NewPageReader(&st.rd, cc.NumValues(), cc.Compression(), &st.alloc, nil)
		if err != nil {
			return nil, err
		}
		st.pr = pr
	} else {
		st.pr.Reset(&st.rd, cc.NumValues(), cc.Compression(), nil)
		if err := st.pr.Err(); err != nil {
			st.pr = nil
			return nil, err
		}
	}
	return st.pr, nil
}

// sliceReader is a parquet.BufferedReader of a byte slice.
type sliceReader struct {
	b   []byte
	off int
}

func (r *sliceReader) Peek(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("peek of %d bytes", n)
	}
	if n > len(r.b)-r.off {
		return r.b[r.off:], io.EOF
	}
	return r.b[r.off : r.off+n], nil
}

func (r *sliceReader) Discard(n int) (int, error) {
	if n < 0 {
		return 0, fmt.Errorf("discard of %d bytes", n)
	}
	if n > len(r.b)-r.off {
		k := len(r.b) - r.off
		r.off = len(r.b)
		return k, io.EOF
	}
	r.off += n
	return n, nil
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	k := copy(p, r.b[r.off:])
	r.off += k
	return k, nil
}

// pageAlloc is the memory.Allocator of one column's page reader: it keeps
// the last page's buffer, which arrow's page reader frees when it moves to
// the next page (the direct reader is done with a page before it asks for
// the next one, and copies what it keeps: dictionaries, strings).
type pageAlloc struct{ free []byte }

func (a *pageAlloc) Allocate(n int) []byte {
	if cap(a.free) >= n {
		b := a.free[:n]
		a.free = nil
		return b
	}
	return make([]byte, n)
}

func (a *pageAlloc) Reallocate(n int, b []byte) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}

func (a *pageAlloc) Free(b []byte) {
	if cap(b) > cap(a.free) {
		a.free = b[:0]
	}
}

package formats

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/schema"
)

// This file decodes the pages of one flat Parquet column chunk (no
// repetition, at most one definition level) straight into Go values,
// without Arrow arrays: integers, dates, timestamps and decimals of up to
// 8 bytes as int64 (decimals scaled), wider decimals as decimal128.Num,
// floats as float64, byte arrays as strings. It reads the encodings
// writers use for such columns: PLAIN and dictionaries (PLAIN_DICTIONARY,
// RLE_DICTIONARY) for values, RLE and BIT_PACKED for levels. A dictionary's
// strings are made once per column chunk and shared by the rows that
// refer to them. The page reader (arrow's) decompresses the pages.

// directEncodings are the encodings a column chunk may list for the direct
// decoder to read it.
var directEncodings = map[parquet.Encoding]bool{
	parquet.Encodings.Plain: true, parquet.Encodings.PlainDict: true, parquet.Encodings.RLEDict: true,
	parquet.Encodings.RLE: true, parquet.Encodings.BitPacked: true,
}

// colVec holds a batch of one column's values, one per row (nulls are
// zero, with valid false).
type colVec struct {
	valid []bool // nil: the column is required
	i64   []int64
	f64   []float64
	str   []string
	num   []decimal128.Num
	nulls int // rows of the batch that are null
}

// pqColumn reads one column chunk.
type pqColumn struct {
	pr      file.PageReader
	name    string
	phys    parquet.Type
	typeLen int  // of FIXED_LEN_BYTE_ARRAY
	wide    bool // a FIXED_LEN_BYTE_ARRAY of more than 8 bytes: num, not i64
	maxDef  int16

	// the chunk's dictionary (at most one)
	dictN   int
	dictI64 []int64
	dictF64 []float64
	dictStr []string
	dictNum []decimal128.Num

	// the current data page: left rows (levels) to read
	left    int
	defs    levels
	useDict bool
	idx     hybridDecoder
	plain   []byte // PLAIN values not read yet

	idxBuf []uint32
	tmp    colVec // non-null values when the batch has nulls
	empty  int    // data pages without values read (arrow's page reader repeats one of a corrupt chunk forever)
}

// maxEmptyPages is how many data pages without values a column chunk may
// have.
const maxEmptyPages = 1024

func newPQColumn(pr file.PageReader, descr *schema.Column) *pqColumn {
	c := &pqColumn{pr: pr, name: descr.Name(), phys: descr.PhysicalType(), typeLen: descr.TypeLength(), maxDef: descr.MaxDefinitionLevel()}
	c.wide = c.phys == parquet.Types.FixedLenByteArray && c.typeLen > 8
	return c
}

// levels reads definition levels of a flat column (0 or 1 when maxDef is
// 1), RLE or the deprecated BIT_PACKED encoding (most significant bit
// first).
type levels struct {
	rle    hybridDecoder
	packed []byte // BIT_PACKED: the page's levels
	at     int    // BIT_PACKED: the next level's bit
	buf    []uint32
}

// read sets valid[i] for the next len(valid) levels and returns the number
// of nulls.
func (l *levels) read(valid []bool, maxDef int16) (int, error) {
	nulls := 0
	if l.packed != nil {
		if (l.at+len(valid)+7)/8 > len(l.packed) {
			return 0, fmt.Errorf("definition levels: %w", errTruncated)
		}
		for i := range valid {
			b := l.packed[(l.at+i)/8]>>(7-uint(l.at+i)%8)&1 == 1
			valid[i] = b
			if !b {
				nulls++
			}
		}
		l.at += len(valid)
		return nulls, nil
	}
	if cap(l.buf) < len(valid) {
		l.buf = make([]uint32, len(valid))
	}
	buf := l.buf[:len(valid)]
	if err := l.rle.read(buf); err != nil {
		return 0, fmt.Errorf("definition levels: %w", err)
	}
	for i, d := range buf {
		if d > uint32(maxDef) {
			return 0, fmt.Errorf("definition level %d is more than %d", d, maxDef)
		}
		valid[i] = d == uint32(maxDef)
		if d != uint32(maxDef) {
			nulls++
		}
	}
	return nulls, nil
}

// nextPage moves to the next data page, reading a dictionary page on the
// way.
func (c *pqColumn) nextPage() error {
	for {
		if !c.pr.Next() {
			if err := c.pr.Err(); err != nil {
				return err
			}
			return errTruncated
		}
		switch p := c.pr.Page().(type) {
		case *file.DictionaryPage:
			if c.dictI64 != nil || c.dictF64 != nil || c.dictStr != nil || c.dictNum != nil {
				return fmt.Errorf("a second dictionary page")
			}
			if enc := parquet.Encoding(p.Encoding()); enc != parquet.Encodings.Plain && enc != parquet.Encodings.PlainDict {
				return fmt.Errorf("dictionary page of encoding %s", enc)
			}
			if err := c.readDict(p.Data(), int(p.NumValues())); err != nil {
				return fmt.Errorf("dictionary page: %w", err)
			}
		case *file.DataPageV1:
			if p.NumValues() <= 0 {
				if err := c.emptyPage(); err != nil {
					return err
				}
				continue
			}
			data := p.Data()
			if c.maxDef > 0 {
				switch p.DefinitionLevelEncoding() {
				case parquet.Encodings.RLE:
					if len(data) < 4 {
						return fmt.Errorf("definition levels: %w", errTruncated)
					}
					n := binary.LittleEndian.Uint32(data)
					if uint64(n) > uint64(len(data)-4) {
						return fmt.Errorf("definition levels of %d bytes in a page of %d", n, len(data))
					}
					if err := c.defs.rle.reset(data[4:4+n], bitWidth(int(c.maxDef))); err != nil {
						return err
					}
					c.defs.packed = nil
					data = data[4+n:]
				case parquet.Encodings.BitPacked:
					if c.maxDef != 1 {
						return fmt.Errorf("BIT_PACKED definition levels of more than one bit")
					}
					n := (int(p.NumValues()) + 7) / 8
					if n > len(data) {
						return fmt.Errorf("definition levels: %w", errTruncated)
					}
					c.defs.packed, c.defs.at = data[:n], 0
					data = data[n:]
				default:
					return fmt.Errorf("definition levels of encoding %s", p.DefinitionLevelEncoding())
				}
			}
			return c.startValues(parquet.Encoding(p.Encoding()), data, int(p.NumValues()))
		case *file.DataPageV2:
			if p.NumValues() <= 0 {
				if err := c.emptyPage(); err != nil {
					return err
				}
				continue
			}
			data := p.Data()
			dl, rl := int(p.DefinitionLevelByteLen()), int(p.RepetitionLevelByteLen())
			if dl < 0 || rl != 0 || dl > len(data) {
				return fmt.Errorf("page v2 levels of %d and %d bytes in a page of %d", dl, rl, len(data))
			}
			if c.maxDef > 0 {
				if err := c.defs.rle.reset(data[:dl], bitWidth(int(c.maxDef))); err != nil {
					return err
				}
				c.defs.packed = nil
			}
			return c.startValues(parquet.Encoding(p.Encoding()), data[dl:], int(p.NumValues()))
		}
	}
}

func (c *pqColumn) emptyPage() error {
	c.empty++
	if c.empty > maxEmptyPages {
		return fmt.Errorf("more than %d data pages without values", maxEmptyPages)
	}
	return nil
}

func (c *pqColumn) startValues(enc parquet.Encoding, data []byte, n int) error {
	c.left = n
	switch enc {
	case parquet.Encodings.Plain:
		c.useDict, c.plain = false, data
	case parquet.Encodings.PlainDict, parquet.Encodings.RLEDict:
		if c.dictI64 == nil && c.dictF64 == nil && c.dictStr == nil && c.dictNum == nil {
			return fmt.Errorf("dictionary-encoded page without a dictionary")
		}
		if len(data) < 1 {
			return fmt.Errorf("dictionary indices: %w", errTruncated)
		}
		c.useDict = true
		return c.idx.reset(data[1:], uint(data[0]))
	default:
		return fmt.Errorf("values of encoding %s (not read without Arrow)", enc)
	}
	return nil
}

// readDict decodes a PLAIN dictionary of n values.
func (c *pqColumn) readDict(data []byte, n int) error {
	if n < 0 {
		return fmt.Errorf("%d values", n)
	}
	// Each value takes at least a byte: a count beyond the data is
	// corrupt, and is refused before allocating.
	if n > len(data) {
		return errTruncated
	}
	v := c.newVec(n)
	v.valid = nil
	if _, err := c.plainValues(data, v, 0, n, true); err != nil {
		return err
	}
	c.dictN = n
	c.dictI64, c.dictF64, c.dictStr, c.dictNum = v.i64, v.f64, v.str, v.num
	if c.dictI64 == nil && c.dictF64 == nil && c.dictStr == nil && c.dictNum == nil {
		c.dictI64 = []int64{} // an empty dictionary is still one
	}
	return nil
}

// plainValues decodes n PLAIN values from data into v[at:at+n] and returns
// the data after them. Strings are substrings of one copy of their bytes
// (own: each its own copy, for a dictionary whose entries rows share).
func (c *pqColumn) plainValues(data []byte, v *colVec, at, n int, own bool) ([]byte, error) {
	switch c.phys {
	case parquet.Types.Int32:
		if len(data) < 4*n {
			return nil, errTruncated
		}
		out := v.i64[at : at+n]
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(data[4*i:])))
		}
		return data[4*n:], nil
	case parquet.Types.Int64:
		if len(data) < 8*n {
			return nil, errTruncated
		}
		out := v.i64[at : at+n]
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
		return data[8*n:], nil
	case parquet.Types.Double:
		if len(data) < 8*n {
			return nil, errTruncated
		}
		out := v.f64[at : at+n]
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		}
		return data[8*n:], nil
	case parquet.Types.Float:
		if len(data) < 4*n {
			return nil, errTruncated
		}
		out := v.f64[at : at+n]
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
		}
		return data[4*n:], nil
	case parquet.Types.FixedLenByteArray:
		w := c.typeLen
		if w <= 0 || w > 16 {
			return nil, fmt.Errorf("fixed-length values of %d bytes", w)
		}
		if len(data)/w < n {
			return nil, errTruncated
		}
		for i := range n {
			b := data[i*w : (i+1)*w]
			if c.wide {
				v.num[at+i] = beNum(b)
			} else {
				v.i64[at+i] = beInt64(b)
			}
		}
		return data[n*w:], nil
	case parquet.Types.ByteArray:
		// Find the values' extent first, then copy it once.
		end := 0
		for range n {
			if len(data)-end < 4 {
				return nil, errTruncated
			}
			l := binary.LittleEndian.Uint32(data[end:])
			if uint64(l) > uint64(len(data)-end-4) {
				return nil, errTruncated
			}
			end += 4 + int(l)
		}
		out := v.str[at : at+n]
		if own {
			pos := 0
			for i := range out {
				l := int(binary.LittleEndian.Uint32(data[pos:]))
				out[i] = string(data[pos+4 : pos+4+l])
				pos += 4 + l
			}
			return data[end:], nil
		}
		s := string(data[:end])
		pos := 0
		for i := range out {
			l := int(binary.LittleEndian.Uint32(data[pos:]))
			out[i] = s[pos+4 : pos+4+l]
			pos += 4 + l
		}
		return data[end:], nil
	}
	return nil, fmt.Errorf("physical type %s is not read without Arrow", c.phys)
}

// beInt64 is a big-endian two's complement integer of up to 8 bytes.
func beInt64(b []byte) int64 {
	var u uint64
	for _, x := range b {
		u = u<<8 | uint64(x)
	}
	shift := 64 - 8*uint(len(b))
	return int64(u<<shift) >> shift
}

// beNum is a big-endian two's complement integer of 9 to 16 bytes.
func beNum(b []byte) decimal128.Num {
	hiLen := len(b) - 8
	hi := beInt64(b[:hiLen])
	lo := binary.BigEndian.Uint64(b[hiLen:])
	return decimal128.New(hi, lo)
}

// read decodes the next n rows into v[0:n] (v's slices have room).
func (c *pqColumn) read(v *colVec, n int) error {
	v.nulls = 0
	for at := 0; at < n; {
		if c.left == 0 {
			if err := c.nextPage(); err != nil {
				return err
			}
		}
		k := min(n-at, c.left)
		nulls := 0
		if c.maxDef > 0 {
			var err error
			if nulls, err = c.defs.read(v.valid[at:at+k], c.maxDef); err != nil {
				return err
			}
		}
		if nulls == 0 {
			if err := c.values(v, at, k); err != nil {
				return err
			}
		} else {
			c.tmp.grow(v, k)
			if err := c.values(&c.tmp, 0, k-nulls); err != nil {
				return err
			}
			c.spread(v, at, k)
			v.nulls += nulls
		}
		c.left -= k
		at += k
	}
	return nil
}

// spread places the non-null values in c.tmp at the valid rows of
// v[at:at+k], zeroing the null ones.
func (c *pqColumn) spread(v *colVec, at, k int) {
	j := 0
	for i, ok := range v.valid[at : at+k] {
		switch {
		case v.i64 != nil:
			if ok {
				v.i64[at+i] = c.tmp.i64[j]
			} else {
				v.i64[at+i] = 0
			}
		case v.f64 != nil:
			if ok {
				v.f64[at+i] = c.tmp.f64[j]
			} else {
				v.f64[at+i] = 0
			}
		case v.str != nil:
			if ok {
				v.str[at+i] = c.tmp.str[j]
			} else {
				v.str[at+i] = ""
			}
		case v.num != nil:
			if ok {
				v.num[at+i] = c.tmp.num[j]
			} else {
				v.num[at+i] = decimal128.Num{}
			}
		}
		if ok {
			j++
		}
	}
}

// grow makes t's slices, of the kind v holds, at least n long.
func (t *colVec) grow(v *colVec, n int) {
	switch {
	case v.i64 != nil:
		if len(t.i64) < n {
			t.i64 = make([]int64, n)
		}
	case v.f64 != nil:
		if len(t.f64) < n {
			t.f64 = make([]float64, n)
		}
	case v.str != nil:
		if len(t.str) < n {
			t.str = make([]string, n)
		}
	case v.num != nil:
		if len(t.num) < n {
			t.num = make([]decimal128.Num, n)
		}
	}
}

// values decodes m non-null values into v[at:at+m].
func (c *pqColumn) values(v *colVec, at, m int) error {
	if m == 0 {
		return nil
	}
	if !c.useDict {
		rest, err := c.plainValues(c.plain, v, at, m, false)
		if err != nil {
			return err
		}
		c.plain = rest
		return nil
	}
	if cap(c.idxBuf) < m {
		c.idxBuf = make([]uint32, m)
	}
	idx := c.idxBuf[:m]
	if err := c.idx.read(idx); err != nil {
		return fmt.Errorf("dictionary indices: %w", err)
	}
	for _, k := range idx {
		if int(k) >= c.dictN {
			return fmt.Errorf("dictionary index %d of a dictionary of %d", k, c.dictN)
		}
	}
	switch {
	case v.i64 != nil:
		out, d := v.i64[at:at+m], c.dictI64
		for i, k := range idx {
			out[i] = d[k]
		}
	case v.f64 != nil:
		out, d := v.f64[at:at+m], c.dictF64
		for i, k := range idx {
			out[i] = d[k]
		}
	case v.str != nil:
		out, d := v.str[at:at+m], c.dictStr
		for i, k := range idx {
			out[i] = d[k]
		}
	case v.num != nil:
		out, d := v.num[at:at+m], c.dictNum
		for i, k := range idx {
			out[i] = d[k]
		}
	}
	return nil
}

// newVec makes a batch vector of n rows for c.
func (c *pqColumn) newVec(n int) *colVec {
	v := &colVec{}
	if c.maxDef > 0 {
		v.valid = make([]bool, n)
	}
	switch {
	case c.phys == parquet.Types.ByteArray:
		v.str = make([]string, n)
	case c.phys == parquet.Types.Double || c.phys == parquet.Types.Float:
		v.f64 = make([]float64, n)
	case c.wide:
		v.num = make([]decimal128.Num, n)
	default:
		v.i64 = make([]int64, n)
	}
	return v
}

// rowPtr is the address of field off of row i of a batch starting at base
// with rows of size bytes.
func rowPtr(base unsafe.Pointer, size uintptr, i int, off uintptr) unsafe.Pointer {
	return unsafe.Add(base, uintptr(i)*size+off)
}

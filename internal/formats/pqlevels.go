package formats

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errTruncated: encoded levels or indices end before the values they
// announce.
var errTruncated = errors.New("encoded data ends early")

// hybridDecoder reads Parquet's RLE / bit-packed hybrid encoding of
// unsigned integers of width bits (definition levels, dictionary indices):
// runs, each a ULEB128 header whose low bit tells a bit-packed run
// (header>>1 groups of 8 values, width bits each, packed from the least
// significant bit) from a repeated one (header>>1 copies of one value in
// ceil(width/8) little-endian bytes).
type hybridDecoder struct {
	data  []byte
	width uint
	// the current run: rep copies of val left, or a bit-packed run's
	// values [bpAt, bpEnd) in packed
	rep         int
	val         uint32
	packed      []byte
	bpAt, bpEnd int
}

func (d *hybridDecoder) reset(data []byte, width uint) error {
	if width > 32 {
		return fmt.Errorf("bit width %d is more than 32", width)
	}
	*d = hybridDecoder{data: data, width: width}
	return nil
}

// next starts the next run.
func (d *hybridDecoder) next() error {
	h, k := binary.Uvarint(d.data)
	if k <= 0 {
		return errTruncated
	}
	d.data = d.data[k:]
	if h&1 == 0 {
		n := h >> 1
		if n == 0 || n > 1<<31 {
			return fmt.Errorf("repeated run of %d values", n)
		}
		nb := int(d.width+7) / 8
		if len(d.data) < nb {
			return errTruncated
		}
		var v uint32
		for i := nb - 1; i >= 0; i-- {
			v = v<<8 | uint32(d.data[i])
		}
		if d.width < 32 && v>>d.width != 0 {
			return fmt.Errorf("repeated value %d is wider than %d bits", v, d.width)
		}
		d.data = d.data[nb:]
		d.rep, d.val = int(n), v
		return nil
	}
	groups := h >> 1
	if groups == 0 || groups > 1<<27 {
		return fmt.Errorf("bit-packed run of %d groups", groups)
	}
	nb := int(groups) * int(d.width)
	if nb > len(d.data) {
		// Writers may end the last run early when its last group is
		// partly padding: take the whole values the bytes hold.
		nb = len(d.data)
	}
	n := int(groups) * 8
	if d.width > 0 {
		n = min(n, nb*8/int(d.width))
	}
	if n == 0 {
		return errTruncated
	}
	d.packed, d.bpAt, d.bpEnd = d.data[:nb], 0, n
	d.data = d.data[nb:]
	return nil
}

// read fills out with the next len(out) values.
func (d *hybridDecoder) read(out []uint32) error {
	for len(out) > 0 {
		if d.rep == 0 && d.bpAt == d.bpEnd {
			if err := d.next(); err != nil {
				return err
			}
		}
		if d.rep > 0 {
			n := min(d.rep, len(out))
			v := d.val
			for i := range out[:n] {
				out[i] = v
			}
			d.rep -= n
			out = out[n:]
			continue
		}
		n := min(d.bpEnd-d.bpAt, len(out))
		unpack(out[:n], d.packed, d.bpAt, d.width)
		d.bpAt += n
		out = out[n:]
	}
	return nil
}

// unpack reads values from..from+len(out) of width bits each, packed from
// the least significant bit; the caller has checked they are in packed.
func unpack(out []uint32, packed []byte, from int, width uint) {
	if width == 0 {
		clear(out)
		return
	}
	mask := uint64(1)<<width - 1
	bit := uint(from) * width
	for i := range out {
		at := bit / 8
		var w uint64
		if int(at)+8 <= len(packed) {
			w = binary.LittleEndian.Uint64(packed[at:])
		} else {
			for j := len(packed) - 1; j >= int(at); j-- {
				w = w<<8 | uint64(packed[j])
			}
		}
		out[i] = uint32(w >> (bit % 8) & mask)
		bit += width
	}
}

// bitWidth is the number of bits of values up to max.
func bitWidth(max int) uint {
	w := uint(0)
	for max > 0 {
		w++
		max >>= 1
	}
	return w
}

package rpc

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec DataCodec hands the other messages to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"floe/internal/bufpool"
	"floe/internal/rpc/floepb"
)

// DataCodec is the name (gRPC content subtype) of the data plane's codec:
// the data exchange's consumers call with grpc.CallContentSubtype(DataCodec)
// and the server answers in kind. It writes and reads the wire format of
// protobuf, so either end could use the standard codec, but it handles a
// ProducerMessage, which carries a whole Arrow record batch, without
// protobuf-go's copies: Marshal sends a header of the small fields followed
// by the payload slice itself (no copy into a zeroed pooled buffer), and
// Unmarshal copies the payload once out of gRPC's buffers. Every other
// message goes to the proto codec.
const DataCodec = "floe-data"

func init() {
	encoding.RegisterCodecV2(dataCodec{base: encoding.GetCodecV2("proto")})
}

type dataCodec struct{ base encoding.CodecV2 }

func (dataCodec) Name() string { return DataCodec }

// The field numbers of floepb.ProducerMessage (floe/data.proto).
const (
	pmKind    protowire.Number = 1
	pmPayload protowire.Number = 2
	pmValue   protowire.Number = 3
	pmFlags   protowire.Number = 4
	pmRecords protowire.Number = 5
)

// OwnedProducerMessage is a ProducerMessage whose sender gives its payload
// away with it (grpc.ServerStream.SendMsg): the data codec hands the payload
// to gRPC as a buffer of bufpool.Messages, which gRPC gives back to the pool
// once it has written it to the socket.
type OwnedProducerMessage floepb.ProducerMessage

func (c dataCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *floepb.ProducerMessage:
		return mem.BufferSlice{mem.SliceBuffer(producerHeader(m)), mem.SliceBuffer(m.GetPayload())}, nil
	case *OwnedProducerMessage:
		pm := (*floepb.ProducerMessage)(m)
		p := pm.Payload
		if len(p) == 0 {
			return mem.BufferSlice{mem.SliceBuffer(producerHeader(pm))}, nil
		}
		return mem.BufferSlice{mem.SliceBuffer(producerHeader(pm)), mem.NewBuffer(&p, bufpool.Messages)}, nil
	}
	return c.base.Marshal(v)
}

// producerHeader is the encoding of m's fields other than the payload, then
// the payload's tag and length: followed by the payload's bytes it is m's
// protobuf encoding (fields at zero left out, as proto3 does).
func producerHeader(m *floepb.ProducerMessage) []byte {
	b := make([]byte, 0, 48)
	if k := m.GetKind(); k != 0 {
		b = protowire.AppendTag(b, pmKind, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(k)))
	}
	if v := m.GetValue(); v != 0 {
		b = protowire.AppendTag(b, pmValue, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v))
	}
	if f := m.GetFlags(); f != 0 {
		b = protowire.AppendTag(b, pmFlags, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(f))
	}
	if r := m.GetRecords(); r != 0 {
		b = protowire.AppendTag(b, pmRecords, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(r)))
	}
	if p := m.GetPayload(); len(p) > 0 {
		b = protowire.AppendTag(b, pmPayload, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(p)))
	}
	return b
}

// errMalformed is wrapped by Unmarshal's errors about bytes that are not a
// ProducerMessage.
var errMalformed = errors.New("malformed ProducerMessage")

func (c dataCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*floepb.ProducerMessage)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	return unmarshalProducer(data, m)
}

// unmarshalProducer decodes data into m as proto.Unmarshal would, except
// that unknown fields are dropped rather than kept. The payload is copied
// once out of gRPC's buffers into a buffer of bufpool.Messages, which the
// message's receiver owns (and may give back once it decoded it).
func unmarshalProducer(data mem.BufferSlice, m *floepb.ProducerMessage) error {
	m.Reset()
	total := data.Len()
	// The usual layout (producerHeader's): small fields, then the payload
	// to the end. Its header is read from a copy of the first bytes, and
	// the payload copied straight from gRPC's buffers.
	var head [64]byte
	hb := head[:min(total, len(head))]
	copyRange(data, 0, hb)
	if pos, n, err := fields(hb, m); err == nil && pos >= 0 && pos+n == total {
		if n > 0 {
			p := bufpool.Messages.Get(n)
			copyRange(data, pos, *p)
			m.Payload = *p
		}
		return nil
	}
	// Anything else: the whole message in one buffer, decoded field by field.
	m.Reset()
	w := bufpool.Messages.Get(total)
	defer bufpool.Messages.Put(w)
	data.CopyTo(*w)
	b := *w
	for len(b) > 0 {
		pos, n, err := fields(b, m)
		if err != nil {
			return err
		}
		if pos < 0 {
			break
		}
		if pos+n > len(b) {
			return fmt.Errorf("%w: payload: %w", errMalformed, protowire.ParseError(-1))
		}
		m.Payload = nil
		if n > 0 {
			p := bufpool.Messages.Get(n)
			copy(*p, b[pos:pos+n])
			m.Payload = *p
		}
		b = b[pos+n:]
	}
	return nil
}

// copyRange copies len(dst) bytes of data from offset off into dst.
func copyRange(data mem.BufferSlice, off int, dst []byte) {
	for _, buf := range data {
		if len(dst) == 0 {
			return
		}
		b := buf.ReadOnlyData()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		k := copy(dst, b[off:])
		dst, off = dst[k:], 0
	}
}

// fields decodes the fields of b into m up to the first payload field and
// returns where that payload's bytes start in b and how many there are
// (they may run past b's end); pos < 0 when b holds no payload field.
func fields(b []byte, m *floepb.ProducerMessage) (pos, n int, err error) {
	i := 0
	for i < len(b) {
		num, typ, k := protowire.ConsumeTag(b[i:])
		if k < 0 {
			return 0, 0, fmt.Errorf("%w: tag: %w", errMalformed, protowire.ParseError(k))
		}
		if num > protowire.MaxValidNumber { // ConsumeTag lets them through, proto does not
			return 0, 0, fmt.Errorf("%w: field number %d", errMalformed, num)
		}
		i += k
		switch {
		case typ == protowire.VarintType && (num == pmKind || num == pmValue || num == pmFlags || num == pmRecords):
			x, k := protowire.ConsumeVarint(b[i:])
			if k < 0 {
				return 0, 0, fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(k))
			}
			i += k
			switch num {
			case pmKind:
				m.Kind = floepb.EventKind(int32(x))
			case pmValue:
				m.Value = int64(x)
			case pmFlags:
				m.Flags = int64(x)
			case pmRecords:
				m.Records = int32(x)
			}
		case typ == protowire.BytesType && num == pmPayload:
			l, k := protowire.ConsumeVarint(b[i:])
			if k < 0 {
				return 0, 0, fmt.Errorf("%w: payload: %w", errMalformed, protowire.ParseError(k))
			}
			if l > math.MaxInt32 {
				return 0, 0, fmt.Errorf("%w: payload of %d bytes", errMalformed, l)
			}
			return i + k, int(l), nil
		default: // unknown, or a known number with another wire type (proto keeps it as unknown)
			k := protowire.ConsumeFieldValue(num, typ, b[i:])
			if k < 0 {
				return 0, 0, fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(k))
			}
			i += k
		}
	}
	return -1, 0, nil
}

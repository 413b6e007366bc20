package rpc

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec DataCodec hands the other messages to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

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

func (c dataCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*floepb.ProducerMessage)
	if !ok {
		return c.base.Marshal(v)
	}
	return mem.BufferSlice{mem.SliceBuffer(producerHeader(m)), mem.SliceBuffer(m.GetPayload())}, nil
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
	var b []byte
	own := false // b is a copy of ours, so the payload may point into it
	if len(data) == 1 {
		b = data[0].ReadOnlyData()
	} else {
		b = make([]byte, data.Len())
		data.CopyTo(b)
		own = true
	}
	return unmarshalProducer(b, own, m)
}

// unmarshalProducer decodes b into m as proto.Unmarshal would, except that
// unknown fields are dropped rather than kept. The payload points into b if
// own, else it is a copy.
func unmarshalProducer(b []byte, own bool, m *floepb.ProducerMessage) error {
	m.Reset()
	var payload []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: tag: %w", errMalformed, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber { // ConsumeTag lets them through, proto does not
			return fmt.Errorf("%w: field number %d", errMalformed, num)
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && (num == pmKind || num == pmValue || num == pmFlags || num == pmRecords):
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
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
			p, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: payload: %w", errMalformed, protowire.ParseError(n))
			}
			b = b[n:]
			payload = p
		default: // unknown, or a known number with another wire type (proto keeps it as unknown)
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if len(payload) > 0 {
		if !own {
			payload = append([]byte(nil), payload...) // append: no zeroing before the copy
		}
		m.Payload = payload
	}
	return nil
}

package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"floe/internal/rpc/floepb"
)

// Channel state is what an unaligned checkpoint keeps of a task's in-flight
// data: the messages its barrier overtook in the task's output queues, and
// the messages that reached its inputs after its snapshot and before the
// barrier on their channel. A restore sends the first again before any new
// output and feeds the second to the chain before reading the network.

// ChannelKey names one channel of a task independently of its attempt: an
// input channel by its edge and producer subtask, an output channel by its
// edge and subpartition (consumer subtask).
type ChannelKey struct {
	Output bool
	Edge   int32
	// Index is the producer subtask (input) or the subpartition (output).
	Index int32
}

func (k ChannelKey) String() string {
	if k.Output {
		return fmt.Sprintf("output edge %d subpartition %d", k.Edge, k.Index)
	}
	return fmt.Sprintf("input edge %d from subtask %d", k.Edge, k.Index)
}

// ChannelState is one channel's recorded messages, in channel order.
type ChannelState struct {
	Key      ChannelKey
	Messages []Message
}

// Data messages sent again from channel state carry one of these in their
// Value (live data has 0): a consumer decodes them with a decoder of their
// own (ReplayDecoder), since they continue an Arrow stream the consumer's
// new attempt never saw the start of.
const (
	// RecoveredData continues a stream whose schema came before.
	RecoveredData = 1
	// RecoveredStart begins a stream: it carries the schema.
	RecoveredStart = 2
)

// The channel-state file, version 1, integers big-endian:
//
//	magic    8 bytes "FLOECHST"
//	version  uint32  1
//	channels uint32
//	per channel: output byte (0/1), edge int32, index int32, messages uint32,
//	  per message: kind int32, flags byte (1: stream start), value int64,
//	  records int32, length uint32, payload
//	crc      uint32  CRC-32C (Castagnoli) of everything before it
const (
	channelMagic   = "FLOECHST"
	channelVersion = 1
	// MaxChannelPayload bounds one message of channel state (a record
	// batch or an event), far above what a writer sends.
	MaxChannelPayload = 256 << 20
)

// ErrChannelState marks a channel-state file that is not one EncodeChannelState wrote.
var ErrChannelState = errors.New("malformed channel state")

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// EncodeChannelState returns states in the channel-state file format,
// channels sorted by key.
func EncodeChannelState(states []ChannelState) []byte {
	states = append([]ChannelState(nil), states...)
	sort.Slice(states, func(i, j int) bool { return keyLess(states[i].Key, states[j].Key) })
	n := 16 + 4
	for _, s := range states {
		n += 13
		for _, m := range s.Messages {
			n += 21 + len(m.Payload)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, channelMagic...)
	b = binary.BigEndian.AppendUint32(b, channelVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(states)))
	for _, s := range states {
		var out byte
		if s.Key.Output {
			out = 1
		}
		b = append(b, out)
		b = binary.BigEndian.AppendUint32(b, uint32(s.Key.Edge))
		b = binary.BigEndian.AppendUint32(b, uint32(s.Key.Index))
		b = binary.BigEndian.AppendUint32(b, uint32(len(s.Messages)))
		for _, m := range s.Messages {
			var flags byte
			if m.Start {
				flags = 1
			}
			b = binary.BigEndian.AppendUint32(b, uint32(m.Event))
			b = append(b, flags)
			b = binary.BigEndian.AppendUint64(b, uint64(m.Value))
			b = binary.BigEndian.AppendUint32(b, uint32(m.Records))
			b = binary.BigEndian.AppendUint32(b, uint32(len(m.Payload)))
			b = append(b, m.Payload...)
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoliTable))
}

func keyLess(a, b ChannelKey) bool {
	if a.Output != b.Output {
		return !a.Output
	}
	if a.Edge != b.Edge {
		return a.Edge < b.Edge
	}
	return a.Index < b.Index
}

// DecodeChannelState parses a channel-state file. The payloads are copies
// (fresh memory, not aliasing b). It never panics, whatever b holds.
func DecodeChannelState(b []byte) ([]ChannelState, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrChannelState}, args...)...)
	}
	if len(b) < 16+4 {
		return nil, bad("%d bytes, shorter than the header", len(b))
	}
	if string(b[:8]) != channelMagic {
		return nil, bad("magic %q, want %q", b[:8], channelMagic)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoliTable); got != sum {
		return nil, bad("checksum %08x, recorded %08x", got, sum)
	}
	if v := binary.BigEndian.Uint32(b[8:12]); v != channelVersion {
		return nil, bad("version %d (this build reads %d)", v, channelVersion)
	}
	r := reader{b: body[16:]}
	n := binary.BigEndian.Uint32(body[12:16])
	if uint64(n) > uint64(len(r.b))/13 {
		return nil, bad("%d channels in %d bytes", n, len(r.b))
	}
	out := make([]ChannelState, 0, n)
	for i := range n {
		var s ChannelState
		out8, ok := r.byte()
		edge, ok1 := r.u32()
		idx, ok2 := r.u32()
		cnt, ok3 := r.u32()
		if !ok || !ok1 || !ok2 || !ok3 || out8 > 1 {
			return nil, bad("channel %d: truncated or bad header", i)
		}
		s.Key = ChannelKey{Output: out8 == 1, Edge: int32(edge), Index: int32(idx)}
		if i > 0 && !keyLess(out[i-1].Key, s.Key) {
			return nil, bad("channel %d (%s): not sorted or repeated", i, s.Key)
		}
		if uint64(cnt) > uint64(len(r.b))/21 {
			return nil, bad("%s: %d messages in %d bytes", s.Key, cnt, len(r.b))
		}
		s.Messages = make([]Message, 0, cnt)
		for j := range cnt {
			kind, ok := r.u32()
			flags, ok1 := r.byte()
			value, ok2 := r.u64()
			recs, ok3 := r.u32()
			ln, ok4 := r.u32()
			if !ok || !ok1 || !ok2 || !ok3 || !ok4 || flags > 1 || int32(recs) < 0 {
				return nil, bad("%s message %d: truncated or bad header", s.Key, j)
			}
			if ln > MaxChannelPayload || uint64(ln) > uint64(len(r.b)) {
				return nil, bad("%s message %d: %d-byte payload in %d bytes", s.Key, j, ln, len(r.b))
			}
			m := Message{Event: EventKind(int32(kind)), Start: flags == 1, Value: int64(value), Records: int(int32(recs))}
			if _, known := floepb.EventKind_name[int32(kind)]; !known {
				return nil, bad("%s message %d: unknown kind %d", s.Key, j, int32(kind))
			}
			m.Payload = append([]byte(nil), r.b[:ln]...)
			r.b = r.b[ln:]
			s.Messages = append(s.Messages, m)
		}
		out = append(out, s)
	}
	if len(r.b) != 0 {
		return nil, bad("%d bytes after the last channel", len(r.b))
	}
	return out, nil
}

type reader struct{ b []byte }

func (r *reader) byte() (byte, bool) {
	if len(r.b) < 1 {
		return 0, false
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v, true
}

func (r *reader) u32() (uint32, bool) {
	if len(r.b) < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, true
}

func (r *reader) u64() (uint64, bool) {
	if len(r.b) < 8 {
		return 0, false
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v, true
}

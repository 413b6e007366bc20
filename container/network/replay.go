package network

import (
	"bytes"
	"fmt"

	"floe/internal/rpc/floepb"
)

// Replay on restore: a task's recovered input channel state goes through
// its chain before anything the network brings (Recovered), and recovered
// data that producers send again (marked RecoveredData or RecoveredStart,
// ResultPartition.Recover) is decoded apart from the producers' new streams
// (ReplayDecoder).

// Resumer is a Decoder that can start in the middle of a channel's stream.
type Resumer interface {
	Resume() error
}

// ReplayDecoder decodes one channel's recovered data: the continuation of
// an Arrow stream whose start (the schema) an earlier attempt read. Each
// stream start gets a new decoder; data before any start gets a resumed one.
// It belongs to the task's goroutine.
type ReplayDecoder struct {
	open func() (Decoder, error)
	cur  Decoder
}

// NewReplayDecoder returns a replay decoder whose decoders come from open
// (the chain's decoder for the channel's input).
func NewReplayDecoder(open func() (Decoder, error)) *ReplayDecoder {
	return &ReplayDecoder{open: open}
}

// Decode decodes one recovered data message; start says it begins a stream.
func (r *ReplayDecoder) Decode(payload []byte, start bool) (int, error) {
	if start || r.cur == nil {
		d, err := r.open()
		if err != nil {
			return 0, err
		}
		if !start {
			rs, ok := d.(Resumer)
			if !ok {
				return 0, fmt.Errorf("replay channel state: decoder %T cannot start mid-stream", d)
			}
			if err := rs.Resume(); err != nil {
				return 0, err
			}
		}
		r.cur = d
	}
	return r.cur.Decode(payload)
}

// Recovered turns a task's recovered input channel state into deliveries
// for its loop, to process before any from the gate's queue: channel by
// channel in the gate's order, each channel's messages in their order, data
// marked RecoveredData or RecoveredStart, payloads copied into fresh
// memory. Output channels in states are skipped; an input channel the gate
// does not have is an error (the job was restored at another parallelism
// or with another graph).
func Recovered(channels []*InputChannel, states []ChannelState) ([]Delivery, error) {
	byKey := map[ChannelKey]int{}
	for i, ch := range channels {
		byKey[ChannelKey{Edge: ch.desc.GetEdge(), Index: ch.desc.GetProducer().GetSubtask()}] = i
	}
	per := make([][]Message, len(channels))
	for _, s := range states {
		if s.Key.Output {
			continue
		}
		i, ok := byKey[s.Key]
		if !ok {
			return nil, fmt.Errorf("channel state of %s: this task has no such input channel (unaligned checkpoints restore at the same parallelism only)", s.Key)
		}
		per[i] = append(per[i], s.Messages...)
	}
	var out []Delivery
	for i, msgs := range per {
		for _, m := range msgs {
			out = append(out, Delivery{Channel: channels[i], Recovered: true, Msg: m.wire()})
		}
	}
	return out, nil
}

// wire is m as a recovered message on the wire, with a copy of its payload.
func (m Message) wire() *floepb.ProducerMessage {
	v := m.Value
	if m.Event == 0 {
		v = RecoveredData
		if m.Start {
			v = RecoveredStart
		}
	}
	return &floepb.ProducerMessage{Kind: m.Event, Value: v, Records: int32(m.Records), Payload: bytes.Clone(m.Payload)}
}

// Record returns d as a message of channel state, its payload copied;
// firstLive says d is the first live data message its channel delivered
// (it starts the producer's stream).
func Record(d Delivery, firstLive bool) Message {
	m := Message{Event: d.Msg.GetKind(), Value: d.Msg.GetValue(), Records: int(d.Msg.GetRecords()), Payload: bytes.Clone(d.Msg.GetPayload())}
	if m.Event == 0 {
		m.Start = m.Value == RecoveredStart || m.Value == 0 && firstLive
		m.Value = 0
	}
	return m
}

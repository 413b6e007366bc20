package network

import (
	"fmt"

	"floe/internal/codec"
)

// Selector picks the channel of a record among n; -1 means every channel.
type Selector[T any] func(v T, n int) int

// Forward sends everything to the one channel of a forward edge: the
// producer's partition on such an edge has a single subpartition, read by
// the consumer with the producer's index.
func Forward[T any]() Selector[T] {
	return func(T, int) int { return 0 }
}

// RoundRobin spreads records evenly, starting at the producer's index.
func RoundRobin[T any](subtask int) Selector[T] {
	next := subtask
	return func(_ T, n int) int {
		next++
		if next >= n {
			next = 0
		}
		return next
	}
}

// Broadcast sends every record to every channel.
func Broadcast[T any]() Selector[T] { return nil }

// RecordWriter is the network end of an operator: it buffers records per
// channel and sends a channel's buffer as one Arrow record batch when it holds
// batchSize records, when Flush is called (buffer timeout), or before an event.
// It is driven by the task's goroutine only.
type RecordWriter[T any] struct {
	sink      ChannelSink
	selector  Selector[T]
	batchSize int
	buffers   [][]T
	writers   []*codec.Writer[T]
	records   int64
}

// NewRecordWriter returns a writer to n channels of sink.
func NewRecordWriter[T any](c *codec.Codec[T], sink ChannelSink, n int, sel Selector[T], batchSize int) *RecordWriter[T] {
	if batchSize < 1 {
		batchSize = 1
	}
	w := &RecordWriter[T]{sink: sink, selector: sel, batchSize: batchSize,
		buffers: make([][]T, n), writers: make([]*codec.Writer[T], n)}
	for i := range n {
		w.buffers[i] = make([]T, 0, min(batchSize, 1024))
		w.writers[i] = c.NewWriter(nil)
	}
	return w
}

// Collect buffers v for its channel.
func (w *RecordWriter[T]) Collect(v T) {
	if w.selector == nil {
		for ch := range w.buffers {
			w.add(ch, v)
		}
		return
	}
	w.add(w.selector(v, len(w.buffers)), v)
}

func (w *RecordWriter[T]) add(ch int, v T) {
	w.buffers[ch] = append(w.buffers[ch], v)
	if len(w.buffers[ch]) >= w.batchSize {
		w.flush(ch)
	}
}

// Emit flushes every channel and sends e on each, keeping e behind the
// records before it. A priority barrier (an unaligned checkpoint's) goes
// ahead of what the sink still holds, where the sink can (PrioritySink).
func (w *RecordWriter[T]) Emit(e Event) {
	if ps, ok := w.sink.(PrioritySink); ok && e.Kind == Barrier && e.Priority {
		for ch := range w.buffers {
			var pending []Message
			if len(w.buffers[ch]) > 0 {
				pending = []Message{w.encode(ch)}
			}
			if err := ps.SendPriority(ch, Message{Event: e.Kind, Value: e.Value, Payload: []byte(e.Text)}, pending); err != nil {
				panic(Abort{err})
			}
		}
		return
	}
	w.Flush()
	for ch := range w.buffers {
		w.send(ch, Message{Event: e.Kind, Value: e.Value, Payload: []byte(e.Text)})
	}
}

// Flush sends every non-empty buffer.
func (w *RecordWriter[T]) Flush() {
	for ch, b := range w.buffers {
		if len(b) > 0 {
			w.flush(ch)
		}
	}
}

// RecordsOut is the number of records sent so far.
func (w *RecordWriter[T]) RecordsOut() int64 { return w.records }

func (w *RecordWriter[T]) flush(ch int) { w.send(ch, w.encode(ch)) }

// encode takes channel ch's buffered records as one message.
func (w *RecordWriter[T]) encode(ch int) Message {
	rows := w.buffers[ch]
	payload, err := w.writers[ch].AppendOwned(rows)
	if err != nil {
		panic(Abort{fmt.Errorf("encode batch for channel %d: %w", ch, err)})
	}
	w.records += int64(len(rows))
	clear(rows) // drop references held by the buffer's backing array
	w.buffers[ch] = rows[:0]
	return Message{Payload: payload, Records: len(rows)}
}

func (w *RecordWriter[T]) send(ch int, m Message) {
	if err := w.sink.Send(ch, m); err != nil {
		panic(Abort{err})
	}
}

package network

import "floe/internal/codec"

// The typed ends of an exchange, for code that builds a task's chain: a
// writer of T's records to a partition, and a decoder of T's batches into an
// operator. Both take T's codec (internal/codec, derived once per type) and
// belong to the task's goroutine.

// CheckType reports why records of T cannot cross the network, if they cannot.
func CheckType[T any]() error {
	_, err := codec.For[T]()
	return err
}

// NewWriter returns a RecordWriter of records of T to the n channels of
// sink, routed by sel, in batches of up to batchSize records.
func NewWriter[T any](sink ChannelSink, n int, sel Selector[T], batchSize int) (*RecordWriter[T], error) {
	c, err := codec.For[T]()
	if err != nil {
		return nil, err
	}
	return NewRecordWriter(c, sink, n, sel, batchSize), nil
}

// NewDecoder returns the Decoder of one input channel carrying records of T:
// it pushes each batch's records into out.
func NewDecoder[T any](out Output[T]) (Decoder, error) {
	c, err := codec.For[T]()
	if err != nil {
		return nil, err
	}
	return &decoder[T]{r: c.NewReader(nil), out: out}, nil
}

// decoder turns one channel's Arrow batches back into records.
type decoder[T any] struct {
	r    *codec.Reader[T]
	out  Output[T]
	rows []T
}

func (d *decoder[T]) Decode(payload []byte) (int, error) {
	rows, err := d.r.Read(payload, d.rows[:0])
	if err != nil {
		return 0, err
	}
	for _, v := range rows {
		d.out.Collect(v)
	}
	clear(rows)
	d.rows = rows[:0]
	return len(rows), nil
}

// Resume makes the decoder read from the middle of a stream (codec.Reader.Resume).
func (d *decoder[T]) Resume() error { return d.r.Resume() }

// Tee returns an Output that collects into out and sends each event first to
// every one of events (side outputs), then to out.
func Tee[T any](out Output[T], events []func(Event)) Output[T] {
	if len(events) == 0 {
		return out
	}
	return &tee[T]{out: out, ptr: PointerTo(out), events: events}
}

type tee[T any] struct {
	out    Output[T]
	ptr    PointerOutput[T]
	events []func(Event)
}

func (t *tee[T]) Collect(v T)     { t.out.Collect(v) }
func (t *tee[T]) CollectPtr(p *T) { t.ptr.CollectPtr(p) }

func (t *tee[T]) Emit(e Event) {
	for _, f := range t.events {
		f(e)
	}
	t.out.Emit(e)
}

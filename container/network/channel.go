package network

// Message is what travels on one channel: an Arrow IPC payload or an event.
type Message struct {
	// Event is zero for data.
	Event   EventKind
	Value   int64
	Payload []byte
	Records int
	// Start marks the first data message of its channel's Arrow stream (it
	// carries the schema); kept with channel state, never sent.
	Start bool
	// Priority marks an unaligned checkpoint's barrier queued by Overtake:
	// it leaves without credit and its consumer takes it ahead of the
	// messages it still has queued (FlagPriority on the wire).
	Priority bool
}

// FlagPriority is the bit of ProducerMessage.Flags that marks a priority
// barrier (Message.Priority). It uses no credit: its consumer gives none back.
const FlagPriority = 1

// ChannelSink is the producing side of one output edge: one subpartition per
// consumer subtask. Send blocks while the subpartition is full (back-pressure)
// and fails once the task is cancelled. Payloads are owned by the sink after Send.
type ChannelSink interface {
	Send(subpartition int, m Message) error
}

// Decoder decodes the payloads of one input channel into the chain.
type Decoder interface {
	// Decode decodes one data message and pushes its records downstream,
	// returning the number of records. Nothing refers to payload after
	// it returns: the caller gives the buffer back (Delivery.Recycle).
	Decode(payload []byte) (int, error)
}

// Abort unwinds a task from deep inside its operators (for example a writer
// whose send failed because the task is being cancelled).
type Abort struct{ Err error }

func (a Abort) Error() string { return a.Err.Error() }
func (a Abort) Unwrap() error { return a.Err }

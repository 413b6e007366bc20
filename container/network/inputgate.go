package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"floe/internal/bufpool"
	"floe/internal/rpc/floepb"
)

// Delivery is one message from one input channel, in the gate's queue.
type Delivery struct {
	Channel *InputChannel
	Msg     *floepb.ProducerMessage
	// Recovered: replayed channel state (Recovered), not from the network:
	// it has no credit to give back.
	Recovered bool
}

// Recycle gives the message's payload back to bufpool.Messages: call it
// once the payload was decoded and nothing refers to it any more (decoded
// records never do). A payload belongs to the consumer that received it.
func (d Delivery) Recycle() {
	if p := d.Msg.GetPayload(); p != nil {
		d.Msg.Payload = nil
		bufpool.Messages.Put(&p)
	}
}

// InputGate merges the channels of all inputs of one task into one queue the
// task's goroutine reads. Each channel has at most `credits` messages in
// flight or queued, so the queue never holds more than credits x channels.
//
// The consuming task owns the gate: it calls Start once, reads Queue and
// Failed from its goroutine, releases each processed message on its channel
// (InputChannel.Release), and after cancelling Start's context calls Wait.
// Queue, Failed and Err may be used from any goroutine.
type InputGate struct {
	queue    chan Delivery
	failed   chan struct{}
	failOnce sync.Once
	err      error
	channels []*InputChannel
	stats    *BufferStats
	wg       sync.WaitGroup

	// Priority barriers, announced here when they arrive (they also take
	// their place in queue): the task starts their unaligned checkpoints
	// without waiting for the messages queued before them.
	prioMu      sync.Mutex
	prio        []Delivery
	prioPending atomic.Bool
	prioSignal  chan struct{}
}

// InputChannel reads one producer subpartition. Its goroutines are the
// gate's; the fields below the credit counters belong to the consuming
// task's goroutine, which calls the methods that read or change them.
type InputChannel struct {
	gate   *InputGate
	pos    int // index among the gate's channels
	input  int // index of the task's input
	desc   *floepb.InputChannelDescriptor
	open   Subscriber
	credit int32

	returned atomic.Int32 // credits to give back
	notify   chan struct{}

	ended bool // END_OF_PARTITION seen
	// watermark is the latest watermark the channel delivered.
	watermark int64
	// idle: the producer said its path is idle.
	idle bool

	// sawLive: receive got a live data message (receive's goroutine only).
	sawLive bool
	mu      sync.Mutex
	pending []pendingMsg   // received, not processed yet (recording.go)
	rec     *chanRecording // an unaligned checkpoint's recording, until the barrier
}

// NewInputGate returns a gate over the channels of inputs, each subscribed
// through what dial returns for its producer's address, with credits
// messages of credit per channel. It counts the bytes it holds in stats.
func NewInputGate(inputs []*floepb.InputGateDescriptor, dial func(addr string) (Subscriber, error), credits int, stats *BufferStats) (*InputGate, error) {
	g := &InputGate{failed: make(chan struct{}), stats: stats, prioSignal: make(chan struct{}, 1)}
	for _, in := range inputs {
		for _, d := range in.GetChannels() {
			open, err := dial(d.GetAddress())
			if err != nil {
				return nil, fmt.Errorf("connect to producer at %s: %w", d.GetAddress(), err)
			}
			g.channels = append(g.channels, &InputChannel{gate: g, pos: len(g.channels), input: int(in.GetInput()),
				desc: d, open: open, credit: int32(credits), notify: make(chan struct{}, 1), watermark: math.MinInt64})
		}
	}
	g.queue = make(chan Delivery, len(g.channels)*credits+len(g.channels))
	return g, nil
}

// Channels are the gate's channels, in the order of the inputs' descriptors.
func (g *InputGate) Channels() []*InputChannel { return g.channels }

// Queue delivers the channels' messages in arrival order.
func (g *InputGate) Queue() <-chan Delivery { return g.queue }

// Priority is signalled when a priority barrier arrived (TakePriority).
func (g *InputGate) Priority() <-chan struct{} { return g.prioSignal }

// PriorityPending reports whether TakePriority has something; it costs an
// atomic load.
func (g *InputGate) PriorityPending() bool { return g.prioPending.Load() }

// TakePriority returns the priority barriers that arrived since the last
// call, in arrival order. Each is in Queue too, in its channel's order, and
// is processed there as well: this copy only announces it early.
func (g *InputGate) TakePriority() []Delivery {
	g.prioMu.Lock()
	defer g.prioMu.Unlock()
	g.prioPending.Store(false)
	out := g.prio
	g.prio = nil
	return out
}

func (g *InputGate) announce(d Delivery) {
	g.prioMu.Lock()
	g.prio = append(g.prio, d)
	g.prioPending.Store(true)
	g.prioMu.Unlock()
	signal(g.prioSignal)
}

// Failed is closed when a channel failed; Err then says why.
func (g *InputGate) Failed() <-chan struct{} { return g.failed }

// Err is the first channel's failure (after Failed is closed).
func (g *InputGate) Err() error { return g.err }

// Start subscribes every channel, each on goroutines of its own that run
// until ctx ends or the channel's producer ended.
func (g *InputGate) Start(ctx context.Context) {
	for _, ch := range g.channels {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := ch.run(ctx); err != nil && ctx.Err() == nil {
				g.fail(fmt.Errorf("input channel from %s (vertex %d subtask %d): %w",
					ch.desc.GetAddress(), ch.desc.GetProducer().GetVertex(), ch.desc.GetProducer().GetSubtask(), err))
			}
		}()
	}
}

func (g *InputGate) fail(err error) {
	g.failOnce.Do(func() {
		g.err = err
		close(g.failed)
	})
}

// Wait blocks until every channel goroutine has stopped (cancel Start's
// context first) and forgets what is still queued.
func (g *InputGate) Wait() {
	g.wg.Wait()
	for {
		select {
		case d := <-g.queue:
			g.stats.Add(-int64(len(d.Msg.GetPayload())))
		default:
			return
		}
	}
}

// Index is the channel's index among its gate's channels.
func (ch *InputChannel) Index() int { return ch.pos }

// Input is the index of the task's input the channel belongs to.
func (ch *InputChannel) Input() int { return ch.input }

// Producer names the producer subtask the channel reads.
func (ch *InputChannel) Producer() *floepb.TaskRef { return ch.desc.GetProducer() }

// End marks the channel ended (it delivered END_OF_PARTITION).
func (ch *InputChannel) End() { ch.ended = true }

// Ended reports whether the channel delivered END_OF_PARTITION.
func (ch *InputChannel) Ended() bool { return ch.ended }

// AdvanceWatermark records a watermark the channel delivered; it never goes back.
func (ch *InputChannel) AdvanceWatermark(wm int64) { ch.watermark = max(ch.watermark, wm) }

// SetIdle records the watermark status the channel delivered.
func (ch *InputChannel) SetIdle(idle bool) { ch.idle = idle }

// Release gives the credit of one processed message back to its producer.
// It is safe for concurrent use.
//
// A priority barrier (FlagPriority) came without credit: do not release it.
func (ch *InputChannel) Release() {
	ch.returned.Add(1)
	signal(ch.notify)
}

func (ch *InputChannel) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, closeStream, err := ch.open(ctx)
	if err != nil {
		return err
	}
	defer closeStream()
	if err := stream.Send(&floepb.ConsumerMessage{Producer: ch.desc.GetProducer(), Edge: ch.desc.GetEdge(),
		Subpartition: ch.desc.GetSubpartition(), Credit: ch.credit}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	recvDone := make(chan error, 1)
	go func() {
		recvDone <- ch.receive(ctx, stream)
	}()
	for {
		select {
		case err := <-recvDone:
			return err
		case <-ch.notify:
			if n := ch.returned.Swap(0); n > 0 {
				if err := stream.Send(&floepb.ConsumerMessage{Credit: n}); err != nil && !errors.Is(err, io.EOF) {
					return ch.creditFailed(err, recvDone, cancel)
				}
			}
		}
	}
}

// creditGrace bounds how long a channel whose credit could not be sent
// waits for its receiver to tell an ended input from a broken one.
const creditGrace = 10 * time.Second

// creditFailed handles a credit grant that could not be sent. The producer
// may have sent the end of its input and closed its end while the credit
// was on its way (the TCP data plane then reports a broken pipe, not the
// end of the stream): the input is whole and the receiver ends without
// error once it reads the end. Otherwise the receiver's error, or the
// grant's, fails the channel.
func (ch *InputChannel) creditFailed(err error, recvDone <-chan error, cancel context.CancelFunc) error {
	t := time.NewTimer(creditGrace)
	defer t.Stop()
	select {
	case rerr := <-recvDone:
		return rerr
	case <-t.C:
	}
	cancel()
	<-recvDone
	return fmt.Errorf("grant credit: %w", err)
}

func (ch *InputChannel) receive(ctx context.Context, stream ConsumerStream) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		ch.gate.stats.Add(int64(len(m.GetPayload())))
		ch.received(m)
		if m.GetFlags()&FlagPriority != 0 && EventKind(m.GetKind()) == Barrier {
			ch.gate.announce(Delivery{Channel: ch, Msg: m})
		}
		select {
		case ch.gate.queue <- Delivery{Channel: ch, Msg: m}:
		case <-ctx.Done():
			ch.gate.stats.Add(-int64(len(m.GetPayload())))
			return ctx.Err()
		}
		if EventKind(m.GetKind()) == EndOfInput {
			return nil
		}
	}
}

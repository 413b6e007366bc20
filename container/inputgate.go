package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"floe/container/network"
	"floe/internal/rpc/floepb"
)

// delivery is one message from one input channel, in the gate's queue.
type delivery struct {
	ch  *inputChannel
	msg *floepb.ProducerMessage
}

// inputGate merges the channels of all inputs of one task into one queue the
// task's goroutine reads. Each channel has at most `credits` messages in
// flight or queued, so the queue never holds more than credits x channels.
type inputGate struct {
	queue    chan delivery
	failed   chan struct{}
	failOnce sync.Once
	err      error
	channels []*inputChannel
	stats    *BufferStats
	wg       sync.WaitGroup
}

// inputChannel reads one producer subpartition.
type inputChannel struct {
	gate   *inputGate
	input  int // index of the task's input
	index  int // index of the channel within its input
	desc   *floepb.InputChannelDescriptor
	open   subscriber
	credit int32

	returned atomic.Int32 // credits to give back
	notify   chan struct{}
	ended    bool // END_OF_PARTITION seen (task goroutine only)
	// watermark is the latest watermark the channel delivered (task goroutine only).
	watermark int64
	// idle: the producer said its path is idle (task goroutine only).
	idle bool
}

func newInputGate(inputs []*floepb.InputGateDescriptor, dial func(addr string) (subscriber, error), credits int, stats *BufferStats) (*inputGate, error) {
	g := &inputGate{failed: make(chan struct{}), stats: stats}
	for _, in := range inputs {
		for i, d := range in.GetChannels() {
			open, err := dial(d.GetAddress())
			if err != nil {
				return nil, fmt.Errorf("connect to producer at %s: %w", d.GetAddress(), err)
			}
			g.channels = append(g.channels, &inputChannel{gate: g, input: int(in.GetInput()), index: i,
				desc: d, open: open, credit: int32(credits), notify: make(chan struct{}, 1)})
		}
	}
	g.queue = make(chan delivery, len(g.channels)*credits+len(g.channels))
	return g, nil
}

func (g *inputGate) start(ctx context.Context) {
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

func (g *inputGate) fail(err error) {
	g.failOnce.Do(func() {
		g.err = err
		close(g.failed)
	})
}

// wait blocks until every channel goroutine has stopped; cancel their context first.
func (g *inputGate) wait() {
	g.wg.Wait()
	for {
		select {
		case d := <-g.queue:
			g.stats.add(-int64(len(d.msg.GetPayload())))
		default:
			return
		}
	}
}

// release gives the credit of one processed message back to its producer.
func (ch *inputChannel) release() {
	ch.returned.Add(1)
	signal(ch.notify)
}

func (ch *inputChannel) run(ctx context.Context) error {
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
					cancel()
					<-recvDone
					return fmt.Errorf("grant credit: %w", err)
				}
			}
		}
	}
}

func (ch *inputChannel) receive(ctx context.Context, stream consumerStream) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		ch.gate.stats.add(int64(len(m.GetPayload())))
		select {
		case ch.gate.queue <- delivery{ch, m}:
		case <-ctx.Done():
			ch.gate.stats.add(-int64(len(m.GetPayload())))
			return ctx.Err()
		}
		if network.EventKind(m.GetKind()) == network.EndOfInput {
			return nil
		}
	}
}

package container

import (
	"context"
	"io"
	"sync"

	"google.golang.org/grpc"

	"floe/internal/rpc/floepb"
)

// A consumer whose producer runs in the same TaskManager reads it through a
// local channel: the same subscription protocol (a first message naming the
// subpartition, credit grants, producer messages within the credit), carried
// by Go channels instead of gRPC. Messages are handed over by pointer, with
// no protobuf encoding, HTTP/2 framing or socket; the producer's payloads are
// its own after Send (runtime.ChannelSink), so sharing them is safe. Flow
// control, barriers and watermarks behave exactly as over the network.

// consumerStream is the consumer's end of a subscription.
type consumerStream interface {
	Send(*floepb.ConsumerMessage) error
	Recv() (*floepb.ProducerMessage, error)
}

// producerStream is the producer's end of a subscription.
type producerStream interface {
	Send(*floepb.ProducerMessage) error
	Recv() (*floepb.ConsumerMessage, error)
	Context() context.Context
}

// subscriber opens a subscription to one producer.
type subscriber func(ctx context.Context) (stream consumerStream, closeFn func(), err error)

// grpcSubscriber subscribes over a gRPC connection.
func grpcSubscriber(conn grpc.ClientConnInterface) subscriber {
	return func(ctx context.Context) (consumerStream, func(), error) {
		s, err := floepb.NewDataExchangeClient(conn).Subscribe(ctx)
		return s, func() {}, err
	}
}

// localPipe joins a consumer and the TaskManager's own serving code.
type localPipe struct {
	ctx    context.Context
	cancel context.CancelFunc
	up     chan *floepb.ConsumerMessage // consumer to producer: subscription, credit
	down   chan *floepb.ProducerMessage // producer to consumer: within credit
	done   chan struct{}                // closed when the serving side returned
	err    error                        // what it returned (read after done)
	wg     sync.WaitGroup
}

// subscribeLocal serves a subscription from this TaskManager's partitions
// on a goroutine of its own, as the gRPC server would. closeFn cancels the
// subscription and waits for that goroutine.
func (tm *TaskManager) subscribeLocal(ctx context.Context) (consumerStream, func(), error) {
	p := &localPipe{up: make(chan *floepb.ConsumerMessage, 16), down: make(chan *floepb.ProducerMessage, 16), done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.err = dataService{tm: tm}.subscribe(localServer{p})
		close(p.done)
	}()
	return localClient{p}, func() { p.cancel(); p.wg.Wait() }, nil
}

// localClient is the consumer's end of a localPipe.
type localClient struct{ p *localPipe }

func (c localClient) Send(m *floepb.ConsumerMessage) error {
	select {
	case c.p.up <- m:
		return nil
	case <-c.p.done:
		return io.EOF // as gRPC reports a send on a stream the server ended
	case <-c.p.ctx.Done():
		return c.p.ctx.Err()
	}
}

func (c localClient) Recv() (*floepb.ProducerMessage, error) {
	select {
	case m := <-c.p.down:
		return m, nil
	default:
	}
	select {
	case m := <-c.p.down:
		return m, nil
	case <-c.p.done:
		select { // the server may have sent its last messages and returned
		case m := <-c.p.down:
			return m, nil
		default:
		}
		if c.p.err != nil {
			return nil, c.p.err
		}
		return nil, io.EOF
	case <-c.p.ctx.Done():
		return nil, c.p.ctx.Err()
	}
}

// localServer is the producer's end of a localPipe.
type localServer struct{ p *localPipe }

func (s localServer) Context() context.Context { return s.p.ctx }

func (s localServer) Send(m *floepb.ProducerMessage) error {
	select {
	case s.p.down <- m:
		return nil
	case <-s.p.ctx.Done():
		return s.p.ctx.Err()
	}
}

func (s localServer) Recv() (*floepb.ConsumerMessage, error) {
	select {
	case m := <-s.p.up:
		return m, nil
	case <-s.p.done: // the serving code returned: its reader goes too
		return nil, io.EOF
	case <-s.p.ctx.Done():
		return nil, s.p.ctx.Err()
	}
}

package network

import (
	"context"
	"io"
	"sync"

	"google.golang.org/grpc"

	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// A consumer whose producer runs in the same TaskManager reads it through a
// local channel: the same subscription protocol (a first message naming the
// subpartition, credit grants, producer messages within the credit), carried
// by Go channels instead of gRPC. Messages are handed over by pointer, with
// no protobuf encoding, HTTP/2 framing or socket; the producer's payloads are
// its own after Send (ChannelSink), so sharing them is safe. Flow control,
// barriers and watermarks behave exactly as over the network.

// ConsumerStream is the consumer's end of a subscription
// (floepb.DataExchange_SubscribeClient is one). One input channel owns it:
// one goroutine may Send while another Recvs, as gRPC allows.
type ConsumerStream interface {
	Send(*floepb.ConsumerMessage) error
	Recv() (*floepb.ProducerMessage, error)
}

// ProducerStream is the producer's end of a subscription
// (floepb.DataExchange_SubscribeServer is one), with the same rules.
type ProducerStream interface {
	Send(*floepb.ProducerMessage) error
	Recv() (*floepb.ConsumerMessage, error)
	Context() context.Context
}

// ServeFunc serves one subscription on the producer's side until it ends,
// as PartitionRegistry.Serve does. The TaskManager wires in one that serves
// from its partition registry.
type ServeFunc func(ProducerStream) error

// Subscriber opens a subscription to one producer; closeFn releases what
// the subscription holds once the consumer is done with it. An input
// channel calls it once; it may be called from any goroutine.
type Subscriber func(ctx context.Context) (stream ConsumerStream, closeFn func(), err error)

// GRPCSubscriber subscribes over a gRPC connection (to another TaskManager).
// The stream uses the data plane's codec (rpc.DataCodec): record batches
// travel without protobuf-go's copies.
func GRPCSubscriber(conn grpc.ClientConnInterface) Subscriber {
	return func(ctx context.Context) (ConsumerStream, func(), error) {
		s, err := floepb.NewDataExchangeClient(conn).Subscribe(ctx, grpc.CallContentSubtype(rpc.DataCodec))
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

// LocalSubscriber subscribes through a local channel: each subscription is
// served by serve (the TaskManager's own serving code) on a goroutine of its
// own, as the gRPC server would. closeFn cancels the subscription and waits
// for that goroutine.
func LocalSubscriber(serve ServeFunc) Subscriber {
	return func(ctx context.Context) (ConsumerStream, func(), error) {
		p := &localPipe{up: make(chan *floepb.ConsumerMessage, 16), down: make(chan *floepb.ProducerMessage, 16), done: make(chan struct{})}
		p.ctx, p.cancel = context.WithCancel(ctx)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.err = serve(localServer{p})
			close(p.done)
		}()
		return localClient{p}, func() { p.cancel(); p.wg.Wait() }, nil
	}
}

// DataExchangeServer is the gRPC DataExchange service over serve: remote
// consumers subscribe through it, local ones through LocalSubscriber(serve).
func DataExchangeServer(serve ServeFunc) floepb.DataExchangeServer { return dataService{serve: serve} }

type dataService struct {
	floepb.UnimplementedDataExchangeServer
	serve ServeFunc
}

func (s dataService) Subscribe(stream floepb.DataExchange_SubscribeServer) error {
	return s.serve(stream)
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

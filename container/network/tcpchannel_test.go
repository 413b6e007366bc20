package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// subscribeOne subscribes to subpartition 0 of ref's partition with credit.
func subscribeOne(t *testing.T, ctx context.Context, open Subscriber, ref *floepb.TaskRef, credit int32) (ConsumerStream, func()) {
	t.Helper()
	stream, closeStream, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&floepb.ConsumerMessage{Producer: ref, Credit: credit}); err != nil {
		closeStream()
		t.Fatal(err)
	}
	return stream, closeStream
}

// oneMessagePartition is a TaskManager over transport with one partition of
// one subpartition that holds one message (payload {1}).
func oneMessagePartition(t *testing.T, transport string) (*localTM, *floepb.TaskRef, *ResultPartition) {
	tm := newTM(t, transport)
	ref := &floepb.TaskRef{JobId: "j", Vertex: 1}
	part := NewResultPartition(KeyOf(ref, 0), 1, 4, &tm.stats)
	tm.partitions.Register(part)
	if err := part.subs[0].push(context.Background(), Message{Payload: []byte{1}, Records: 1}); err != nil {
		t.Fatal(err)
	}
	return tm, ref, part
}

// A producer released while serving fails its consumer with the reason.
func TestChannelProducerFailure(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			tm, ref, part := oneMessagePartition(t, tr)
			ctx := context.Background()
			stream, closeStream := subscribeOne(t, ctx, tm.subscribe, ref, 4)
			defer closeStream()
			if m, err := stream.Recv(); err != nil || m.GetPayload()[0] != 1 {
				t.Fatalf("first message: %v %v", m, err)
			}
			part.Release(errors.New("producer failed: " + ErrPartitionReleased.Error()))
			_, err := stream.Recv()
			if err == nil || !strings.Contains(err.Error(), "producer failed: result partition released") {
				t.Fatalf("after the producer failed: %v", err)
			}
		})
	}
}

// A consumer that goes away ends its subscription's serving, which says so,
// and the producer can still release its partition.
func TestChannelConsumerGoesAway(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			tm, ref, part := oneMessagePartition(t, tr)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, closeStream := subscribeOne(t, ctx, tm.subscribe, ref, 4)
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			cancel()
			closeStream()
			select {
			case err := <-tm.served:
				if err == nil {
					t.Fatal("serving a consumer that went away returned nil")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the serving side did not notice the consumer went away")
			}
			part.Release(ErrPartitionReleased)
		})
	}
}

// Over TCP, a consumer without the application's secret is refused with
// Unauthenticated before anything is served; so is one that sends no proof.
func TestTCPUnauthenticated(t *testing.T) {
	tm := newLocalTM()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveTCP(t, lis, NewTCPServer(testSecret, tm.serve), testSecret)
	ref := &floepb.TaskRef{JobId: "j", Vertex: 1}
	tm.partitions.Register(NewResultPartition(KeyOf(ref, 0), 1, 4, &tm.stats))

	stream, closeStream, err := TCPSubscriber(lis.Addr().String(), "wrong")(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream()
	_ = stream.Send(&floepb.ConsumerMessage{Producer: ref, Credit: 1}) // may fail once refused
	if _, err := stream.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong secret: %v, want Unauthenticated", err)
	}

	// A raw client: the magic, then a consumer message where the proof is due.
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, rpc.DataMagic); err != nil {
		t.Fatal(err)
	}
	r, w := rpc.NewFrameReader(c), rpc.NewFrameWriter(c)
	if f, err := r.Read(); err != nil || f.Kind != rpc.FrameChallenge {
		t.Fatalf("challenge: %+v %v", f, err)
	}
	if err := w.WriteConsumer(&floepb.ConsumerMessage{Producer: ref, Credit: 1}); err != nil {
		t.Fatal(err)
	}
	if f, err := r.Read(); err != nil || status.Code(f.Err) != codes.Unauthenticated {
		t.Fatalf("no proof: %+v %v, want an Unauthenticated error frame", f, err)
	}
	select {
	case err := <-tm.served:
		t.Fatalf("an unauthenticated consumer was served (%v)", err)
	default:
	}
}

// Payloads of every size up to a few MB cross the TCP plane intact, with
// their fields, and closing the server ends a subscription in progress.
func TestTCPPayloadsAndClose(t *testing.T) {
	tm := newLocalTM()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewTCPServer(testSecret, tm.serve)
	open := serveTCP(t, lis, srv, testSecret)
	ref := &floepb.TaskRef{JobId: "j", Vertex: 1}
	part := NewResultPartition(KeyOf(ref, 0), 1, 64, &tm.stats)
	tm.partitions.Register(part)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	for _, n := range []int{1, 100, 511, 512, 513, 64 << 10, 100_000, 3 << 20} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		want = append(want, p)
		if err := part.subs[0].push(ctx, Message{Payload: bytes.Clone(p), Records: n, Value: int64(-n)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := part.subs[0].push(ctx, Message{Event: Watermark, Value: 42}); err != nil {
		t.Fatal(err)
	}
	stream, closeStream := subscribeOne(t, ctx, open, ref, 64)
	defer closeStream()
	for i, p := range want {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.GetPayload(), p) || m.GetRecords() != int32(len(p)) || m.GetValue() != int64(-len(p)) {
			t.Fatalf("message %d: %d bytes, records %d, value %d; want %d bytes", i, len(m.GetPayload()), m.GetRecords(), m.GetValue(), len(p))
		}
	}
	if m, err := stream.Recv(); err != nil || EventKind(m.GetKind()) != Watermark || m.GetValue() != 42 {
		t.Fatalf("watermark: %v %v", m, err)
	}
	srv.Close()
	if _, err := stream.Recv(); err == nil {
		t.Fatal("a subscription outlived its server")
	}
}

// endThenBrokenPipe is a consumer stream whose producer ends its input and
// closes its end while a credit is on its way: the credit's write fails
// with a broken pipe (as the TCP data plane's does) before the end is read.
type endThenBrokenPipe struct {
	recvs     int
	creditErr chan struct{} // closed once the credit's send has failed
}

func (s *endThenBrokenPipe) Send(m *floepb.ConsumerMessage) error {
	if m.GetProducer() != nil {
		return nil // the subscription
	}
	close(s.creditErr)
	return fmt.Errorf("write tcp 127.0.0.1:1->127.0.0.1:2: %w", syscall.EPIPE)
}

func (s *endThenBrokenPipe) Recv() (*floepb.ProducerMessage, error) {
	s.recvs++
	switch s.recvs {
	case 1:
		return &floepb.ProducerMessage{Payload: []byte("batch")}, nil
	case 2:
		<-s.creditErr
		return &floepb.ProducerMessage{Kind: EndOfInput}, nil
	}
	return nil, io.EOF
}

// A credit that cannot be sent because the producer ended its input and
// closed the connection is no failure: the input ends whole.
func TestCreditAfterProducerEnded(t *testing.T) {
	s := &endThenBrokenPipe{creditErr: make(chan struct{})}
	sub := Subscriber(func(context.Context) (ConsumerStream, func(), error) { return s, func() {}, nil })
	var stats BufferStats
	gate, err := NewInputGate([]*floepb.InputGateDescriptor{{Channels: []*floepb.InputChannelDescriptor{{
		Producer: &floepb.TaskRef{JobId: "j"}}}}}, func(string) (Subscriber, error) { return sub, nil }, 1, &stats)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); gate.Wait() }()
	gate.Start(ctx)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case d := <-gate.Queue():
			if EventKind(d.Msg.GetKind()) == EndOfInput {
				cancel()
				gate.Wait()
				select {
				case <-gate.Failed():
					t.Fatalf("the gate failed: %v", gate.Err())
				default:
				}
				return
			}
			d.Channel.Release()
		case <-gate.Failed():
			t.Fatalf("the gate failed: %v", gate.Err())
		case <-timeout:
			t.Fatal("no end of input after 30 s")
		}
	}
}

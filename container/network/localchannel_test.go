package network

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// localTM is what a TaskManager wires: a registry, its stats, and a
// subscriber serving from the registry over one of the transports.
type localTM struct {
	partitions *PartitionRegistry
	stats      BufferStats
	subscribe  Subscriber
	served     chan error // what each subscription's serving returned
}

// transports are the ways a consumer subscribes: a local channel, gRPC, and
// the TCP data plane (both over loopback, as between two TaskManagers).
var transports = []string{"local", "grpc", "tcp"}

const testSecret = "test-secret"

func newLocalTM() *localTM {
	tm := &localTM{partitions: NewPartitionRegistry(), served: make(chan error, 16)}
	tm.subscribe = LocalSubscriber(tm.serve)
	return tm
}

func (tm *localTM) serve(s ProducerStream) error {
	err := tm.partitions.Serve(s, 200*time.Millisecond)
	select {
	case tm.served <- err:
	default:
	}
	return err
}

// newTM is newLocalTM with subscriptions over transport; its servers stop
// when the test ends.
func newTM(t *testing.T, transport string) *localTM {
	tm := newLocalTM()
	if transport == "local" {
		return tm
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch transport {
	case "grpc":
		srv := grpc.NewServer(rpc.DataServerOptions(testSecret)...)
		floepb.RegisterDataExchangeServer(srv, DataExchangeServer(tm.serve))
		go srv.Serve(lis) //nolint:errcheck // stopped below
		conn, err := grpc.NewClient(lis.Addr().String(), rpc.DataDialOptions(testSecret)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(); srv.Stop() })
		tm.subscribe = GRPCSubscriber(conn)
	case "tcp":
		tm.subscribe = serveTCP(t, lis, NewTCPServer(testSecret, tm.serve), testSecret)
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	return tm
}

// serveTCP serves srv on lis through a Mux until the test ends and returns
// a subscriber to it presenting secret.
func serveTCP(t *testing.T, lis net.Listener, srv *TCPServer, secret string) Subscriber {
	mux := rpc.NewMux(lis, 0)
	served := make(chan error, 1)
	go func() { served <- mux.Serve(srv.ServeConn) }()
	t.Cleanup(func() {
		mux.Close()
		srv.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return TCPSubscriber(lis.Addr().String(), secret)
}

// isCancelled: the error of a cancelled subscription (gRPC says it with a status).
func isCancelled(err error) bool {
	return errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled
}

// A subscription delivers a producer's messages in order, never more than
// the consumer's credit ahead, and ends after END_OF_PARTITION.
func TestChannelOrderAndCredit(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { testOrderAndCredit(t, tr) })
	}
}

func testOrderAndCredit(t *testing.T, transport string) {
	const n, credit, capacity = 100, 2, 4
	tm := newTM(t, transport)
	ref := &floepb.TaskRef{JobId: "j", Vertex: 1}
	part := NewResultPartition(KeyOf(ref, 0), 1, capacity, &tm.stats)
	tm.partitions.Register(part)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pushed := make(chan error, 1)
	var pushes atomic.Int32
	go func() {
		for i := range n {
			if err := part.subs[0].push(ctx, Message{Value: int64(i), Payload: []byte{byte(i)}, Records: 1}); err != nil {
				pushed <- err
				return
			}
			pushes.Add(1)
		}
		pushed <- part.subs[0].push(ctx, Message{Event: EndOfInput})
	}()

	stream, closeStream, err := tm.subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStream()
	if err := stream.Send(&floepb.ConsumerMessage{Producer: ref, Edge: 0, Subpartition: 0, Credit: credit}); err != nil {
		t.Fatal(err)
	}
	for i := range credit {
		m, err := stream.Recv()
		if err != nil || m.GetValue() != int64(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	// Without more credit the producer fills its queue and blocks, and
	// nothing more crosses the pipe.
	for deadline := time.Now().Add(5 * time.Second); ; {
		part.subs[0].mu.Lock()
		full := len(part.subs[0].queue) == capacity
		part.subs[0].mu.Unlock()
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the producer's queue never filled")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // room for a (wrong) send beyond the credit
	if got := pushes.Load(); got != credit+capacity {
		t.Fatalf("%d messages pushed, want %d: %d sent beyond the credit", got, credit+capacity, got-credit-capacity)
	}
	for i := credit; i < n; i++ {
		if err := stream.Send(&floepb.ConsumerMessage{Credit: 1}); err != nil {
			t.Fatal(err)
		}
		m, err := stream.Recv()
		if err != nil || m.GetValue() != int64(i) || len(m.GetPayload()) != 1 || m.GetPayload()[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	if err := stream.Send(&floepb.ConsumerMessage{Credit: 1}); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || EventKind(m.GetKind()) != EndOfInput {
		t.Fatalf("want END_OF_PARTITION, got %v %v", m, err)
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v, want EOF", err)
	}
	if q := tm.stats.Queued(); q != 0 {
		t.Fatalf("%d bytes still counted as queued", q)
	}
}

// A subscription to a partition that never appears fails with NotFound; a
// cancelled one ends the serving goroutine and unblocks the consumer.
func TestChannelMissingAndCancelled(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { testMissingAndCancelled(t, tr) })
	}
}

func testMissingAndCancelled(t *testing.T, transport string) {
	tm := newTM(t, transport)
	ref := &floepb.TaskRef{JobId: "j", Vertex: 2}
	stream, closeStream, err := tm.subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&floepb.ConsumerMessage{Producer: ref, Credit: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.NotFound {
		t.Fatalf("missing partition: %v, want NotFound", err)
	}
	closeStream()

	part := NewResultPartition(KeyOf(ref, 0), 1, 1, &tm.stats)
	tm.partitions.Register(part)
	ctx, cancel := context.WithCancel(context.Background())
	stream, closeStream, err = tm.subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&floepb.ConsumerMessage{Producer: ref, Credit: 1}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		got <- err
	}()
	cancel()
	if err := <-got; !isCancelled(err) {
		t.Fatalf("cancelled: %v", err)
	}
	closeStream() // returns only once the serving goroutine has
}

// Availability counts full subpartitions: a push that fills one makes the
// task's outputs unavailable, a pop or a release makes them available and
// signals Space.
func TestAvailability(t *testing.T) {
	var stats BufferStats
	a := NewAvailability()
	ref := &floepb.TaskRef{JobId: "j", Vertex: 1}
	p := NewResultPartition(KeyOf(ref, 0), 2, 1, &stats)
	p.Track(a)
	ctx := context.Background()
	if !a.Available() {
		t.Fatal("empty partition unavailable")
	}
	if err := p.subs[0].push(ctx, Message{Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := p.subs[1].push(ctx, Message{Payload: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	if a.Available() {
		t.Fatal("two full subpartitions, available")
	}
	if _, err := p.Overtake(0, Message{Event: Barrier, Value: 1}); err != nil { // over capacity now
		t.Fatal(err)
	}
	if _, _, err := p.subs[0].pop(); err != nil {
		t.Fatal(err)
	}
	if a.Available() {
		t.Fatal("subpartition 0 still at capacity after one pop of two, yet available")
	}
	if _, _, err := p.subs[0].pop(); err != nil {
		t.Fatal(err)
	}
	if a.Available() {
		t.Fatal("subpartition 1 is full, yet available")
	}
	select {
	case <-a.Space():
	default:
		t.Fatal("room in subpartition 0 was not signalled")
	}
	p.Release(ErrPartitionReleased)
	if !a.Available() {
		t.Fatal("a released partition still counts as full")
	}
}

// A priority barrier leaves without credit, ahead of the queue, and the
// consumer's gate announces it before the messages queued in front of it
// are taken; a barrier in order still needs credit.
func TestPriorityBarrierWithoutCredit(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { testPriorityBarrier(t, tr) })
	}
}

func testPriorityBarrier(t *testing.T, transport string) {
	tm := newTM(t, transport)
	ref := &floepb.TaskRef{JobId: "j", Vertex: 1}
	part := NewResultPartition(KeyOf(ref, 0), 1, 8, &tm.stats)
	tm.partitions.Register(part)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 4 {
		if err := part.subs[0].push(ctx, Message{Payload: []byte{byte(i)}, Records: 1}); err != nil {
			t.Fatal(err)
		}
	}
	gate, err := NewInputGate([]*floepb.InputGateDescriptor{{Channels: []*floepb.InputChannelDescriptor{{Producer: ref}}}},
		func(string) (Subscriber, error) { return tm.subscribe, nil }, 1, &tm.stats)
	if err != nil {
		t.Fatal(err)
	}
	gate.Start(ctx)
	defer func() {
		cancel()
		gate.Wait()
	}()
	first := <-gate.Queue() // the one credit is used; nothing else comes
	if first.Msg.GetKind() != 0 || first.Msg.GetPayload()[0] != 0 {
		t.Fatalf("first delivery %v", first.Msg)
	}
	if _, err := part.Overtake(0, Message{Event: Barrier, Value: 5, Payload: []byte("chk-5")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate.Priority():
	case <-time.After(10 * time.Second):
		t.Fatal("the priority barrier was not announced without credit")
	}
	if !gate.PriorityPending() {
		t.Fatal("announced, but nothing pending")
	}
	ps := gate.TakePriority()
	if len(ps) != 1 || ps[0].Msg.GetValue() != 5 || ps[0].Msg.GetFlags()&FlagPriority == 0 {
		t.Fatalf("announced %v", ps)
	}
	d := <-gate.Queue() // in its place in the queue too, ahead of the overtaken messages
	if d.Msg.GetKind() != floepb.EventKind_BARRIER || d.Msg.GetValue() != 5 {
		t.Fatalf("queued after the first data: %v", d.Msg)
	}
	select {
	case d := <-gate.Queue():
		t.Fatalf("%v came without credit", d.Msg)
	case <-time.After(20 * time.Millisecond):
	}
	first.Channel.Release() // one credit for the data message; none for the barrier
	if d := <-gate.Queue(); d.Msg.GetKind() != 0 || d.Msg.GetPayload()[0] != 1 {
		t.Fatalf("after the credit: %v", d.Msg)
	}
	select {
	case d := <-gate.Queue():
		t.Fatalf("%v came beyond the credit", d.Msg)
	case <-time.After(20 * time.Millisecond):
	}
}

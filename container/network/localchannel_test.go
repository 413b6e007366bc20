package network

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc/floepb"
)

// localTM is what a TaskManager wires: a registry, its stats, and a local
// subscriber serving from the registry.
type localTM struct {
	partitions *PartitionRegistry
	stats      BufferStats
	subscribe  Subscriber
}

func newLocalTM() *localTM {
	tm := &localTM{partitions: NewPartitionRegistry()}
	tm.subscribe = LocalSubscriber(func(s ProducerStream) error { return tm.partitions.Serve(s, 200*time.Millisecond) })
	return tm
}

// A local subscription delivers a producer's messages in order, never more
// than the consumer's credit ahead, and ends after END_OF_PARTITION.
func TestLocalChannelOrderAndCredit(t *testing.T) {
	const n, credit, capacity = 100, 2, 4
	tm := newLocalTM()
	ref := &floepb.TaskRef{JobId: "j", Vertex: 1}
	part := NewResultPartition(KeyOf(ref, 0), 1, capacity, &tm.stats)
	tm.partitions.Register(part)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pushed := make(chan error, 1)
	go func() {
		for i := range n {
			if err := part.subs[0].push(ctx, Message{Value: int64(i), Payload: []byte{byte(i)}, Records: 1}); err != nil {
				pushed <- err
				return
			}
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
	time.Sleep(10 * time.Millisecond) // room for a (wrong) send beyond the credit
	if p := stream.(localClient).p; len(p.down) != 0 {
		t.Fatalf("%d messages sent beyond the credit", len(p.down))
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
func TestLocalChannelMissingAndCancelled(t *testing.T) {
	tm := newLocalTM()
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
	if err := <-got; !errors.Is(err, context.Canceled) {
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
	tm := newLocalTM()
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

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

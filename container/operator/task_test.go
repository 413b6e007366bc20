package operator

import (
	"context"
	"testing"
	"time"

	"floe/container/network"
	"floe/internal/rpc/floepb"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Mail posted from other goroutines runs on the source's goroutine at its
// next Poll, in order, and a Poll with nothing due runs nothing.
func TestSourceContextMail(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sc, stop := NewSourceContext(ctx, nil, 0, false)
	defer stop()
	var got []int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3 {
			sc.Post(func() { got = append(got, i) })
		}
	}()
	<-done
	if sc.Poll() {
		t.Fatal("Poll says stop before the context ended")
	}
	if len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("mail ran %v, want [0 1 2]", got)
	}
	sc.Poll()
	if len(got) != 3 {
		t.Fatalf("mail ran again: %v", got)
	}
	cancel()
	for !sc.Poll() {
	}
}

// A Poll while an output queue is full waits, runs mail meanwhile (a
// checkpoint trigger is taken between two records), and returns once the
// queue has room; the wait is reported.
func TestSourceContextAwaitsOutput(t *testing.T) {
	sc, stop := NewSourceContext(context.Background(), nil, 0, false)
	defer stop()
	a := network.NewAvailability()
	p := network.NewResultPartition(network.KeyOf(&floepb.TaskRef{JobId: "j"}, 0), 1, 1, &network.BufferStats{})
	p.Track(a)
	if err := p.Sink(context.Background()).Send(0, network.Message{Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	var waited time.Duration
	sc.AwaitOutput(a, func(d time.Duration) { waited += d })
	ran := false
	sc.Post(func() {
		if a.Available() {
			t.Error("mail ran after the queue had room, not during the wait")
		}
		ran = true
		p.Release(network.ErrPartitionReleased) // room (a release counts as room)
	})
	done := make(chan bool, 1)
	go func() { done <- sc.Poll() }()
	select {
	case stopped := <-done:
		if stopped || !ran || waited <= 0 {
			t.Fatalf("Poll: stop %v, mail ran %v, waited %v", stopped, ran, waited)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Poll never returned: the mail did not run while it waited")
	}
}

// BenchmarkSourceContextPoll is a source's check between two records when
// nothing is due.
func BenchmarkSourceContextPoll(b *testing.B) {
	sc, stop := NewSourceContext(context.Background(), nil, 0, false)
	defer stop()
	for b.Loop() {
		if sc.Poll() {
			b.Fatal("stop")
		}
	}
}

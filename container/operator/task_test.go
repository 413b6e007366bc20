package operator

import (
	"context"
	"testing"

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

package appmaster

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"floe/internal/mailbox"
)

// Checkpoint RPCs to one TaskManager arrive in the order they were queued,
// even when each call takes a different time and callers queue from many
// goroutines in a known order; the draining goroutine exits when idle.
func TestOrderedCallsKeepOrder(t *testing.T) {
	jm := &JobManager{rpcCtx: context.Background()}
	var q mailbox.Mailbox[func(context.Context)]
	var mu sync.Mutex
	var got []int
	const n = 200
	for i := range n {
		jm.ordered(&q, func(ctx context.Context) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("call has no deadline")
			}
			time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
		})
		if i%37 == 0 {
			time.Sleep(time.Millisecond) // let the queue drain and restart
		}
	}
	jm.inflight.Wait()
	if len(got) != n {
		t.Fatalf("%d calls ran, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("call %d ran at position %d: order %v", v, i, got[:i+1])
		}
	}
	if calls := q.Take(); len(calls) != 0 {
		t.Fatalf("%d calls left in the queue", len(calls))
	}
	if !q.Post(func(context.Context) {}) {
		t.Fatal("queue not idle after the calls")
	}
}

package appmaster

import (
	"context"
	"testing"
	"time"
)

// A per-job AM waits for a following client to be told the end, and only
// for one that follows.
func TestWaitReported(t *testing.T) {
	ctx := context.Background()
	h := &JobHandle{entry: &jobEntry{}}
	start := time.Now()
	if h.WaitReported(ctx, time.Minute) || time.Since(start) > time.Second {
		t.Fatal("waited although no client follows the job")
	}
	h.entry.handover.asked(false) // a poll while the job runs
	if h.WaitReported(ctx, 50*time.Millisecond) {
		t.Fatal("reported although no client was told the end")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		h.entry.handover.asked(true)
	}()
	if !h.WaitReported(ctx, time.Minute) {
		t.Fatal("a client was told the end, but WaitReported timed out")
	}
	h.entry.handover.asked(true) // told twice: no panic on a closed channel
}

package appmaster

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/internal/rpc/floepb"
)

// blackHole is the address of a TaskManager that hangs: it takes TCP
// connections and never answers, so an RPC to it ends only with its context.
func blackHole(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		lis.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return lis.Addr().String()
}

// runJobManager starts a JobManager; stop ends Run's context and returns
// Run's result, failing the test if Run does not return within limit.
func runJobManager(t *testing.T) (jm *JobManager, stop func(limit time.Duration) error) {
	t.Helper()
	jm, err := New(Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- jm.Run(ctx) }()
	return jm, func(limit time.Duration) error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(limit):
			t.Fatalf("Run did not return within %s of its context's end", limit)
			return nil
		}
	}
}

// Run ends the RPCs it started when its context ends, even those to a
// TaskManager that never answers: deployments, checkpoint calls queued in
// order, calls on their own, and the Shutdown of stopping. Each has a
// timeout of 10 s or 30 s of its own; Run must not wait for them.
func TestRunEndsRPCsToAHungTaskManager(t *testing.T) {
	jm, stop := runJobManager(t)
	resp, err := jmService{jm: jm}.RegisterTaskManager(context.Background(),
		&floepb.RegisterTaskManagerRequest{ResourceId: "hung", Address: blackHole(t), Slots: 4})
	if err != nil {
		t.Fatal(err)
	}
	h, err := jm.Submit(testGraph(), SubmitOptions{}) // deploys to the hung TaskManager
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Status().State; got != Running {
		t.Fatalf("job is %s, want it deploying (RUNNING)", got)
	}
	started := make(chan string, 3)
	jm.mu.Lock()
	tm := jm.tms[resp.GetTaskmanagerId()]
	for range 2 {
		jm.ordered(&tm.calls, func(ctx context.Context) {
			started <- "ordered"
			tm.client.TriggerCheckpoint(ctx, &floepb.CheckpointTrigger{Id: 1})
		})
	}
	jm.async(func(ctx context.Context) {
		started <- "async"
		tm.client.NotifyCheckpoint(ctx, &floepb.CheckpointNotice{Id: 1})
	})
	jm.mu.Unlock()
	for range 2 { // the first ordered call and the async one are in flight
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the RPC goroutines did not start")
		}
	}

	// Well over stopGrace, well under the calls' own timeouts.
	if err := stop(stopGrace + 5*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Once Run has returned, the JobManager starts no RPC: goleak (TestMain)
	// finds any goroutine these leave.
	h.Cancel()
	jm.TaskManagerLost("hung", "gone")
	jm.mu.Lock()
	jm.async(func(context.Context) { t.Error("an RPC ran after Run returned") })
	jm.ordered(&tm.calls, func(context.Context) { t.Error("an ordered RPC ran after Run returned") })
	jm.mu.Unlock()
}

// A JobManager with no TaskManager stops at once, and one with a healthy
// TaskManager is not cut short: the RPCs in flight when Run's context ends
// still finish (here: one that ends by itself shortly after).
func TestRunLetsRPCsInFlightFinish(t *testing.T) {
	jm, stop := runJobManager(t)
	finished := make(chan error, 1)
	jm.mu.Lock()
	jm.async(func(ctx context.Context) {
		select {
		case <-time.After(100 * time.Millisecond):
			finished <- nil
		case <-ctx.Done():
			finished <- ctx.Err()
		}
	})
	jm.mu.Unlock()
	if err := stop(stopGrace + 5*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case err := <-finished:
		if err != nil {
			t.Fatalf("the RPC in flight was cut short: %v", err)
		}
	default:
		t.Fatal("Run returned before the RPC in flight ended")
	}
}

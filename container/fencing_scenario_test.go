package container_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/checkpoint"
	"floe/config"
	"floe/container"
	"floe/internal/failover"
	"floe/internal/fsys"
	"floe/internal/rpc"
)

// partition is a TCP proxy to a JobManager that can cut the network: while
// cut, it drops every connection and refuses new ones.
type partition struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newPartition(t *testing.T, target string) *partition {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{lis: lis, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		lis.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *partition) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(up, c); up.Close() })
		p.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

func (p *partition) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// writers lists the checkpoints of jobDir with a _metadata, by id, with the
// attempt that wrote each.
func writers(t *testing.T, store fsys.FS, jobDir string) map[int64]int32 {
	t.Helper()
	entries, err := checkpoint.ListCompleted(context.Background(), store, jobDir)
	if err != nil && !errors.Is(err, fsys.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[int64]int32{}
	for _, e := range entries {
		m, err := checkpoint.LoadMetadata(context.Background(), store, e.Dir)
		if err != nil {
			continue // discarded meanwhile
		}
		out[m.ID] = m.WriterAttempt
	}
	return out
}

// The SIGSTOP scenario at unit level: the JobManager of attempt 1 runs a
// job with checkpoints; attempt 2's JobManager publishes itself in the
// leader file and takes the job over under the same job id and checkpoint
// directory; the TaskManager, cut off from attempt 1 (a paused process, a
// partition), reads the leader file and follows attempt 2. When attempt 1
// is reachable again it is still running, but it commits no checkpoint
// (_metadata) and removes none after attempt 2 published itself, and the
// TaskManager refuses its commands. Attempt 2 writes checkpoints on from
// attempt 1's latest.
func TestOldJobManagerCommitsNothingAfterANewerAttempt(t *testing.T) {
	staging, ckpts := t.TempDir(), t.TempDir()
	store, _, err := fsys.Resolve(staging)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fence := func(attempt int32) func(context.Context) error {
		return func(ctx context.Context) error {
			sup, l, err := failover.Superseded(ctx, store, staging, attempt)
			if err != nil {
				return err
			}
			if sup {
				return fmt.Errorf("attempt %d superseded by attempt %d", attempt, l.Attempt)
			}
			return nil
		}
	}
	secret := rpc.NewSecret()
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	startJM := func(attempt int32) *appmaster.JobManager {
		jm, err := appmaster.New(appmaster.Options{Secret: secret, Log: zerolog.Nop(), SlotTimeout: 20 * time.Second,
			HeartbeatTimeout: 3 * time.Second, Attempt: attempt, Fence: fence(attempt)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { jm.Run(ctx) })
		if err := failover.PublishLeader(ctx, store, staging, failover.Leader{Attempt: attempt, Address: jm.Address(), Written: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return jm
	}
	var sum atomic.Int64
	var closed atomic.Int32
	g := graph("endless", 1, -1, &sum, &closed)
	g.Config = config.New(map[string]string{config.BufferTimeout: "10ms", checkpoint.KeyInterval: "50ms",
		checkpoint.KeyDir: ckpts, checkpoint.KeyNumRetained: "1000"})
	const job = "0123456789abcdef0123456789abcdef"
	jobDir := checkpoint.JobDir(ckpts, job)

	jm1 := startJM(1)
	net1 := newPartition(t, jm1.Address())
	tm, err := container.New(container.Options{ResourceID: "tm-0", JobManager: net1.lis.Addr().String(), Slots: 2,
		Secret: secret, Log: zerolog.Nop(), Graph: g, HeartbeatTimeout: 3 * time.Second,
		Locate: func(ctx context.Context) (string, int32, error) {
			l, err := failover.ReadLeader(ctx, store, staging)
			return l.Address, l.Attempt, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	tmDone := make(chan error, 1)
	go func() { tmDone <- tm.Run(ctx) }()
	if _, err := jm1.Submit(g, appmaster.SubmitOptions{ID: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "attempt 1 completes checkpoints", func() bool { return len(writers(t, store, jobDir)) >= 3 })

	// Attempt 2 publishes itself; attempt 1 may finish the commit it had
	// checked the fence for, and nothing after, though the TaskManager
	// still obeys it for a while (it has not noticed anything yet).
	jm2 := startJM(2)
	time.Sleep(100 * time.Millisecond)
	before := writers(t, store, jobDir)
	var latest1 int64
	for id, a := range before {
		if a != 1 {
			t.Fatalf("checkpoint %d written by attempt %d before attempt 2 ran", id, a)
		}
		latest1 = max(latest1, id)
	}
	check := func() {
		t.Helper()
		now := writers(t, store, jobDir)
		for id := range before {
			if _, ok := now[id]; !ok {
				t.Fatalf("checkpoint %d of attempt 1 was removed after attempt 2 took over", id)
			}
		}
		for id, a := range now {
			switch {
			case a == 1 && before[id] != 1:
				t.Fatalf("attempt 1 committed checkpoint %d after attempt 2 published itself", id)
			case a == 2 && id <= latest1:
				t.Fatalf("attempt 2 wrote checkpoint %d, not after attempt 1's latest %d", id, latest1)
			}
		}
	}
	for range 10 { // 500 ms: ten of attempt 1's checkpoint intervals
		time.Sleep(50 * time.Millisecond)
		check()
	}
	if _, err := jm2.Submit(g, appmaster.SubmitOptions{ID: job}); err != nil {
		t.Fatal(err)
	}
	net1.setCut(true) // the TaskManager loses attempt 1
	waitUntil(t, "attempt 2 completes checkpoints", func() bool {
		check()
		n := 0
		for _, a := range writers(t, store, jobDir) {
			if a == 2 {
				n++
			}
		}
		return n >= 3
	})
	net1.setCut(false) // attempt 1 is back, and still running
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		check()
	}
	if jobs := jm1.Jobs(); len(jobs) == 0 {
		t.Fatal("attempt 1's JobManager no longer knows the job: the scenario needs it alive")
	}
	if sum.Load() == 0 {
		t.Fatal("no record reached the sink")
	}
	cancel()
	if err := <-tmDone; err != nil {
		t.Fatalf("TaskManager: %v", err)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

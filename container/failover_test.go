package container

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"floe/container/network"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

func fromAttempt(a int32) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(rpc.AttemptHeader, itoa(a)))
}

func itoa(a int32) string { return strconv.Itoa(int(a)) }

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// A TaskManager that follows attempt 2 refuses every command of attempt 1,
// and obeys attempt 2's.
func TestTaskManagerRefusesOlderAttempt(t *testing.T) {
	tm, err := New(Options{ResourceID: "tm", JobManager: "127.0.0.1:1", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer tm.closeConns()
	defer tm.lis.Close()
	tm.fence = 2
	s := tmService{tm: tm}
	ref := &floepb.TaskRef{JobId: "j"}
	calls := map[string]func(ctx context.Context) error{
		"deploy": func(ctx context.Context) error {
			_, err := s.DeployTask(ctx, &floepb.TaskDeployment{Task: ref})
			return err
		},
		"cancel": func(ctx context.Context) error { _, err := s.CancelTask(ctx, ref); return err },
		"trigger": func(ctx context.Context) error {
			_, err := s.TriggerCheckpoint(ctx, &floepb.CheckpointTrigger{Task: ref, Id: 1})
			return err
		},
		"notify": func(ctx context.Context) error {
			_, err := s.NotifyCheckpoint(ctx, &floepb.CheckpointNotice{Task: ref, Id: 1, Complete: true})
			return err
		},
		"shutdown": func(ctx context.Context) error { _, err := s.Shutdown(ctx, &floepb.ShutdownRequest{}); return err },
	}
	for name, call := range calls {
		for _, old := range []context.Context{fromAttempt(1), context.Background()} {
			err := call(old)
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "fenced") {
				t.Errorf("%s from an older attempt: %v, want FailedPrecondition fenced", name, err)
			}
		}
		if err := call(fromAttempt(2)); status.Code(err) == codes.FailedPrecondition {
			t.Errorf("%s from the current attempt refused: %v", name, err)
		}
	}
	select {
	case <-tm.shutdown:
	default:
		t.Error("attempt 2's Shutdown was not obeyed")
	}
}

// fakeJM is a JobManager service that records registrations and answers
// heartbeats, as attempt n.
type fakeJM struct {
	floepb.UnimplementedJobManagerServer
	attempt int32
	mu      sync.Mutex
	regs    []string
}

func (f *fakeJM) RegisterTaskManager(ctx context.Context, req *floepb.RegisterTaskManagerRequest) (*floepb.RegisterTaskManagerResponse, error) {
	f.mu.Lock()
	f.regs = append(f.regs, req.GetResourceId())
	f.mu.Unlock()
	grpc.SetHeader(ctx, metadata.Pairs(rpc.AttemptHeader, itoa(f.attempt)))
	return &floepb.RegisterTaskManagerResponse{TaskmanagerId: "tm-1", HeartbeatIntervalMs: 20}, nil
}

func (f *fakeJM) Heartbeat(context.Context, *floepb.HeartbeatRequest) (*floepb.HeartbeatResponse, error) {
	return &floepb.HeartbeatResponse{}, nil
}

func (f *fakeJM) registrations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.regs)
}

func serveFake(t *testing.T, f *fakeJM) (string, func()) {
	s := grpc.NewServer(rpc.ServerOptions("s")...)
	floepb.RegisterJobManagerServer(s, f)
	lis, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	return lis.Addr().String(), s.Stop
}

// When its JobManager dies, a TaskManager reads the successor's address from
// Locate, registers with it, and from then on refuses the old attempt.
func TestTaskManagerFollowsNewAttempt(t *testing.T) {
	jm1, jm2 := &fakeJM{attempt: 1}, &fakeJM{attempt: 2}
	addr1, stop1 := serveFake(t, jm1)
	addr2, stop2 := serveFake(t, jm2)
	defer stop2()
	var mu sync.Mutex
	leader, leaderAttempt := addr1, int32(1)
	tm, err := New(Options{ResourceID: "tm", JobManager: addr1, Secret: "s", Log: zerolog.Nop(), HeartbeatTimeout: 5 * time.Second,
		Locate: func(context.Context) (string, int32, error) {
			mu.Lock()
			defer mu.Unlock()
			return leader, leaderAttempt, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	waitFor(t, func() bool { return jm1.registrations() == 1 })
	// A finished BATCH task of attempt 1 left its output: attempt 2 numbers
	// its executions from zero again, so the file must be gone once the
	// TaskManager has moved, or the rerun producer finds it in the way.
	out := filepath.Join(t.TempDir(), "job-1", "v0", "s0", "a0", "e0")
	bp, err := network.NewBlockingPartition(network.KeyOf(&floepb.TaskRef{JobId: "job-1"}, 0), 1, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := bp.Finish(); err != nil {
		t.Fatal(err)
	}
	tm.partitions.RegisterBlocking(bp)
	stop1() // attempt 1 dies; attempt 2 publishes itself
	mu.Lock()
	leader, leaderAttempt = addr2, 2
	mu.Unlock()
	waitFor(t, func() bool { return jm2.registrations() == 1 })
	if jobs := tm.partitions.Jobs(); len(jobs) != 0 {
		t.Fatalf("after the move the TaskManager still holds partitions of %v", jobs)
	}
	if _, err := os.Stat(filepath.Join(out, "sub-0.arrows")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("attempt 1's blocking partition file is still there: %v", err)
	}
	if err := tm.fenced(fromAttempt(1)); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("after the move, attempt 1 is obeyed: %v", err)
	}
	if err := tm.fenced(fromAttempt(2)); err != nil {
		t.Fatalf("attempt 2 refused: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// Without a newer attempt, losing the JobManager still ends Run, after the
// heartbeat timeout.
func TestTaskManagerWithoutSuccessorGivesUp(t *testing.T) {
	jm1 := &fakeJM{attempt: 1}
	addr1, stop1 := serveFake(t, jm1)
	tm, err := New(Options{ResourceID: "tm", JobManager: addr1, Secret: "s", Log: zerolog.Nop(), HeartbeatTimeout: 300 * time.Millisecond,
		Locate: func(context.Context) (string, int32, error) { return addr1, 1, nil }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tm.Run(context.Background()) }()
	waitFor(t, func() bool { return jm1.registrations() == 1 })
	stop1()
	select {
	case err := <-done:
		if !errors.Is(err, ErrJobManagerLost) {
			t.Fatalf("Run: %v, want ErrJobManagerLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not give up")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

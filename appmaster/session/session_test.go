package session

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"floe/appmaster"
	amyarn "floe/appmaster/yarn"
	yarnrpc "floe/internal/hadoop/yarn"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSupervisor is a container's Supervisor service that records what the
// session asks of it.
type fakeSupervisor struct {
	floepb.UnimplementedSupervisorServer
	mu      sync.Mutex
	stopped []string // job ids
	attempt int32    // of the last call
}

func (f *fakeSupervisor) StopTaskManagers(ctx context.Context, req *floepb.StopTaskManagersRequest) (*floepb.StopTaskManagersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, req.GetJobId())
	f.attempt = rpc.IncomingAttempt(ctx)
	return &floepb.StopTaskManagersResponse{}, nil
}

func (f *fakeSupervisor) lastAttempt() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempt
}

func (f *fakeSupervisor) jobsStopped() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stopped)
}

// serveSupervisor serves f on 127.0.0.1 behind the secret until the test ends.
func serveSupervisor(t *testing.T, secret string, f *fakeSupervisor) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(rpc.ServerOptions(secret)...)
	floepb.RegisterSupervisorServer(srv, f)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String()
}

// newTestSession is a session master over a real JobManager and a pool
// driver that is never run (no ResourceManager): its requests only queue.
func newTestSession(t *testing.T, slotWait time.Duration) *sessionMaster {
	t.Helper()
	secret := rpc.NewSecret()
	jm, err := appmaster.New(appmaster.Options{Secret: secret, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); jm.Run(ctx) }()
	sm := &sessionMaster{log: zerolog.Nop(), jm: jm, secret: secret, slotWait: slotWait,
		supervisors: map[string]*supervisorInfo{}, changed: make(chan struct{}), jobs: map[string]*sessionJob{}}
	sm.driver = amyarn.NewPoolDriver(yarnrpc.NewAM(nil, nil), jm, yarnrpc.Resource{MemoryMB: 512, VCores: 2},
		yarnrpc.Launch{}, 2, sm.supervisorLost, zerolog.Nop())
	t.Cleanup(func() {
		sm.mu.Lock()
		for _, s := range sm.supervisors {
			s.conn.Close()
		}
		sm.mu.Unlock()
		cancel()
		<-done
	})
	return sm
}

func (sm *sessionMaster) register(t *testing.T, container, addr string, slots int32) {
	t.Helper()
	if _, err := sm.RegisterSupervisor(context.Background(), &floepb.RegisterSupervisorRequest{
		ContainerId: container, Address: addr, Slots: slots}); err != nil {
		t.Fatal(err)
	}
}

func usedBy(sm *sessionMaster, job string) map[string]int {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	out := map[string]int{}
	for id, s := range sm.supervisors {
		if k := s.used[job]; k > 0 {
			out[id] = k
		}
	}
	return out
}

// Jobs take the free slots of the pool; a job that does not fit waits until
// a container registers, and is then placed on it, not on reused slots.
func TestPlaceUsesFreeSlotsThenWaitsForANewContainer(t *testing.T) {
	sm := newTestSession(t, time.Minute)
	f := &fakeSupervisor{}
	addr := serveSupervisor(t, sm.secret, f)
	sm.register(t, "c1", addr, 2)
	sm.register(t, "c2", addr, 2)

	placedA, reusedA, err := sm.place(context.Background(), "jobA", 3)
	if err != nil || !reusedA || len(placedA) != 2 {
		t.Fatalf("job A: placed on %d containers, reused %v, %v; want both containers, reused", len(placedA), reusedA, err)
	}
	if u := usedBy(sm, "jobA"); u["c1"]+u["c2"] != 3 {
		t.Fatalf("job A holds %v, want 3 slots", u)
	}

	type result struct {
		placed []placement
		reused bool
		err    error
	}
	got := make(chan result, 1)
	go func() {
		p, r, err := sm.place(context.Background(), "jobB", 2)
		got <- result{p, r, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("job B placed with only 1 slot free: %+v", r)
	case <-time.After(100 * time.Millisecond): // it waits: nothing to assert on time
	}
	sm.register(t, "c3", addr, 2)
	var r result
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("job B was not placed after a container with 2 free slots registered")
	}
	if r.err != nil || r.reused {
		t.Fatalf("job B: reused %v, %v; want placed on a new container", r.reused, r.err)
	}
	if u := usedBy(sm, "jobB"); u["c1"]+u["c2"]+u["c3"] != 2 {
		t.Fatalf("job B holds %v, want 2 slots", u)
	}

	// Releasing job A stops its TaskManagers in each container and frees its slots.
	sm.release("jobA")
	if got := f.jobsStopped(); len(got) != 2 || got[0] != "jobA" || got[1] != "jobA" {
		t.Fatalf("StopTaskManagers calls: %v, want jobA in both containers", got)
	}
	if u := usedBy(sm, "jobA"); len(u) != 0 {
		t.Fatalf("job A still holds %v after release", u)
	}
}

// A job that cannot get its slots within the slot wait fails with
// ErrNotEnoughSlots, saying how many it needed and how many were free.
func TestPlaceGivesUpAfterTheSlotWait(t *testing.T) {
	sm := newTestSession(t, 200*time.Millisecond)
	sm.register(t, "c1", serveSupervisor(t, sm.secret, &fakeSupervisor{}), 1)
	_, _, err := sm.place(context.Background(), "big", 3)
	if !errors.Is(err, appmaster.ErrNotEnoughSlots) {
		t.Fatalf("place: %v, want ErrNotEnoughSlots", err)
	}
	if u := usedBy(sm, "big"); len(u) != 0 {
		t.Fatalf("a job that was not placed holds %v", u)
	}
}

// A container that ends is forgotten: its slots are no longer offered.
func TestSupervisorLostLeavesThePool(t *testing.T) {
	sm := newTestSession(t, 200*time.Millisecond)
	addr := serveSupervisor(t, sm.secret, &fakeSupervisor{})
	sm.register(t, "c1", addr, 2)
	sm.register(t, "c2", addr, 2)
	if _, _, err := sm.place(context.Background(), "j", 1); err != nil {
		t.Fatal(err)
	}
	sm.supervisorLost("c1", "container exited with 137")
	sm.supervisorLost("c1", "reported twice") // a second report is ignored
	sm.mu.Lock()
	_, still := sm.supervisors["c1"]
	n := len(sm.supervisors)
	sm.mu.Unlock()
	if still || n != 1 {
		t.Fatalf("after losing c1: %d supervisors, c1 present %v", n, still)
	}
	if _, _, err := sm.place(context.Background(), "k", 3); !errors.Is(err, appmaster.ErrNotEnoughSlots) {
		t.Fatalf("3 slots placed with one 2-slot container left: %v", err)
	}
}

// The Dispatcher sees a job the session accepted before the JobManager has it.
func TestAcceptedJobsAreListed(t *testing.T) {
	sm := newTestSession(t, time.Second)
	started := time.Now()
	sm.jobs["j1"] = &sessionJob{id: "j1", name: "wordcount", status: string(appmaster.Created), started: started, reused: true}
	infos := sm.accepted()
	if len(infos) != 1 {
		t.Fatalf("accepted: %v", infos)
	}
	ji := infos[0]
	if ji.GetJobId() != "j1" || ji.GetName() != "wordcount" || ji.GetStatus() != string(appmaster.Created) ||
		!ji.GetReusedContainers() || ji.GetStartTimeMs() != started.UnixMilli() {
		t.Fatalf("accepted job info: %v", ji)
	}
}

// A supervisor that registers again with a new attempt keeps the slots of
// the jobs this attempt knows (a recovered job then places only what is
// missing); the TaskManagers of a job it does not know are stopped. The
// attempt goes with the answer and with every call to the supervisor.
func TestReRegisteredSupervisorKeepsItsJobs(t *testing.T) {
	sm := newTestSession(t, 200*time.Millisecond)
	sm.attempt = 2
	f := &fakeSupervisor{}
	addr := serveSupervisor(t, sm.secret, f)
	sm.jobs["known"] = &sessionJob{id: "known", status: string(appmaster.Restarting)}
	var md metadata.MD
	srv := &headerStream{md: &md}
	ctx := grpc.NewContextWithServerTransportStream(context.Background(), srv)
	if _, err := sm.RegisterSupervisor(ctx, &floepb.RegisterSupervisorRequest{ContainerId: "c1", Address: addr, Slots: 3,
		Jobs: []*floepb.RunningJob{{JobId: "known", Slots: 2}, {JobId: "gone", Slots: 1}}}); err != nil {
		t.Fatal(err)
	}
	if got := rpc.AttemptOf(md); got != 2 {
		t.Errorf("the registration answer carries attempt %d, want 2", got)
	}
	if u := usedBy(sm, "known"); u["c1"] != 2 {
		t.Fatalf("the known job holds %v, want 2 slots in c1", u)
	}
	if u := usedBy(sm, "gone"); len(u) != 0 {
		t.Fatalf("an unknown job holds %v", u)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(f.jobsStopped(), "gone") {
		if time.Now().After(deadline) {
			t.Fatalf("the unknown job's TaskManagers were not stopped: %v", f.jobsStopped())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a := f.lastAttempt(); a != 2 {
		t.Errorf("StopTaskManagers carried attempt %d, want 2", a)
	}
	// The recovered job needs 3: it holds 2 and gets the one free slot.
	placed, reused, err := sm.place(context.Background(), "known", 3)
	if err != nil || !reused || len(placed) != 1 || placed[0].slots != 1 {
		t.Fatalf("place of the recovered job: %+v reused %v, %v; want 1 more slot in c1", placed, reused, err)
	}
	if placed, _, err := sm.place(context.Background(), "known", 3); err != nil || len(placed) != 0 {
		t.Fatalf("a job that holds what it needs placed %+v, %v", placed, err)
	}
}

// headerStream records the header a handler sets.
type headerStream struct {
	grpc.ServerTransportStream
	md *metadata.MD
}

func (h *headerStream) Method() string { return "/floe.Dispatcher/RegisterSupervisor" }
func (h *headerStream) SetHeader(md metadata.MD) error {
	*h.md = metadata.Join(*h.md, md)
	return nil
}
func (h *headerStream) SendHeader(md metadata.MD) error { return h.SetHeader(md) }
func (h *headerStream) SetTrailer(metadata.MD) error    { return nil }

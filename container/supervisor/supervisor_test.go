package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"floe/internal/role"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeJob stands in for a job binary in the TaskManager role: it prints
// its arguments and wiring, then runs until SIGTERM.
const fakeJob = `#!/bin/sh
echo "args=$*"
echo "role=$FLOE_ROLE jobmanager=$FLOE_JOBMANAGER slots=$FLOE_SLOTS resource=$FLOE_RESOURCE_ID job=$FLOE_JOB_ID"
echo "config=$FLOE_CONFIG"
trap 'echo stopped; exit 0' TERM
echo ready
while :; do sleep 0.05; done
`

// dispatcher is the session's side of a supervisor's registration.
type dispatcher struct {
	floepb.UnimplementedDispatcherServer
	registered chan *floepb.RegisterSupervisorRequest
}

func (d *dispatcher) RegisterSupervisor(_ context.Context, r *floepb.RegisterSupervisorRequest) (*floepb.RegisterSupervisorResponse, error) {
	d.registered <- r
	return &floepb.RegisterSupervisorResponse{}, nil
}

func serve(t *testing.T, secret string, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(rpc.ServerOptions(secret)...)
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr, secret string) floepb.SupervisorClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, rpc.DialOptions(secret)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return floepb.NewSupervisorClient(conn)
}

// waitFor polls file until it contains s.
func waitFor(t *testing.T, file, s string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		if strings.Contains(string(b), s) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never said %q; it has:\n%s", file, s, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gone(pid int32) bool { return syscall.Kill(int(pid), 0) != nil }

// Run registers with the session, then starts and stops TaskManager
// processes of a job binary it fetches by content hash, over its real gRPC
// service; when its context ends it stops the processes still running.
func TestSupervisorStartsAndStopsTaskManagers(t *testing.T) {
	const secret = "s3cret"
	work, logs := t.TempDir(), t.TempDir()
	binPath := filepath.Join(t.TempDir(), "job")
	if err := os.WriteFile(binPath, []byte(fakeJob), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(fakeJob))
	bin := &floepb.BinaryRef{Uri: "file://" + binPath, Sha256: hex.EncodeToString(sum[:]), Size: int64(len(fakeJob))}

	disp := &dispatcher{registered: make(chan *floepb.RegisterSupervisorRequest, 1)}
	dispAddr := serve(t, secret, func(s *grpc.Server) { floepb.RegisterDispatcherServer(s, disp) })
	t.Chdir(work) // Run caches job binaries under its working directory
	t.Setenv("NM_HOST", "127.0.0.1")
	t.Setenv("CONTAINER_ID", "container_1_0001_01_000002")
	t.Setenv("LOG_DIRS", logs+","+t.TempDir())
	t.Setenv(role.EnvJobManager, dispAddr)
	t.Setenv(role.EnvSecret, secret)
	t.Setenv(role.EnvSlots, "3")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, zerolog.Nop()) }()
	var reg *floepb.RegisterSupervisorRequest
	select {
	case reg = <-disp.registered:
	case err := <-done:
		t.Fatalf("Run ended before registering: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the supervisor did not register")
	}
	if reg.GetContainerId() != "container_1_0001_01_000002" || reg.GetSlots() != 3 || !strings.HasPrefix(reg.GetAddress(), "127.0.0.1:") {
		t.Fatalf("registration %v", reg)
	}
	sv := dial(t, reg.GetAddress(), secret)

	if _, err := dial(t, reg.GetAddress(), "wrong").StartTaskManager(ctx, &floepb.StartTaskManagerRequest{JobId: "j0", Binary: bin}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a caller with the wrong secret: %v, want Unauthenticated", err)
	}
	bad := &floepb.BinaryRef{Uri: bin.Uri, Sha256: strings.Repeat("0", 64), Size: bin.Size}
	if _, err := sv.StartTaskManager(ctx, &floepb.StartTaskManagerRequest{JobId: "j0", Binary: bad}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a binary whose hash does not match: %v, want FailedPrecondition", err)
	}

	const conf = `{"parallelism.default":"2"}`
	start := func(job string) int32 {
		r, err := sv.StartTaskManager(ctx, &floepb.StartTaskManagerRequest{JobId: job, Binary: bin, Args: []string{"--input", "a b"},
			ConfigJson: conf, Slots: 2, Jobmanager: "10.0.0.1:6123"})
		if err != nil {
			t.Fatalf("StartTaskManager %s: %v", job, err)
		}
		if r.GetPid() <= 0 {
			t.Fatalf("StartTaskManager %s: pid %d", job, r.GetPid())
		}
		return r.GetPid()
	}
	pid1 := start("job-1")
	log1 := filepath.Join(logs, "taskmanager-job-1.log")
	out := waitFor(t, log1, "ready")
	for _, want := range []string{
		"args=--input a b",
		"role=taskmanager jobmanager=10.0.0.1:6123 slots=2 resource=container_1_0001_01_000002/job-1 job=job-1",
		"config=" + base64.StdEncoding.EncodeToString([]byte(conf)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the TaskManager process did not get %q; it printed:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "jobs", bin.Sha256, "job")); err != nil {
		t.Errorf("binary not in the container's cache: %v", err)
	}
	pid2 := start("job-2")
	waitFor(t, filepath.Join(logs, "taskmanager-job-2.log"), "ready")

	if _, err := sv.StopTaskManagers(ctx, &floepb.StopTaskManagersRequest{JobId: "job-1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, log1, "stopped")
	if gone(pid2) {
		t.Error("stopping job-1 stopped job-2's TaskManager too")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Run waited for its processes: both are stopped and reaped.
	waitFor(t, filepath.Join(logs, "taskmanager-job-2.log"), "stopped")
	if !gone(pid1) || !gone(pid2) {
		t.Errorf("TaskManager processes still there after Run: %d %v, %d %v", pid1, !gone(pid1), pid2, !gone(pid2))
	}
}

// attemptDispatcher answers registrations as session attempt attempt.
type attemptDispatcher struct {
	dispatcher
	attempt int32
}

func (d *attemptDispatcher) RegisterSupervisor(ctx context.Context, r *floepb.RegisterSupervisorRequest) (*floepb.RegisterSupervisorResponse, error) {
	grpc.SetHeader(ctx, metadata.Pairs(rpc.AttemptHeader, strconv.Itoa(int(d.attempt))))
	return d.dispatcher.RegisterSupervisor(ctx, r)
}

// Registered with attempt 2, a supervisor refuses the commands of attempt 1
// (a superseded session ApplicationMaster) and obeys attempt 2's.
func TestSupervisorRefusesOlderAttempts(t *testing.T) {
	const secret = "s3cret"
	disp := &attemptDispatcher{dispatcher: dispatcher{registered: make(chan *floepb.RegisterSupervisorRequest, 1)}, attempt: 2}
	dispAddr := serve(t, secret, func(s *grpc.Server) { floepb.RegisterDispatcherServer(s, disp) })
	t.Chdir(t.TempDir())
	t.Setenv("NM_HOST", "127.0.0.1")
	t.Setenv("CONTAINER_ID", "container_1_0001_02_000002")
	t.Setenv("LOG_DIRS", t.TempDir())
	t.Setenv(role.EnvJobManager, dispAddr)
	t.Setenv(role.EnvSecret, secret)
	t.Setenv(role.EnvStaging, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, zerolog.Nop()) }()
	defer func() { cancel(); <-done }()
	var reg *floepb.RegisterSupervisorRequest
	select {
	case reg = <-disp.registered:
	case <-time.After(30 * time.Second):
		t.Fatal("the supervisor did not register")
	}
	if len(reg.GetJobs()) != 0 {
		t.Errorf("a first registration names jobs: %v", reg.GetJobs())
	}
	stop := func(attempt int32) error {
		conn, err := grpc.NewClient(reg.GetAddress(), append(rpc.DialOptions(secret), rpc.WithAttempt(attempt))...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = floepb.NewSupervisorClient(conn).StopTaskManagers(ctx, &floepb.StopTaskManagersRequest{JobId: "j"})
		return err
	}
	// The Dispatcher sees the registration before the supervisor reads the
	// answer's attempt header: until then, no fence holds yet.
	deadline := time.Now().Add(30 * time.Second)
	for status.Code(stop(1)) != codes.FailedPrecondition {
		if time.Now().After(deadline) {
			t.Fatal("attempt 1's commands still obeyed 30 s after registering with attempt 2")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		attempt int32
		want    codes.Code
	}{{1, codes.FailedPrecondition}, {0, codes.FailedPrecondition}, {2, codes.OK}, {3, codes.OK}} {
		if err := stop(c.attempt); status.Code(err) != c.want {
			t.Errorf("StopTaskManagers from attempt %d: %v, want %v", c.attempt, err, c.want)
		}
	}
}

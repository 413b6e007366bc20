// Package supervisor runs in a session's TaskManager container: for each job placed
// in the container it starts a TaskManager process of that job's own binary
// (DESIGN decision 1: a session runs binaries it was not built with) and
// stops it when the job ends. The container outlives jobs, so the next job
// starts without negotiating a new container.
package supervisor

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/jobbin"
	"floe/internal/role"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// supervisor is the Supervisor gRPC service of one container.
type supervisor struct {
	floepb.UnimplementedSupervisorServer
	log       zerolog.Logger
	secret    string
	container string
	cache     string

	mu   sync.Mutex
	jobs map[string][]*exec.Cmd
	wg   sync.WaitGroup
}

// Run serves the supervisor in this container until ctx ends: it registers
// with the session's JobManager (its Dispatcher) and starts and stops
// TaskManager processes as the session asks.
func Run(ctx context.Context, log zerolog.Logger) error {
	host := os.Getenv("NM_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	wd, _ := os.Getwd()
	sv := &supervisor{log: log, secret: os.Getenv(role.EnvSecret), container: os.Getenv("CONTAINER_ID"),
		cache: filepath.Join(wd, "jobs"), jobs: map[string][]*exec.Cmd{}}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return err
	}
	srv := grpc.NewServer(rpc.ServerOptions(sv.secret)...)
	floepb.RegisterSupervisorServer(srv, sv)
	go srv.Serve(lis)
	defer func() {
		srv.Stop()
		sv.stopAll()
	}()
	conn, err := grpc.NewClient(os.Getenv(role.EnvJobManager), rpc.DialOptions(sv.secret)...)
	if err != nil {
		return err
	}
	defer conn.Close()
	slots := role.EnvInt(role.EnvSlots, 1)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err = floepb.NewDispatcherClient(conn).RegisterSupervisor(rctx, &floepb.RegisterSupervisorRequest{
		ContainerId: sv.container, Address: lis.Addr().String(), Slots: int32(slots)}, grpc.WaitForReady(true))
	cancel()
	if err != nil {
		return fmt.Errorf("register with the session: %w", err)
	}
	log.Info().Str("address", lis.Addr().String()).Int("slots", slots).Msg("supervisor ready")
	<-ctx.Done()
	return nil
}

func (sv *supervisor) StartTaskManager(ctx context.Context, req *floepb.StartTaskManagerRequest) (*floepb.StartTaskManagerResponse, error) {
	bin, err := jobbin.Fetch(ctx, req.GetBinary(), sv.cache)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "job binary: %v", err)
	}
	cmd := exec.Command(bin, req.GetArgs()...)
	cmd.Env = append(os.Environ(), role.EnvRole+"="+string(role.TaskManager), role.EnvJobManager+"="+req.GetJobmanager(),
		role.EnvSecret+"="+sv.secret, role.EnvSlots+"="+strconv.Itoa(int(req.GetSlots())),
		role.EnvResourceID+"="+sv.container+"/"+req.GetJobId(), role.EnvJobID+"="+req.GetJobId(),
		role.EnvConfig+"="+base64.StdEncoding.EncodeToString([]byte(req.GetConfigJson())))
	logDir := os.Getenv("LOG_DIRS")
	if logDir == "" {
		logDir = "."
	}
	logFile, err := os.OpenFile(filepath.Join(firstDir(logDir), "taskmanager-"+req.GetJobId()+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "log file: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, status.Errorf(codes.Internal, "start TaskManager: %v", err)
	}
	sv.mu.Lock()
	sv.jobs[req.GetJobId()] = append(sv.jobs[req.GetJobId()], cmd)
	sv.mu.Unlock()
	sv.wg.Go(func() {
		err := cmd.Wait()
		logFile.Close()
		sv.log.Info().Str("job", req.GetJobId()).Int("pid", cmd.Process.Pid).AnErr("exit", err).Msg("TaskManager process ended")
	})
	sv.log.Info().Str("job", req.GetJobId()).Int("pid", cmd.Process.Pid).Int32("slots", req.GetSlots()).Msg("TaskManager process started")
	return &floepb.StartTaskManagerResponse{Pid: int32(cmd.Process.Pid)}, nil
}

func firstDir(dirs string) string {
	for i := range len(dirs) {
		if dirs[i] == ',' {
			return dirs[:i]
		}
	}
	return dirs
}

func (sv *supervisor) StopTaskManagers(_ context.Context, req *floepb.StopTaskManagersRequest) (*floepb.StopTaskManagersResponse, error) {
	sv.mu.Lock()
	cmds := sv.jobs[req.GetJobId()]
	delete(sv.jobs, req.GetJobId())
	sv.mu.Unlock()
	stopProcesses(cmds)
	return &floepb.StopTaskManagersResponse{}, nil
}

func (sv *supervisor) stopAll() {
	sv.mu.Lock()
	var all []*exec.Cmd
	for _, cmds := range sv.jobs {
		all = append(all, cmds...)
	}
	sv.jobs = map[string][]*exec.Cmd{}
	sv.mu.Unlock()
	stopProcesses(all)
	sv.wg.Wait()
}

// stopProcesses asks processes to stop, and kills those still there after 5 s.
func stopProcesses(cmds []*exec.Cmd) {
	for _, c := range cmds {
		c.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range cmds {
		for syscall.Kill(c.Process.Pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		c.Process.Kill()
	}
}

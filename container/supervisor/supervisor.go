// Package supervisor runs in a session's TaskManager container: for each job placed
// in the container it starts a TaskManager process of that job's own binary
// (DESIGN decision 1: a session runs binaries it was not built with) and
// stops it when the job ends. The container outlives jobs, so the next job
// starts without negotiating a new container. When the session's
// ApplicationMaster fails over, the supervisor finds the new attempt in the
// leader file of the staging directory (internal/failover), registers with it
// naming the TaskManager processes that still run, and from then on refuses
// the commands of older attempts (the attempt number is the fencing token).
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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"floe/internal/failover"
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
	jobs map[string][]*tmProcess
	// fence is the session ApplicationMaster attempt the supervisor is
	// registered with: commands of older attempts are refused.
	fence int32
	wg    sync.WaitGroup
}

// tmProcess is a TaskManager process of a job.
type tmProcess struct {
	cmd   *exec.Cmd
	slots int
	ended chan struct{}
}

// followEvery is how often a supervisor reads the session's leader file.
const followEvery = time.Second

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
		cache: filepath.Join(wd, "jobs"), jobs: map[string][]*tmProcess{}}
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
	slots := role.EnvInt(role.EnvSlots, 1)
	addr := os.Getenv(role.EnvJobManager)
	if err := sv.register(ctx, addr, lis.Addr().String(), slots); err != nil {
		return err
	}
	log.Info().Str("address", lis.Addr().String()).Int("slots", slots).Msg("supervisor ready")
	dir := os.Getenv(role.EnvStaging)
	if dir == "" {
		<-ctx.Done()
		return nil
	}
	// A new session ApplicationMaster attempt publishes itself in the
	// staging directory (internal/failover's leader file): register with it,
	// with the TaskManager processes that still run (they follow it too).
	locate := failover.Locator(dir)
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		next, attempt, err := locate(lctx)
		cancel()
		if err != nil || attempt <= sv.attempt() || next == addr {
			continue
		}
		log.Warn().Str("from", addr).Str("to", next).Int32("attempt", attempt).Msg("the session's JobManager failed over: registering with the new one")
		if err := sv.register(ctx, next, lis.Addr().String(), slots); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		addr = next
	}
}

// register registers the supervisor with the session's Dispatcher at addr,
// naming the jobs whose TaskManager processes still run, and fences off the
// attempts before the one that answers.
func (sv *supervisor) register(ctx context.Context, addr, self string, slots int) error {
	conn, err := grpc.NewClient(addr, rpc.DialOptions(sv.secret)...)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := &floepb.RegisterSupervisorRequest{ContainerId: sv.container, Address: self, Slots: int32(slots), Jobs: sv.running()}
	var md metadata.MD
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err = floepb.NewDispatcherClient(conn).RegisterSupervisor(rctx, req, grpc.WaitForReady(true), grpc.Header(&md))
	cancel()
	if err != nil {
		return fmt.Errorf("register with the session at %s: %w", addr, err)
	}
	sv.mu.Lock()
	sv.fence = max(sv.fence, rpc.AttemptOf(md))
	sv.mu.Unlock()
	return nil
}

func (sv *supervisor) attempt() int32 {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.fence
}

// running are the jobs with TaskManager processes that have not ended.
func (sv *supervisor) running() []*floepb.RunningJob {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	var out []*floepb.RunningJob
	for job, ps := range sv.jobs {
		n := 0
		for _, p := range ps {
			select {
			case <-p.ended:
			default:
				n += p.slots
			}
		}
		if n > 0 {
			out = append(out, &floepb.RunningJob{JobId: job, Slots: int32(n)})
		}
	}
	return out
}

// fenced refuses a command of a session attempt older than the one the
// supervisor is registered with.
func (sv *supervisor) fenced(ctx context.Context) error {
	a := rpc.IncomingAttempt(ctx)
	sv.mu.Lock()
	fence := sv.fence
	sv.mu.Unlock()
	if a < fence {
		sv.log.Warn().Int32("attempt", a).Int32("fence", fence).Msg("refusing a command of a superseded session attempt")
		return status.Errorf(codes.FailedPrecondition, "fenced: the command comes from session attempt %d, this supervisor follows attempt %d", a, fence)
	}
	return nil
}

func (sv *supervisor) StartTaskManager(ctx context.Context, req *floepb.StartTaskManagerRequest) (*floepb.StartTaskManagerResponse, error) {
	if err := sv.fenced(ctx); err != nil {
		return nil, err
	}
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
	p := &tmProcess{cmd: cmd, slots: int(req.GetSlots()), ended: make(chan struct{})}
	sv.mu.Lock()
	sv.jobs[req.GetJobId()] = append(sv.jobs[req.GetJobId()], p)
	sv.mu.Unlock()
	sv.wg.Go(func() {
		err := cmd.Wait()
		close(p.ended)
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

func (sv *supervisor) StopTaskManagers(ctx context.Context, req *floepb.StopTaskManagersRequest) (*floepb.StopTaskManagersResponse, error) {
	if err := sv.fenced(ctx); err != nil {
		return nil, err
	}
	sv.mu.Lock()
	cmds := sv.jobs[req.GetJobId()]
	delete(sv.jobs, req.GetJobId())
	sv.mu.Unlock()
	stopProcesses(cmds)
	return &floepb.StopTaskManagersResponse{}, nil
}

func (sv *supervisor) stopAll() {
	sv.mu.Lock()
	var all []*tmProcess
	for _, ps := range sv.jobs {
		all = append(all, ps...)
	}
	sv.jobs = map[string][]*tmProcess{}
	sv.mu.Unlock()
	stopProcesses(all)
	sv.wg.Wait()
}

// stopProcesses asks processes to stop, and kills those still there after 5 s.
func stopProcesses(ps []*tmProcess) {
	for _, p := range ps {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	expired := false
	for _, p := range ps {
		if !expired {
			select {
			case <-p.ended:
				continue
			case <-timer.C:
				expired = true
			}
		}
		p.cmd.Process.Kill()
	}
}

package session

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"floe/appmaster"
	amyarn "floe/appmaster/yarn"
	"floe/config"
	"floe/internal/failover"
	"floe/internal/fsys"
	"floe/internal/hadoop/hadooppb"
	yarnrpc "floe/internal/hadoop/yarn"
	"floe/internal/jobbin"
	"floe/internal/jobgraph"
	"floe/internal/role"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// supervisorInfo is a TaskManager container of the session.
type supervisorInfo struct {
	container string
	addr      string
	slots     int
	used      map[string]int // job -> slots
	idleSince time.Time
	client    floepb.SupervisorClient
	conn      *grpc.ClientConn
}

func (s *supervisorInfo) free() int {
	n := s.slots
	for _, k := range s.used {
		n -= k
	}
	return n
}

// sessionMaster is a session's ApplicationMaster: a JobManager shared by the
// jobs submitted to it, and the pool of TaskManager containers (supervisors).
// It serves the Dispatcher service: the job-facing RPCs are the JobManager's
// (appmaster.Dispatcher), told of the jobs the session has accepted; the
// session adds submission, its supervisors and StopSession.
type sessionMaster struct {
	*appmaster.Dispatcher
	log      zerolog.Logger
	jm       *appmaster.JobManager
	secret   string
	conf     config.Config
	workDir  string
	stop     context.CancelFunc
	driver   *amyarn.ContainerDriver
	slotWait time.Duration

	mu          sync.Mutex
	supervisors map[string]*supervisorInfo // by container id
	changed     chan struct{}
	jobs        map[string]*sessionJob
}

// sessionJob is a job the session accepted. Until the JobManager has it, its
// status is the session's own; the Dispatcher takes the JobManager's after.
type sessionJob struct {
	id      string
	name    string
	reused  bool
	status  string
	failure string
	started time.Time
}

func Run(ctx context.Context, log zerolog.Logger) error {
	host := os.Getenv("NM_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	c, err := role.ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	sm := &sessionMaster{log: log, secret: os.Getenv(role.EnvSecret), conf: c, stop: stop,
		supervisors: map[string]*supervisorInfo{}, changed: make(chan struct{}), jobs: map[string]*sessionJob{},
		slotWait: c.DurationOr(config.SessionSlotTimeout, 2*time.Minute)}
	sm.workDir, _ = os.Getwd()
	hbTimeout, _ := c.Duration(config.HeartbeatTimeout, 30*time.Second)
	app, container, logFile := amyarn.ContainerIdentity()
	jm, err := appmaster.New(appmaster.Options{Listen: net.JoinHostPort(host, "0"), Secret: sm.secret, Log: log,
		HeartbeatTimeout: hbTimeout, SlotTimeout: sm.slotWait, Application: app, Container: container, LogFile: logFile,
		Services: func(jm *appmaster.JobManager, s *grpc.Server) {
			sm.Dispatcher = appmaster.NewDispatcher(jm, appmaster.InScope("session"), appmaster.WithAccepted(sm.accepted))
			floepb.RegisterDispatcherServer(s, sm)
		}})
	if err != nil {
		return err
	}
	sm.jm = jm
	jmCtx, stopJM := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		stopJM()
		wg.Wait()
	}()
	wg.Go(func() { jm.Run(jmCtx) })
	hc, am, stopAM, err := amyarn.StartApplicationMaster(ctx, jm, host, &wg, log)
	if err != nil {
		return err
	}
	defer stopAM()

	slots, err := c.Int(config.Slots, 1)
	if err != nil {
		return err
	}
	mb, err := c.MemoryMB(config.TaskManagerMemory, 512)
	if err != nil {
		return err
	}
	launch, err := amyarn.TaskManagerLaunch(jm.Address(), sm.secret, slots)
	if err != nil {
		return err
	}
	launch.Env[role.EnvRole] = string(role.Supervisor)
	launch.Command = []string{role.ContainerCommand(role.Supervisor, false)}
	sm.driver = amyarn.NewPoolDriver(am, jm, yarnrpc.Resource{MemoryMB: mb, VCores: int32(slots)}, launch, slots, sm.supervisorLost, log)
	driverDone := make(chan error, 1)
	dctx, stopDriver := context.WithCancel(ctx)
	go func() { driverDone <- sm.driver.Run(dctx) }()
	go sm.reapIdle(dctx, am)

	<-ctx.Done()
	log.Info().Msg("session stopping")
	for _, j := range jm.Jobs() {
		jm.Cancel(j.ID)
	}
	stopJM()
	stopDriver()
	<-driverDone
	final, diag := hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED, "session stopped"
	amyarn.CleanStaging(hc, log)
	return amyarn.Finish(context.WithoutCancel(ctx), am, final, diag, log)
}

// supervisorLost forgets a supervisor whose container ended and fails the
// TaskManagers it ran.
func (sm *sessionMaster) supervisorLost(container, reason string) {
	sm.mu.Lock()
	s, ok := sm.supervisors[container]
	delete(sm.supervisors, container)
	sm.mu.Unlock()
	if !ok {
		return
	}
	s.conn.Close()
	for job := range s.used {
		sm.jm.TaskManagerLost(container+"/"+job, reason)
	}
}

// reapIdle releases containers that no job used for the idle timeout.
func (sm *sessionMaster) reapIdle(ctx context.Context, am *yarnrpc.AM) {
	idle := sm.conf.DurationOr(config.SessionIdleTimeout, 5*time.Minute)
	t := time.NewTicker(min(idle/2, 30*time.Second) + time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sm.mu.Lock()
		for id, s := range sm.supervisors {
			if len(s.used) == 0 && !s.idleSince.IsZero() && time.Since(s.idleSince) > idle {
				sm.log.Info().Str("container", id).Msg("releasing an idle TaskManager container")
				sm.driver.Release(id)
			}
		}
		sm.mu.Unlock()
	}
}

func (sm *sessionMaster) RegisterSupervisor(_ context.Context, req *floepb.RegisterSupervisorRequest) (*floepb.RegisterSupervisorResponse, error) {
	conn, err := grpc.NewClient(req.GetAddress(), rpc.DialOptions(sm.secret)...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "supervisor address: %v", err)
	}
	sm.mu.Lock()
	sm.supervisors[req.GetContainerId()] = &supervisorInfo{container: req.GetContainerId(), addr: req.GetAddress(),
		slots: int(req.GetSlots()), used: map[string]int{}, idleSince: time.Now(),
		client: floepb.NewSupervisorClient(conn), conn: conn}
	close(sm.changed)
	sm.changed = make(chan struct{})
	sm.mu.Unlock()
	sm.log.Info().Str("container", req.GetContainerId()).Int32("slots", req.GetSlots()).Msg("TaskManager container ready")
	return &floepb.RegisterSupervisorResponse{}, nil
}

func (sm *sessionMaster) SubmitJob(ctx context.Context, req *floepb.SubmitJobRequest) (*floepb.SubmitJobResponse, error) {
	id := req.GetJobId()
	if id == "" {
		id = appmaster.NewJobID()
	}
	bin, err := jobbin.Fetch(ctx, req.GetBinary(), filepath.Join(sm.workDir, "jobs"))
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "job binary: %v", err)
	}
	g, err := jobbin.Plan(ctx, bin, req.GetArgs(), req.GetConfigJson())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	restart, err := appmaster.ParseRestartStrategy(g.Config)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	sj := &sessionJob{id: id, name: g.Name, status: string(appmaster.Created), started: time.Now()}
	sm.recordJob(ctx, req, id)
	sm.mu.Lock()
	sm.jobs[id] = sj
	sm.mu.Unlock()
	go sm.runJob(context.WithoutCancel(ctx), sj, g, restart, req)
	return &floepb.SubmitJobResponse{JobId: id}, nil
}

// runJob places a job's TaskManagers in the session's containers, asking
// YARN for more when the free slots do not suffice, and cleans up after it.
func (sm *sessionMaster) runJob(ctx context.Context, sj *sessionJob, g *jobgraph.JobGraph, restart appmaster.RestartStrategy, req *floepb.SubmitJobRequest) {
	need := g.SlotsNeeded()
	placed, reused, err := sm.place(ctx, sj.id, need)
	sm.mu.Lock()
	sj.reused = reused
	if err != nil {
		sj.status, sj.failure = string(appmaster.Failed), err.Error()
	}
	sm.mu.Unlock()
	if err != nil {
		return
	}
	defer sm.release(sj.id, placed)
	defer sm.forgetJob(sj.id)
	h, err := sm.jm.Submit(g, appmaster.SubmitOptions{ID: sj.id, Restart: restart})
	if err != nil {
		sm.mu.Lock()
		sj.status, sj.failure = string(appmaster.Failed), err.Error()
		sm.mu.Unlock()
		return
	}
	for _, s := range placed {
		_, err := s.client.StartTaskManager(ctx, &floepb.StartTaskManagerRequest{JobId: sj.id, Binary: req.GetBinary(),
			Args: req.GetArgs(), ConfigJson: req.GetConfigJson(), Slots: int32(s.used[sj.id]), Jobmanager: sm.jm.Address()})
		if err != nil {
			sm.log.Error().Err(err).Str("container", s.container).Msg("starting a TaskManager failed")
			h.Cancel()
		}
	}
	<-h.Done()
}

// place reserves need slots for job in the pool, growing it if needed.
func (sm *sessionMaster) place(ctx context.Context, job string, need int) ([]*supervisorInfo, bool, error) {
	deadline := time.Now().Add(sm.slotWait)
	requested := false
	for {
		sm.mu.Lock()
		free := 0
		for _, s := range sm.supervisors {
			free += s.free()
		}
		if free >= need {
			var placed []*supervisorInfo
			left := need
			for _, s := range sm.supervisors {
				if k := min(s.free(), left); k > 0 {
					s.used[job] = k
					left -= k
					placed = append(placed, s)
				}
			}
			sm.mu.Unlock()
			return placed, !requested, nil
		}
		if !requested {
			more := (need - free + sm.driver.Slots() - 1) / sm.driver.Slots()
			sm.log.Info().Str("job", job).Int("containers", more).Msg("asking YARN for TaskManager containers")
			sm.driver.Request(more)
			requested = true
		}
		ch := sm.changed
		sm.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			return nil, false, fmt.Errorf("%w: the job needs %d slots, %d free after %s", appmaster.ErrNotEnoughSlots, need, free, sm.slotWait)
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

func (sm *sessionMaster) release(job string, placed []*supervisorInfo) {
	for _, s := range placed {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.client.StopTaskManagers(ctx, &floepb.StopTaskManagersRequest{JobId: job})
		cancel()
	}
	for _, s := range placed {
		sm.jm.RemoveTaskManager(s.container + "/" + job)
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	for _, s := range placed {
		delete(s.used, job)
		if len(s.used) == 0 {
			s.idleSince = time.Now()
		}
	}
	close(sm.changed)
	sm.changed = make(chan struct{})
}

// accepted returns the info of every job the session accepted, for its Dispatcher.
func (sm *sessionMaster) accepted() []*floepb.JobInfo {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	out := make([]*floepb.JobInfo, 0, len(sm.jobs))
	for _, sj := range sm.jobs {
		out = append(out, &floepb.JobInfo{JobId: sj.id, Name: sj.name, Status: sj.status, Failure: sj.failure,
			StartTimeMs: sj.started.UnixMilli(), ReusedContainers: sj.reused})
	}
	return out
}

func (sm *sessionMaster) StopSession(context.Context, *floepb.StopSessionRequest) (*floepb.StopSessionResponse, error) {
	sm.stop()
	return &floepb.StopSessionResponse{}, nil
}

// recordJob keeps a job's submission in the session's staging directory
// (internal/failover's jobs/<id>.json), what a later session attempt needs
// to restore it. Not yet read back: a session runs one attempt. A failure
// is logged, not refused: the job runs as before without it.
func (sm *sessionMaster) recordJob(ctx context.Context, req *floepb.SubmitJobRequest, id string) {
	fs, dir, ok := sessionStaging()
	if !ok {
		return
	}
	bin, err := proto.Marshal(req.GetBinary())
	if err == nil {
		err = failover.WriteSessionJob(ctx, fs, dir, failover.SessionJob{JobID: id, Binary: bin, Args: req.GetArgs(),
			ConfigJSON: req.GetConfigJson(), Attempt: 1, Accepted: time.Now().UTC()})
	}
	if err != nil {
		sm.log.Warn().Err(err).Str("job", id).Msg("cannot record the job's submission in the staging directory")
	}
}

// forgetJob removes the record of a job that ended.
func (sm *sessionMaster) forgetJob(id string) {
	if fs, dir, ok := sessionStaging(); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := failover.RemoveSessionJob(ctx, fs, dir, id); err != nil {
			sm.log.Warn().Err(err).Str("job", id).Msg("cannot remove the job's record from the staging directory")
		}
	}
}

func sessionStaging() (fsys.FS, string, bool) {
	dir := os.Getenv(role.EnvStaging)
	if dir == "" {
		return nil, "", false
	}
	fs, p, err := fsys.Resolve("hdfs://" + dir)
	if err != nil {
		return nil, "", false
	}
	return fs, p, true
}

package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"floe/appmaster"
	amyarn "floe/appmaster/yarn"
	"floe/checkpoint"
	"floe/config"
	"floe/internal/failover"
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
	// attempt is this ApplicationMaster's attempt, the fencing token of its
	// calls to supervisors; staging is the application's staging directory
	// (nil outside YARN).
	attempt int32
	staging *amyarn.Staging

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

// Run is the life of a session's ApplicationMaster. A later attempt (YARN
// restarted a dead one) recovers the session: it adopts the containers YARN
// kept, publishes itself for the supervisors and TaskManagers to follow, and
// resubmits every job the earlier attempts recorded as running, under its
// job id, so that each restores its latest checkpoint.
func Run(ctx context.Context, log zerolog.Logger) error {
	host := os.Getenv("NM_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	c, err := role.ConfigFromEnv()
	if err != nil {
		return err
	}
	att, container := amyarn.Attempt()
	log = log.With().Int32("attempt", att).Logger()
	st, err := amyarn.OpenStaging(att)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	sm := &sessionMaster{log: log, secret: os.Getenv(role.EnvSecret), conf: c, stop: stop,
		supervisors: map[string]*supervisorInfo{}, changed: make(chan struct{}), jobs: map[string]*sessionJob{},
		slotWait: c.DurationOr(config.SessionSlotTimeout, 2*time.Minute), attempt: att, staging: st}
	sm.workDir, _ = os.Getwd()
	// The jobs earlier attempts ran, known before this attempt registers (the
	// ResourceManager then gives clients its address) and before a supervisor
	// can find it.
	recovered, err := sm.recordedJobs(ctx)
	if err != nil {
		return err
	}
	hbTimeout, _ := c.Duration(config.HeartbeatTimeout, 30*time.Second)
	app, _, logFile := amyarn.ContainerIdentity()
	opts := appmaster.Options{Listen: net.JoinHostPort(host, "0"), Secret: sm.secret, Log: log,
		HeartbeatTimeout: hbTimeout, SlotTimeout: sm.slotWait, Application: app, Container: container, LogFile: logFile,
		Attempt: att,
		Services: func(jm *appmaster.JobManager, s *grpc.Server) {
			sm.Dispatcher = appmaster.NewDispatcher(jm, appmaster.InScope("session"), appmaster.WithAccepted(sm.accepted))
			floepb.RegisterDispatcherServer(s, sm)
		}}
	if st != nil {
		opts.Fence = st.Fence
		opts.OnEnd = st.RecordEnd
	}
	jm, err := appmaster.New(opts)
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
	cores, err := c.TaskManagerCores(slots)
	if err != nil {
		return err
	}
	launch, err := amyarn.TaskManagerLaunch(jm.Address(), sm.secret, slots, cores)
	if err != nil {
		return err
	}
	launch.Env[role.EnvRole] = string(role.Supervisor)
	launch.Command = []string{role.ContainerCommand(role.Supervisor, false)}
	sm.driver = amyarn.NewPoolDriver(am, jm, yarnrpc.Resource{MemoryMB: mb, VCores: int32(cores)}, launch, slots, sm.supervisorLost, log)
	if st != nil {
		// Supervisors, and the TaskManagers they start, follow the leader file.
		launch.Env[role.EnvStaging] = st.Dir()
		sm.driver.SetFence(st.Fence)
		// The containers YARN kept from earlier attempts: their supervisors
		// re-register within the heartbeat timeout, or are released.
		sm.driver.Adopt(hbTimeout, sm.hasSupervisor)
		if err := st.Publish(ctx, jm.Address(), container); err != nil {
			return amyarn.Finish(ctx, am, hadooppb.FinalApplicationStatusProto_APP_FAILED, err.Error(), log)
		}
	}
	driverDone := make(chan error, 1)
	dctx, stopDriver := context.WithCancel(ctx)
	defer stopDriver()
	go func() { driverDone <- sm.driver.Run(dctx) }()
	go sm.reapIdle(dctx, am)
	adoptBy := time.Now().Add(hbTimeout)
	for _, j := range recovered {
		go sm.recoverJob(context.WithoutCancel(ctx), j, adoptBy)
	}

	select {
	case <-ctx.Done():
	case derr := <-driverDone:
		if errors.Is(derr, amyarn.ErrSuperseded) {
			// A newer attempt runs the session: its jobs, containers, staging
			// directory and final status are its own now.
			return derr
		}
		driverDone <- derr
		<-ctx.Done()
	}
	if st != nil {
		if err := st.Fence(context.WithoutCancel(ctx)); errors.Is(err, amyarn.ErrSuperseded) {
			return err
		}
	}
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

// recordedJobs are the jobs earlier attempts recorded as running (none for
// the first attempt); the Dispatcher lists them as RESTARTING from now on.
func (sm *sessionMaster) recordedJobs(ctx context.Context) ([]failover.SessionJob, error) {
	if sm.staging == nil || sm.attempt < 2 {
		return nil, nil
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	js, err := failover.ReadSessionJobs(rctx, sm.staging.FS(), sm.staging.Dir())
	if err != nil {
		return nil, fmt.Errorf("attempt %d: the session's jobs: %w", sm.attempt, err)
	}
	ids := make([]string, 0, len(js))
	running := js[:0]
	for _, j := range js {
		// A job whose end an earlier attempt recorded (it died while
		// publishing the job's outputs, or before it forgot the job) is
		// settled and listed as it ended, not run again.
		ended, ok, err := sm.staging.SettleEnded(rctx, j.JobID, sm.log)
		if err != nil {
			return nil, fmt.Errorf("attempt %d: job %s: %w", sm.attempt, j.JobID, err)
		}
		sj := &sessionJob{id: j.JobID, status: string(appmaster.Restarting), started: j.Accepted}
		if ok {
			sj.status, sj.failure = string(ended.Status), ended.Failure
		}
		sm.mu.Lock()
		sm.jobs[j.JobID] = sj
		sm.mu.Unlock()
		if ok {
			sm.forgetJob(j.JobID)
			continue
		}
		running = append(running, j)
		ids = append(ids, j.JobID)
	}
	sm.log.Warn().Strs("jobs", ids).Msg("a new session ApplicationMaster attempt: recovering the running jobs from their latest checkpoints")
	return running, nil
}

// recoverJob resubmits a job an earlier attempt ran, under its job id (the
// JobManager restores its latest checkpoint), on the TaskManagers that
// re-register with this attempt and, for the slots still missing by
// adoptBy, on others.
func (sm *sessionMaster) recoverJob(ctx context.Context, j failover.SessionJob, adoptBy time.Time) {
	ref := &floepb.BinaryRef{}
	req := &floepb.SubmitJobRequest{Binary: ref, Args: j.Args, ConfigJson: j.ConfigJSON, JobId: j.JobID}
	sm.mu.Lock()
	sj := sm.jobs[j.JobID]
	sm.mu.Unlock()
	fail := func(err error) {
		sm.log.Error().Err(err).Str("job", j.JobID).Msg("cannot recover the job")
		sm.mu.Lock()
		sj.status, sj.failure = string(appmaster.Failed), fmt.Sprintf("recovery by session attempt %d: %v", sm.attempt, err)
		sm.mu.Unlock()
		sm.forgetJob(j.JobID)
		sm.release(j.JobID)
	}
	if err := proto.Unmarshal(j.Binary, ref); err != nil {
		fail(fmt.Errorf("job binary reference: %w", err))
		return
	}
	g, restart, err := sm.plan(ctx, req)
	if err != nil {
		fail(err)
		return
	}
	sm.mu.Lock()
	sj.name = g.Name
	sm.mu.Unlock()
	sm.log.Warn().Str("job", j.JobID).Str("checkpoints", j.CheckpointDir).Int32("accepted_by", j.Attempt).Msg("recovering the job")
	sm.waitAdopted(ctx, j.JobID, g.SlotsNeeded(), adoptBy)
	sm.runJob(ctx, sj, g, restart, req)
}

// waitAdopted waits until the supervisors that re-registered hold need
// slots of job, or until deadline.
func (sm *sessionMaster) waitAdopted(ctx context.Context, job string, need int, deadline time.Time) {
	for {
		sm.mu.Lock()
		held := sm.held(job)
		ch := sm.changed
		sm.mu.Unlock()
		if held >= need {
			return
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			return
		case <-ctx.Done():
			return
		}
	}
}

// held is the number of slots job holds in the pool. Call with mu held.
func (sm *sessionMaster) held(job string) int {
	n := 0
	for _, s := range sm.supervisors {
		n += s.used[job]
	}
	return n
}

// hasSupervisor tells whether a container's supervisor registered with this attempt.
func (sm *sessionMaster) hasSupervisor(container string) bool {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	_, ok := sm.supervisors[container]
	return ok
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

// RegisterSupervisor adds a container to the pool. A supervisor that
// registers again after a failover names the jobs whose TaskManagers it
// still runs: they keep those slots; the TaskManagers of a job this session
// no longer has are stopped.
func (sm *sessionMaster) RegisterSupervisor(ctx context.Context, req *floepb.RegisterSupervisorRequest) (*floepb.RegisterSupervisorResponse, error) {
	conn, err := grpc.NewClient(req.GetAddress(), append(rpc.DialOptions(sm.secret), rpc.WithAttempt(sm.attempt))...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "supervisor address: %v", err)
	}
	if sm.attempt > 0 {
		grpc.SetHeader(ctx, metadata.Pairs(rpc.AttemptHeader, strconv.Itoa(int(sm.attempt))))
	}
	s := &supervisorInfo{container: req.GetContainerId(), addr: req.GetAddress(),
		slots: int(req.GetSlots()), used: map[string]int{}, idleSince: time.Now(),
		client: floepb.NewSupervisorClient(conn), conn: conn}
	var orphans []string
	sm.mu.Lock()
	for _, rj := range req.GetJobs() {
		if sj, ok := sm.jobs[rj.GetJobId()]; ok && !appmaster.JobStatus(sj.status).Terminal() {
			s.used[rj.GetJobId()] = int(rj.GetSlots())
		} else {
			orphans = append(orphans, rj.GetJobId())
		}
	}
	if old, ok := sm.supervisors[req.GetContainerId()]; ok {
		old.conn.Close()
	}
	sm.supervisors[req.GetContainerId()] = s
	close(sm.changed)
	sm.changed = make(chan struct{})
	sm.mu.Unlock()
	for _, job := range orphans {
		go func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.client.StopTaskManagers(sctx, &floepb.StopTaskManagersRequest{JobId: job})
		}()
	}
	sm.log.Info().Str("container", req.GetContainerId()).Int32("slots", req.GetSlots()).Int("jobs", len(req.GetJobs())).
		Strs("stopped", orphans).Msg("TaskManager container ready")
	return &floepb.RegisterSupervisorResponse{}, nil
}

func (sm *sessionMaster) SubmitJob(ctx context.Context, req *floepb.SubmitJobRequest) (*floepb.SubmitJobResponse, error) {
	id := req.GetJobId()
	if id == "" {
		id = appmaster.NewJobID()
	}
	g, restart, err := sm.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	sj := &sessionJob{id: id, name: g.Name, status: string(appmaster.Created), started: time.Now()}
	sm.recordJob(ctx, req, id, g)
	sm.mu.Lock()
	sm.jobs[id] = sj
	sm.mu.Unlock()
	go sm.runJob(context.WithoutCancel(ctx), sj, g, restart, req)
	return &floepb.SubmitJobResponse{JobId: id}, nil
}

// plan fetches a submission's binary and builds its job graph.
func (sm *sessionMaster) plan(ctx context.Context, req *floepb.SubmitJobRequest) (*jobgraph.JobGraph, appmaster.RestartStrategy, error) {
	bin, err := jobbin.Fetch(ctx, req.GetBinary(), filepath.Join(sm.workDir, "jobs"))
	if err != nil {
		return nil, appmaster.RestartStrategy{}, status.Errorf(codes.FailedPrecondition, "job binary: %v", err)
	}
	g, err := jobbin.Plan(ctx, bin, req.GetArgs(), req.GetConfigJson())
	if err != nil {
		return nil, appmaster.RestartStrategy{}, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	restart, err := appmaster.ParseRestartStrategy(g.Config)
	if err != nil {
		return nil, appmaster.RestartStrategy{}, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return g, restart, nil
}

// runJob places a job's TaskManagers in the session's containers, asking
// YARN for more when the free slots do not suffice, and cleans up after it.
// The slots the job already holds (its TaskManagers that survived a
// failover) count.
func (sm *sessionMaster) runJob(ctx context.Context, sj *sessionJob, g *jobgraph.JobGraph, restart appmaster.RestartStrategy, req *floepb.SubmitJobRequest) {
	placed, reused, err := sm.place(ctx, sj.id, g.SlotsNeeded())
	sm.mu.Lock()
	sj.reused = reused
	if err != nil {
		sj.status, sj.failure = string(appmaster.Failed), err.Error()
	}
	sm.mu.Unlock()
	if err != nil {
		sm.forgetJob(sj.id)
		sm.release(sj.id)
		return
	}
	defer sm.release(sj.id)
	defer sm.forgetJob(sj.id)
	h, err := sm.jm.Submit(g, appmaster.SubmitOptions{ID: sj.id, Restart: restart})
	if err != nil {
		sm.mu.Lock()
		sj.status, sj.failure = string(appmaster.Failed), err.Error()
		sm.mu.Unlock()
		return
	}
	for _, p := range placed {
		_, err := p.s.client.StartTaskManager(ctx, &floepb.StartTaskManagerRequest{JobId: sj.id, Binary: req.GetBinary(),
			Args: req.GetArgs(), ConfigJson: req.GetConfigJson(), Slots: int32(p.slots), Jobmanager: sm.jm.Address()})
		if err != nil {
			sm.log.Error().Err(err).Str("container", p.s.container).Msg("starting a TaskManager failed")
			h.Cancel()
		}
	}
	<-h.Done()
}

// placement is slots of a job placed in a container, whose TaskManager is
// still to be started.
type placement struct {
	s     *supervisorInfo
	slots int
}

// place reserves the slots job needs beyond those it holds, growing the
// pool if needed. It reports whether no new container was asked for.
func (sm *sessionMaster) place(ctx context.Context, job string, need int) ([]placement, bool, error) {
	deadline := time.Now().Add(sm.slotWait)
	requested := false
	for {
		sm.mu.Lock()
		want := need - sm.held(job)
		if want <= 0 {
			sm.mu.Unlock()
			return nil, true, nil
		}
		free := 0
		for _, s := range sm.supervisors {
			free += s.free()
		}
		if free >= want {
			var placed []placement
			for _, s := range sm.supervisors {
				if k := min(s.free(), want); k > 0 {
					s.used[job] += k
					want -= k
					placed = append(placed, placement{s, k})
				}
			}
			sm.mu.Unlock()
			return placed, !requested, nil
		}
		if !requested {
			more := (want - free + sm.driver.Slots() - 1) / sm.driver.Slots()
			sm.log.Info().Str("job", job).Int("containers", more).Msg("asking YARN for TaskManager containers")
			sm.driver.Request(more)
			requested = true
		}
		ch := sm.changed
		sm.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			return nil, false, fmt.Errorf("%w: the job needs %d slots, %d free after %s", appmaster.ErrNotEnoughSlots, want, free, sm.slotWait)
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// release stops a job's TaskManagers in every container that holds slots
// of it, and frees them.
func (sm *sessionMaster) release(job string) {
	sm.mu.Lock()
	var holders []*supervisorInfo
	for _, s := range sm.supervisors {
		if s.used[job] > 0 {
			holders = append(holders, s)
		}
	}
	sm.mu.Unlock()
	for _, s := range holders {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.client.StopTaskManagers(ctx, &floepb.StopTaskManagersRequest{JobId: job})
		cancel()
	}
	for _, s := range holders {
		sm.jm.RemoveTaskManager(s.container + "/" + job)
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	for _, s := range holders {
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
// (internal/failover's jobs/<id>.json) before the job starts: what a later
// session attempt needs to recover it. A failure is logged, not refused:
// the job runs, but would not survive a failover of the session.
func (sm *sessionMaster) recordJob(ctx context.Context, req *floepb.SubmitJobRequest, id string, g *jobgraph.JobGraph) {
	if sm.staging == nil {
		return
	}
	j := failover.SessionJob{JobID: id, Args: req.GetArgs(), ConfigJSON: req.GetConfigJson(), Attempt: max(sm.attempt, 1),
		Accepted: time.Now().UTC(), Savepoint: g.Config.String(appmaster.KeySavepointPath, "")}
	if cfg, err := checkpoint.ParseConfig(g.Config); err == nil && cfg.Dir != "" {
		j.CheckpointDir = checkpoint.JobDir(cfg.Dir, id)
	}
	bin, err := proto.Marshal(req.GetBinary())
	if err == nil {
		j.Binary = bin
		err = failover.WriteSessionJob(ctx, sm.staging.FS(), sm.staging.Dir(), j)
	}
	if err != nil {
		sm.log.Warn().Err(err).Str("job", id).Msg("cannot record the job's submission in the staging directory")
	}
}

// forgetJob removes the record of a job that ended.
func (sm *sessionMaster) forgetJob(id string) {
	if sm.staging == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := failover.RemoveSessionJob(ctx, sm.staging.FS(), sm.staging.Dir(), id); err != nil {
		sm.log.Warn().Err(err).Str("job", id).Msg("cannot remove the job's record from the staging directory")
		return
	}
	if err := sm.staging.ForgetEnded(ctx, id); err != nil {
		sm.log.Warn().Err(err).Str("job", id).Msg("cannot remove the record of the job's end from the staging directory")
	}
}

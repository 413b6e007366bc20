package appmaster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"floe/checkpoint"
	"floe/internal/jobgraph"
	"floe/internal/mailbox"
	"floe/internal/metrics"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// ErrNotEnoughSlots fails a job that could not get its slots in time.
var ErrNotEnoughSlots = errors.New("not enough task slots")

// ErrGraphMismatch fails a job at once when one of its TaskManagers built a
// different job graph than the JobManager: the job's program is not
// deterministic (see datastream's doc), and no restart can mend that.
var ErrGraphMismatch = errors.New("a TaskManager built a different job graph than the JobManager")

// FailureCause returns the sentinel error a job's one-line failure names
// (ErrGraphMismatch, ErrNotRecoverable), or nil: for clients that get only that line, from
// YARN's diagnostics or a JobResult.
func FailureCause(failure string) error {
	switch {
	case strings.Contains(failure, ErrGraphMismatch.Error()):
		return ErrGraphMismatch
	case FailureNotRecoverable(failure):
		return ErrNotRecoverable
	}
	return nil
}

// Options configure a JobManager.
type Options struct {
	Listen            string // default 127.0.0.1:0
	Secret            string
	Log               zerolog.Logger
	HeartbeatInterval time.Duration // default 1s
	HeartbeatTimeout  time.Duration // default 30s
	SlotTimeout       time.Duration // how long a job waits for slots; default 60s
	// RootCauseGrace is how long a failing job whose only known cause is a
	// secondary one (a channel to a producer broke) waits for its root cause
	// (the report of a lost TaskManager) before it ends; 0: it ends at once.
	RootCauseGrace time.Duration
	// Services registers more gRPC services on the JobManager's server
	// (a Dispatcher of jm's jobs, for one).
	Services func(jm *JobManager, s *grpc.Server)
	// Attempt is the ApplicationMaster attempt this JobManager runs in (0
	// outside YARN): the fencing token on every call to a TaskManager, which
	// refuses calls from an attempt older than the one it registered with.
	Attempt int32
	// Fence, when set, is asked before a checkpoint's _metadata is renamed
	// into place and before a checkpoint directory is discarded; an error (a
	// newer attempt has taken over) aborts the commit or keeps the
	// directory. With it, commits and discards in the job's checkpoint
	// directory pass through this attempt's own subdirectory, and a job
	// submitted by an Attempt above 1 first claims those of older attempts
	// (checkpoint.ClaimAttempts), so a commit an older attempt had checked
	// but not renamed fails.
	Fence func(ctx context.Context) error
	// OnEnd, when set, is called once a job has FINISHED or FAILED, before
	// its file outputs are published or removed, with the
	// output directories: a YARN attempt records the end in its staging
	// directory, so that a successor that finds it settles the outputs and
	// ends the job as recorded instead of running it again. An error is
	// logged; the outputs are settled all the same.
	OnEnd func(ctx context.Context, job string, status JobStatus, failure string, outputs []string) error
	// Application and Container are the YARN ids of the JobManager's
	// application and container, for metric labels (empty locally).
	Application, Container string
	// LogFile is the JobManager's log file, served at /jobmanager/log ("" for none).
	LogFile string
}

// JobManager schedules jobs onto the slots of registered TaskManagers and
// tracks them to completion. It serves the JobManager gRPC service.
type JobManager struct {
	opts   Options
	log    zerolog.Logger
	lis    net.Listener
	server *grpc.Server

	mu   sync.Mutex
	tms  map[string]*tmInfo
	jobs map[string]*jobEntry
	seq  int
	// RPCs run outside mu: tracked in inflight (Add with mu held) so Run
	// waits for them, and under rpcCtx, which stop ends. Once stopped is
	// set, no more are started.
	inflight   sync.WaitGroup
	rpcCtx     context.Context
	cancelRPCs context.CancelFunc
	stopped    bool

	restAddr string // where Handler is served, for /metrics/targets
	registry *prometheus.Registry
}

// stopGrace is how long RPCs may go on once Run's context has ended: the
// TaskManagers' Shutdown and the cancellations stop sends, and whatever was in
// flight. Then every RPC is cancelled, so that a hung TaskManager cannot keep
// Run for its calls' own timeouts.
const stopGrace = 2 * time.Second

type tmInfo struct {
	id, resourceID, addr string
	slots                int
	used                 []bool
	lastHeartbeat        time.Time
	fingerprint, desc    string
	job                  string // the only job it may run, if set
	pid                  int
	metricsAddr          string                 // its /metrics listener
	process              *floepb.ProcessMetrics // memory and goroutines, from the latest heartbeat
	registered           time.Time
	client               floepb.TaskManagerClient
	conn                 *grpc.ClientConn
	// checkpoint RPCs to this TaskManager, sent one at a time in order
	calls mailbox.Mailbox[func(context.Context)]
}

type jobEntry struct {
	exec        *execution
	checkpoints *jobCheckpoints
	done        chan struct{}
	waiting     bool // waiting for slots
	expires     time.Time
	restartAt   time.Time        // when a restarting job is scheduled again
	outputs     outputSettlement // publish.go
	handover    handover         // handover.go
}

// New starts listening.
func New(opts Options) (*JobManager, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 30 * time.Second
	}
	if opts.SlotTimeout <= 0 {
		opts.SlotTimeout = 60 * time.Second
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("jobmanager: listen on %s: %w", opts.Listen, err)
	}
	jm := &JobManager{opts: opts, log: opts.Log, lis: lis, tms: map[string]*tmInfo{}, jobs: map[string]*jobEntry{}}
	jm.rpcCtx, jm.cancelRPCs = context.WithCancel(context.Background())
	var r prometheus.Registerer
	jm.registry, r = metrics.NewRegistry(map[string]string{metrics.LabelApplication: opts.Application, metrics.LabelContainer: opts.Container})
	r.MustRegister(metrics.NewJobCollector(jm.jobSamples))
	jm.server = grpc.NewServer(rpc.ServerOptions(opts.Secret)...)
	floepb.RegisterJobManagerServer(jm.server, jmService{jm: jm})
	if opts.Services != nil {
		opts.Services(jm, jm.server)
	}
	return jm, nil
}

// Address is the JobManager's gRPC address.
func (jm *JobManager) Address() string { return jm.lis.Addr().String() }

// Run serves until ctx ends, then asks every TaskManager to shut down. The
// RPCs the JobManager makes end with it: within stopGrace of ctx's end they
// are cancelled, and Run returns once every one has.
func (jm *JobManager) Run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- jm.server.Serve(jm.lis) }()
	t := time.NewTicker(jm.opts.HeartbeatInterval)
	defer t.Stop()
	cpTick := time.NewTicker(50 * time.Millisecond)
	defer cpTick.Stop()
	for {
		select {
		case <-ctx.Done():
			jm.stop()
			<-serveErr
			return nil
		case err := <-serveErr:
			jm.stop()
			return fmt.Errorf("jobmanager: serve: %w", err)
		case now := <-t.C:
			jm.tick(now)
		case <-cpTick.C:
			jm.tickCheckpoints()
		}
	}
}

func (jm *JobManager) stop() {
	grace := time.AfterFunc(stopGrace, jm.cancelRPCs)
	defer grace.Stop()
	jm.mu.Lock()
	for _, e := range jm.jobs {
		jm.apply(e, e.exec.cancel(time.Now()))
	}
	jm.stopped = true
	tms := make([]*tmInfo, 0, len(jm.tms))
	for _, tm := range jm.tms {
		tms = append(tms, tm)
	}
	jm.mu.Unlock()
	var wg sync.WaitGroup
	for _, tm := range tms {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(jm.rpcCtx, stopGrace)
			defer cancel()
			tm.client.Shutdown(ctx, &floepb.ShutdownRequest{Reason: "jobmanager stopping"})
		})
	}
	wg.Wait()
	jm.inflight.Wait() // each ends by itself or when the grace runs out
	jm.cancelRPCs()
	// Let RPCs in progress answer (a "stop the session" call is one of
	// them), then close whatever is left.
	stopped := make(chan struct{})
	go func() { jm.server.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(500 * time.Millisecond):
		jm.server.Stop()
		<-stopped
	}
	for _, tm := range tms {
		tm.conn.Close()
	}
}

// goRPC runs fn in a goroutine that Run waits for, with a context that ends
// after timeout or when the JobManager stops. Once it has stopped, fn does
// not run. Call with mu held.
func (jm *JobManager) goRPC(timeout time.Duration, fn func(ctx context.Context)) {
	if jm.stopped {
		return
	}
	jm.inflight.Add(1)
	go func() {
		defer jm.inflight.Done()
		ctx, cancel := context.WithTimeout(jm.rpcCtx, timeout)
		defer cancel()
		fn(ctx)
	}()
}

// tick expires TaskManagers without heartbeats and jobs without slots.
func (jm *JobManager) tick(now time.Time) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for id, tm := range jm.tms {
		if now.Sub(tm.lastHeartbeat) > jm.opts.HeartbeatTimeout {
			jm.log.Warn().Str("taskmanager", tm.resourceID).Msg("TaskManager missed its heartbeats; removing it")
			jm.removeTM(id, fmt.Sprintf("no heartbeat for %s", jm.opts.HeartbeatTimeout), now)
		}
	}
	for _, e := range jm.jobs {
		if e.exec.status == Failing {
			e.exec.settle(now)
			jm.apply(e, nil)
		}
		if !e.restartAt.IsZero() && !now.Before(e.restartAt) {
			e.restartAt = time.Time{}
			e.exec.prepareRestart()
			e.waiting = true
			e.expires = now.Add(jm.opts.SlotTimeout)
			jm.log.Info().Str("job", e.exec.id).Int("restart", e.exec.restarts).Msg("restarting the job")
			jm.trySchedule()
		}
		if e.waiting && now.After(e.expires) {
			// Final: a restart would only wait as long again.
			e.waiting = false
			free := jm.freeSlots()
			jm.apply(e, e.exec.failFinal(fmt.Sprintf("%v: the job needs %d, %d free after %s (slot.request.timeout)",
				ErrNotEnoughSlots, e.exec.slotsNeeded(), len(free), jm.opts.SlotTimeout), now))
		}
	}
}

func (jm *JobManager) removeTM(id, reason string, now time.Time) {
	tm := jm.tms[id]
	delete(jm.tms, id)
	for _, e := range jm.jobs {
		jm.apply(e, e.exec.onTaskManagerLost(id, tm.resourceID, reason, now))
	}
	if jm.stopped {
		tm.conn.Close()
		return
	}
	jm.inflight.Add(1)
	go func() {
		defer jm.inflight.Done()
		tm.conn.Close()
	}()
}

// SubmitOptions are per job.
type SubmitOptions struct {
	// ID is the job id; empty makes a new one.
	ID      string
	Restart RestartStrategy
}

// Submit accepts a job; it is scheduled as soon as enough slots are free.
func (jm *JobManager) Submit(g *jobgraph.JobGraph, opts SubmitOptions) (*JobHandle, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	id := opts.ID
	if id == "" {
		id = NewJobID()
	}
	exec := newExecution(id, g, time.Now())
	exec.restart = opts.Restart
	exec.grace = jm.opts.RootCauseGrace
	cps, err := newJobCheckpoints(exec, jm.opts.Attempt, jm.opts.Fence != nil)
	if err != nil {
		return nil, err
	}
	e := &jobEntry{exec: exec, checkpoints: cps, done: make(chan struct{}), waiting: true,
		expires: time.Now().Add(jm.opts.SlotTimeout)}
	jm.mu.Lock()
	defer jm.mu.Unlock()
	jm.jobs[id] = e
	jm.log.Info().Str("job", id).Str("name", g.Name).Int("slots", e.exec.slotsNeeded()).Msg("job submitted")
	jm.trySchedule()
	return &JobHandle{jm: jm, id: id, entry: e}, nil
}

func (jm *JobManager) freeSlots() []slot {
	var free []slot
	for _, id := range jm.tmOrder() {
		tm := jm.tms[id]
		for i, used := range tm.used {
			if !used {
				free = append(free, slot{tm: tm.id, addr: tm.addr, index: i})
			}
		}
	}
	return free
}

// tmOrder returns TaskManager ids in registration order.
func (jm *JobManager) tmOrder() []string {
	ids := make([]string, 0, len(jm.tms))
	for id := range jm.tms {
		ids = append(ids, id)
	}
	// ids are "tm-<seq>" with zero padding, so lexical order is registration order.
	slices.Sort(ids)
	return ids
}

func (jm *JobManager) trySchedule() {
	for _, e := range jm.jobs {
		if !e.waiting {
			continue
		}
		// Every TaskManager must have built the same graph as the job's.
		free := jm.freeSlots()
		var usable []slot
		for _, s := range free {
			if tm := jm.tms[s.tm]; (tm.fingerprint == "" || tm.fingerprint == e.exec.graph.Fingerprint()) && (tm.job == "" || tm.job == e.exec.id) {
				usable = append(usable, s)
			}
		}
		need := e.exec.slotsNeeded()
		if len(usable) < need {
			continue
		}
		e.waiting = false
		if e.checkpoints != nil {
			plan, id, err := jm.restorePlan(e)
			if errors.Is(err, ErrNotRecoverable) { // a savepoint that cannot fit: running again would fail the same way
				jm.log.Error().Str("job", e.exec.id).Err(err).Msg("cannot restore the job's state; failing it without restarts")
				jm.apply(e, e.exec.failNotRecoverable(err, time.Now()))
				continue
			}
			if err != nil { // never silently from scratch: fail (or restart) the job with the cause
				jm.apply(e, e.exec.fail(err.Error(), "", time.Now()))
				continue
			}
			e.exec.restore, e.exec.restoredID = plan, id
			e.checkpoints.restored = id
		}
		for _, s := range usable[:need] {
			jm.tms[s.tm].used[s.index] = true
		}
		jm.log.Info().Str("job", e.exec.id).Msg("job running: deploying tasks")
		jm.apply(e, e.exec.schedule(usable[:need]))
	}
}

// apply performs a state machine's actions, then settles finished jobs. Call with mu held.
func (jm *JobManager) apply(e *jobEntry, acts []action) {
	for _, a := range acts {
		tm := jm.tmByAddr(a.addr)
		if tm == nil {
			continue
		}
		jm.goRPC(10*time.Second, func(ctx context.Context) {
			var err error
			ref := a.cancel
			if a.deploy != nil {
				ref = a.deploy.GetTask()
				_, err = tm.client.DeployTask(ctx, a.deploy)
			} else {
				_, err = tm.client.CancelTask(ctx, a.cancel)
			}
			if err != nil && a.deploy != nil {
				jm.taskState(&floepb.TaskStateUpdate{Task: ref, State: floepb.TaskState_FAILED,
					Error: fmt.Sprintf("deploy to TaskManager %s: %s", tm.resourceID, status.Convert(err).Message())})
			}
		})
	}
	if cp := e.checkpoints; cp != nil {
		switch {
		case e.exec.status == Running && !cp.running && e.exec.allRunning():
			cp.running = true
			jm.stepCheckpoints(e, checkpoint.TasksRunning{Restored: cp.restored})
		case cp.running && e.exec.status != Running:
			cp.running = false
			if !e.exec.status.Terminal() {
				jm.stepCheckpoints(e, checkpoint.TaskFailed{Err: errors.New(e.exec.failure)})
			}
		}
	}
	jm.logStages(e)
	if e.exec.readyToRestart() && e.restartAt.IsZero() {
		jm.releaseSlots(e)
		d := e.exec.restart.delay(e.exec.restarts)
		e.restartAt = time.Now().Add(d)
		jm.log.Warn().Str("job", e.exec.id).Str("cause", e.exec.failure).Dur("delay", d).
			Int("restart", e.exec.restarts+1).Int("of", e.exec.restart.Attempts).Msg("job failed; restarting after a delay")
	}
	if e.exec.status.Terminal() {
		e.restartAt = time.Time{}
		select {
		case <-e.done:
		default:
			if !jm.settleOutputs(e) { // publish.go: apply runs again once the outputs are settled
				return
			}
			if e.checkpoints != nil {
				status := map[JobStatus]checkpoint.JobStatus{Finished: checkpoint.Finished, Canceled: checkpoint.Cancelled, Failed: checkpoint.Failed}[e.exec.status]
				jm.stepCheckpoints(e, checkpoint.JobEnded{Status: status})
			}
			jm.releaseSlots(e)
			jm.releaseBatchFiles(e)
			ev := jm.log.Info()
			if e.exec.status != Finished {
				ev = jm.log.Warn().Str("cause", e.exec.failure)
			}
			ev.Str("job", e.exec.id).Str("status", string(e.exec.status)).Dur("duration", e.exec.ended.Sub(e.exec.started)).Msg("job ended")
			close(e.done)
			jm.trySchedule()
		}
	}
}

func (jm *JobManager) releaseSlots(e *jobEntry) {
	if e.exec.batch != nil {
		// Its reservation: finished stages' subtasks name slots of earlier
		// reservations, which may be another job's now.
		for _, s := range e.exec.slots {
			if tm := jm.tms[s.tm]; tm != nil && s.index < len(tm.used) {
				tm.used[s.index] = false
			}
		}
		e.exec.slots = nil
		return
	}
	for _, row := range e.exec.subtasks {
		for _, st := range row {
			if tm := jm.tms[st.slot.tm]; tm != nil && st.slot.index < len(tm.used) {
				tm.used[st.slot.index] = false
			}
		}
	}
}

// TaskManagerLost removes the TaskManager with this resource id (a YARN
// container that completed), failing or restarting the jobs that used it.
func (jm *JobManager) TaskManagerLost(resourceID, reason string) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for id, tm := range jm.tms {
		if tm.resourceID == resourceID {
			jm.log.Warn().Str("taskmanager", resourceID).Str("reason", reason).Msg("TaskManager lost")
			jm.removeTM(id, reason, time.Now())
		}
	}
}

// HasTaskManager reports whether a TaskManager with this resource id (a
// YARN container id) is registered.
func (jm *JobManager) HasTaskManager(resourceID string) bool {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for _, tm := range jm.tms {
		if tm.resourceID == resourceID {
			return true
		}
	}
	return false
}

// RemoveTaskManager forgets a TaskManager that was stopped on purpose.
func (jm *JobManager) RemoveTaskManager(resourceID string) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for id, tm := range jm.tms {
		if tm.resourceID == resourceID {
			jm.removeTM(id, "stopped", time.Now())
		}
	}
}

// Cancel cancels the job with id (or a unique prefix: ResolveJobID).
func (jm *JobManager) Cancel(id string) error {
	h, err := jm.Job(id)
	if err != nil {
		return err
	}
	h.Cancel()
	return nil
}

func (jm *JobManager) tmByAddr(addr string) *tmInfo {
	for _, tm := range jm.tms {
		if tm.addr == addr {
			return tm
		}
	}
	return nil
}

func (jm *JobManager) taskState(u *floepb.TaskStateUpdate) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	e, ok := jm.jobs[u.GetTask().GetJobId()]
	if !ok {
		return
	}
	jm.apply(e, e.exec.onTaskState(u, time.Now()))
}

// JobHandle follows one submitted job.
type JobHandle struct {
	jm    *JobManager
	id    string
	entry *jobEntry
}

// ID is the job id.
func (h *JobHandle) ID() string { return h.id }

// Cancel asks the job to stop.
func (h *JobHandle) Cancel() {
	h.jm.mu.Lock()
	defer h.jm.mu.Unlock()
	h.jm.apply(h.entry, h.entry.exec.cancel(time.Now()))
}

// JobResult is how a job ended.
type JobResult struct {
	ID string
	// Application is the YARN application id, for jobs on YARN.
	Application string
	Status      JobStatus
	Failure     string // one line, for FAILED
	Detail      string
	Duration    time.Duration
	Vertices    []VertexResult
	// Stages are a BATCH job's stages with how often each ran (nil in
	// STREAMING mode).
	Stages []StageResult
}

// VertexResult holds a vertex's counters.
type VertexResult struct {
	Name        string `json:"name"`
	Parallelism int    `json:"parallelism"`
	RecordsIn   int64  `json:"records_in"`
	RecordsOut  int64  `json:"records_out"`
	// RecordsSkipped counts the malformed input records a file source skipped.
	RecordsSkipped int64 `json:"records_skipped,omitempty"`
	// SpilledRecords and SpilledBytes are what the vertex's batch operators
	// (sorts, hash aggregations and joins of floe/dataset) wrote to local
	// spill files past their memory budget.
	SpilledRecords int64 `json:"spilled_records,omitempty"`
	SpilledBytes   int64 `json:"spilled_bytes,omitempty"`
}

// Wait blocks until the job ends or ctx is done.
func (h *JobHandle) Wait(ctx context.Context) (JobResult, error) {
	select {
	case <-h.entry.done:
	case <-ctx.Done():
		return JobResult{}, ctx.Err()
	}
	h.jm.mu.Lock()
	defer h.jm.mu.Unlock()
	e := h.entry.exec
	r := JobResult{ID: e.id, Status: e.status, Failure: e.failure, Detail: e.detail, Duration: e.ended.Sub(e.started)}
	for _, v := range e.graph.Vertices {
		in, out := e.counts(v.ID)
		sr, sb := e.spilled(v.ID)
		r.Vertices = append(r.Vertices, VertexResult{Name: v.Name, Parallelism: v.Parallelism, RecordsIn: in, RecordsOut: out,
			RecordsSkipped: e.skipped(v.ID), SpilledRecords: sr, SpilledBytes: sb})
	}
	r.Stages = e.stageResults()
	return r, nil
}

// Stages returns a BATCH job's stage progress (nil for a STREAMING job).
func (h *JobHandle) Stages() []StageResult {
	h.jm.mu.Lock()
	defer h.jm.mu.Unlock()
	return h.entry.exec.stageResults()
}

type jmService struct {
	floepb.UnimplementedJobManagerServer
	jm *JobManager
}

func (s jmService) RegisterTaskManager(ctx context.Context, req *floepb.RegisterTaskManagerRequest) (*floepb.RegisterTaskManagerResponse, error) {
	jm := s.jm
	conn, err := grpc.NewClient(req.GetAddress(), append(rpc.DialOptions(jm.opts.Secret), rpc.WithAttempt(jm.opts.Attempt))...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "taskmanager address %q: %v", req.GetAddress(), err)
	}
	if jm.opts.Attempt > 0 {
		grpc.SetHeader(ctx, metadata.Pairs(rpc.AttemptHeader, strconv.Itoa(int(jm.opts.Attempt))))
	}
	jm.mu.Lock()
	defer jm.mu.Unlock()
	if jm.stopped { // it would not be told to shut down
		conn.Close()
		return nil, status.Error(codes.FailedPrecondition, "the JobManager is stopping")
	}
	// A refusal is final: the TaskManager's program builds another graph, and
	// so would every replacement. The job it was for fails at once with the
	// difference, instead of waiting for slots through every restart.
	var refusal error
	for _, e := range jm.jobs {
		if (req.GetJobId() != "" && req.GetJobId() != e.exec.id) || (req.GetJobId() == "" && !e.waiting) {
			continue // a TaskManager of another job, or one not yet scheduled
		}
		if e.exec.status.Terminal() || req.GetGraphFingerprint() == "" || req.GetGraphFingerprint() == e.exec.graph.Fingerprint() {
			continue
		}
		msg := fmt.Sprintf("%v: TaskManager %s: %s", ErrGraphMismatch, req.GetResourceId(),
			jobgraph.Diff(e.exec.graph.Describe(), req.GetGraphDescription()))
		jm.log.Error().Str("job", e.exec.id).Str("taskmanager", req.GetResourceId()).Msg(msg)
		e.waiting = false
		jm.apply(e, e.exec.failFinal(msg, time.Now()))
		refusal = status.Error(codes.FailedPrecondition, msg)
	}
	if refusal != nil {
		conn.Close()
		return nil, refusal
	}
	jm.seq++
	id := fmt.Sprintf("tm-%06d", jm.seq)
	jm.tms[id] = &tmInfo{id: id, resourceID: req.GetResourceId(), addr: req.GetAddress(), slots: int(req.GetSlots()),
		used: make([]bool, req.GetSlots()), lastHeartbeat: time.Now(), fingerprint: req.GetGraphFingerprint(),
		desc: req.GetGraphDescription(), pid: int(req.GetPid()), job: req.GetJobId(), metricsAddr: req.GetMetricsAddress(), registered: time.Now(), client: floepb.NewTaskManagerClient(conn), conn: conn}
	jm.log.Debug().Str("taskmanager", req.GetResourceId()).Str("address", req.GetAddress()).Int32("slots", req.GetSlots()).Int32("pid", req.GetPid()).Msg("TaskManager registered")
	jm.trySchedule()
	return &floepb.RegisterTaskManagerResponse{TaskmanagerId: id, HeartbeatIntervalMs: jm.opts.HeartbeatInterval.Milliseconds()}, nil
}

func (s jmService) Heartbeat(_ context.Context, req *floepb.HeartbeatRequest) (*floepb.HeartbeatResponse, error) {
	s.jm.mu.Lock()
	defer s.jm.mu.Unlock()
	tm, ok := s.jm.tms[req.GetTaskmanagerId()]
	if !ok {
		return &floepb.HeartbeatResponse{Unknown: true}, nil
	}
	tm.lastHeartbeat = time.Now()
	tm.process = req.GetProcess()
	s.jm.heartbeatMetrics(req.GetMetrics())
	return &floepb.HeartbeatResponse{}, nil
}

func (s jmService) AcknowledgeCheckpoint(_ context.Context, ack *floepb.CheckpointAck) (*floepb.Ack, error) {
	s.jm.checkpointAck(ack)
	return &floepb.Ack{}, nil
}

// tickCheckpoints gives every coordinator the time.
func (jm *JobManager) tickCheckpoints() {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for _, e := range jm.jobs {
		if e.checkpoints != nil && !e.exec.status.Terminal() {
			jm.stepCheckpoints(e, checkpoint.Tick{})
		}
	}
}

func (s jmService) UpdateTaskState(_ context.Context, u *floepb.TaskStateUpdate) (*floepb.Ack, error) {
	s.jm.taskState(u)
	return &floepb.Ack{}, nil
}

// Job returns the handle of a job: id, or a unique prefix of it
// (ResolveJobID, whose errors it returns).
func (jm *JobManager) Job(id string) (*JobHandle, error) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	jid, err := ResolveJobID(id, jm.jobIDs())
	if err != nil {
		return nil, err
	}
	return &JobHandle{jm: jm, id: jid, entry: jm.jobs[jid]}, nil
}

// jobIDs returns the ids of every job. Call with mu held.
func (jm *JobManager) jobIDs() []string {
	ids := make([]string, 0, len(jm.jobs))
	for id := range jm.jobs {
		ids = append(ids, id)
	}
	return ids
}

// Status returns a job's current state and details.
func (h *JobHandle) Status() JobDetails {
	h.jm.mu.Lock()
	defer h.jm.mu.Unlock()
	return h.entry.reported()
}

// Done is closed when the job has ended.
func (h *JobHandle) Done() <-chan struct{} { return h.entry.done }

// TaskManagerPIDs returns the process ids TaskManagers reported (for tests and diagnostics).
func (jm *JobManager) TaskManagerPIDs() []int {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	var pids []int
	for _, tm := range jm.tms {
		pids = append(pids, tm.pid)
	}
	return pids
}

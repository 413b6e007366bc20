package container

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// ErrJobManagerLost is returned by Run when the JobManager stopped answering.
var ErrJobManagerLost = errors.New("lost the JobManager")

// Options configure a TaskManager.
type Options struct {
	// ResourceID names the TaskManager (a YARN container id, or local-<n>).
	ResourceID string
	// JobManager is the JobManager's gRPC address.
	JobManager string
	Slots      int
	// Listen is the address to serve on (default 127.0.0.1:0).
	Listen string
	Secret string
	Log    zerolog.Logger
	// Graph is the job this process built; deployments name its vertices.
	Graph *jobgraph.JobGraph
	// JobID, when set, binds the TaskManager to that job only.
	JobID string
	// HeartbeatTimeout: Run gives up when the JobManager has not answered for this long.
	HeartbeatTimeout time.Duration
	// SubscribeTimeout bounds how long a consumer waits for a producer's partition.
	SubscribeTimeout time.Duration
	// NoMetrics turns the Prometheus /metrics listener off, and the clocks
	// of idle and back-pressured time (counters and heartbeats stay).
	NoMetrics bool
	// LogFile is this TaskManager's log file, which the JobManager may ask
	// for (LogTail); "" when it logs elsewhere.
	LogFile string
}

// TaskManager runs subtasks in slots and serves their output partitions.
type TaskManager struct {
	opts   Options
	log    zerolog.Logger
	lis    net.Listener
	server *grpc.Server
	jm     floepb.JobManagerClient
	jmConn *grpc.ClientConn
	id     string

	stats      BufferStats
	partitions *partitionRegistry

	metricsLis    net.Listener // nil with NoMetrics
	metricsServer *http.Server

	mu       sync.Mutex
	tasks    map[taskKey]*task
	conns    map[string]*grpc.ClientConn
	runCtx   context.Context
	shutdown chan struct{}
	shutOnce sync.Once
}

type taskKey struct {
	job                      string
	vertex, subtask, attempt int32
}

func keyOfTask(r *floepb.TaskRef) taskKey {
	return taskKey{r.GetJobId(), r.GetVertex(), r.GetSubtask(), r.GetAttempt()}
}

// New starts listening; Run registers with the JobManager and serves.
func New(opts Options) (*TaskManager, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Slots < 1 {
		opts.Slots = 1
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 30 * time.Second
	}
	if opts.SubscribeTimeout <= 0 {
		opts.SubscribeTimeout = 60 * time.Second
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("taskmanager: listen on %s: %w", opts.Listen, err)
	}
	conn, err := grpc.NewClient(opts.JobManager, rpc.DialOptions(opts.Secret)...)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("taskmanager: jobmanager address %q: %w", opts.JobManager, err)
	}
	tm := &TaskManager{opts: opts, log: opts.Log.With().Str("taskmanager", opts.ResourceID).Logger(), lis: lis,
		jm: floepb.NewJobManagerClient(conn), jmConn: conn, partitions: newPartitionRegistry(),
		tasks: map[taskKey]*task{}, conns: map[string]*grpc.ClientConn{}, shutdown: make(chan struct{})}
	tm.server = grpc.NewServer(rpc.ServerOptions(opts.Secret)...)
	floepb.RegisterTaskManagerServer(tm.server, tmService{tm: tm})
	floepb.RegisterDataExchangeServer(tm.server, dataService{tm: tm})
	if !opts.NoMetrics {
		if err := tm.serveMetrics(); err != nil {
			lis.Close()
			conn.Close()
			return nil, err
		}
	}
	return tm, nil
}

// Address is where the TaskManager serves.
func (tm *TaskManager) Address() string { return tm.lis.Addr().String() }

// Stats are the TaskManager's network buffer counters.
func (tm *TaskManager) Stats() *BufferStats { return &tm.stats }

// Run registers with the JobManager and serves until ctx ends, the JobManager
// asks it to shut down (nil), or the JobManager is lost (ErrJobManagerLost).
// Every task it started has stopped when Run returns.
func (tm *TaskManager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tm.mu.Lock()
	tm.runCtx = ctx
	tm.mu.Unlock()

	serveErr := make(chan error, 1)
	go func() { serveErr <- tm.server.Serve(tm.lis) }()
	metricsErr := make(chan error, 1)
	go func() { metricsErr <- tm.runMetrics() }()
	defer func() {
		cancel()
		tm.waitTasks()
		tm.server.Stop()
		<-serveErr
		if tm.metricsServer != nil {
			tm.metricsServer.Close()
		}
		if err := <-metricsErr; err != nil {
			tm.log.Warn().Err(err).Msg("metrics listener stopped")
		}
		tm.closeConns()
	}()

	interval, err := tm.register(ctx)
	if err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tm.shutdown:
			return nil
		case err := <-serveErr:
			return fmt.Errorf("taskmanager: serve: %w", err)
		case <-t.C:
			hctx, hcancel := context.WithTimeout(ctx, interval*2)
			resp, err := tm.jm.Heartbeat(hctx, &floepb.HeartbeatRequest{TaskmanagerId: tm.id, Metrics: tm.metrics(), Process: processMetrics()})
			hcancel()
			switch {
			case err == nil && resp.GetUnknown():
				return fmt.Errorf("%w: it no longer knows this TaskManager", ErrJobManagerLost)
			case err == nil:
				lastOK = time.Now()
			case time.Since(lastOK) > tm.opts.HeartbeatTimeout:
				return fmt.Errorf("%w: no heartbeat answer for %s: %w", ErrJobManagerLost, tm.opts.HeartbeatTimeout, err)
			}
		}
	}
}

func (tm *TaskManager) register(ctx context.Context) (time.Duration, error) {
	req := &floepb.RegisterTaskManagerRequest{ResourceId: tm.opts.ResourceID, Address: tm.Address(),
		Slots: int32(tm.opts.Slots), Pid: int32(os.Getpid()), JobId: tm.opts.JobID, MetricsAddress: tm.MetricsAddress()}
	if tm.opts.Graph != nil {
		req.GraphFingerprint = tm.opts.Graph.Fingerprint()
		req.GraphDescription = tm.opts.Graph.Describe()
	}
	deadline := time.Now().Add(tm.opts.HeartbeatTimeout)
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := tm.jm.RegisterTaskManager(rctx, req, grpc.WaitForReady(true))
		rcancel()
		if err == nil {
			tm.id = resp.GetTaskmanagerId()
			tm.log.Debug().Str("address", tm.Address()).Int("slots", tm.opts.Slots).Msg("registered with the JobManager")
			return time.Duration(resp.GetHeartbeatIntervalMs()) * time.Millisecond, nil
		}
		if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.Unauthenticated {
			return 0, fmt.Errorf("taskmanager: registration refused: %s", status.Convert(err).Message())
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%w: cannot register at %s: %w", ErrJobManagerLost, tm.opts.JobManager, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (tm *TaskManager) metrics() []*floepb.TaskMetrics {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	now := time.Now()
	var ms []*floepb.TaskMetrics
	for _, t := range tm.tasks {
		ms = append(ms, t.sample(now))
	}
	return ms
}

func (tm *TaskManager) reportState(u *floepb.TaskStateUpdate) {
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := tm.jm.UpdateTaskState(ctx, u)
		cancel()
		if err == nil {
			return
		}
		tm.log.Warn().Err(err).Str("state", u.GetState().String()).Msg("reporting task state failed; retrying")
		time.Sleep(200 * time.Millisecond)
	}
}

// dial returns how to subscribe to a producer at addr: through a local
// channel when that is this TaskManager, else over a shared gRPC connection.
func (tm *TaskManager) dial(addr string) (subscriber, error) {
	if addr == tm.Address() {
		return tm.subscribeLocal, nil
	}
	c, err := tm.conn(addr)
	if err != nil {
		return nil, err
	}
	return grpcSubscriber(c), nil
}

// conn returns a shared connection to another TaskManager.
func (tm *TaskManager) conn(addr string) (grpc.ClientConnInterface, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if c, ok := tm.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, rpc.DialOptions(tm.opts.Secret)...)
	if err != nil {
		return nil, err
	}
	tm.conns[addr] = c
	return c, nil
}

func (tm *TaskManager) closeConns() {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for _, c := range tm.conns {
		c.Close()
	}
	tm.conns = map[string]*grpc.ClientConn{}
	tm.jmConn.Close()
}

func (tm *TaskManager) waitTasks() {
	tm.mu.Lock()
	ts := make([]*task, 0, len(tm.tasks))
	for _, t := range tm.tasks {
		t.cancel()
		ts = append(ts, t)
	}
	tm.mu.Unlock()
	for _, t := range ts {
		<-t.done
	}
}

func (tm *TaskManager) deploy(dep *floepb.TaskDeployment) error {
	g := tm.opts.Graph
	ref := dep.GetTask()
	if g == nil || int(ref.GetVertex()) >= len(g.Vertices) || ref.GetVertex() < 0 {
		return status.Errorf(codes.InvalidArgument, "no vertex %d in this TaskManager's job graph", ref.GetVertex())
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.runCtx == nil || tm.runCtx.Err() != nil {
		return status.Error(codes.Unavailable, "taskmanager is not running")
	}
	k := keyOfTask(ref)
	if _, dup := tm.tasks[k]; dup {
		return status.Errorf(codes.AlreadyExists, "task %v already deployed", k)
	}
	ctx, cancel := context.WithCancel(tm.runCtx)
	v := g.Vertices[ref.GetVertex()]
	t := &task{tm: tm, dep: dep, vertex: v, graph: g, cancel: cancel, done: make(chan struct{}), mail: newMailbox(), m: newTaskMetrics(!tm.opts.NoMetrics),
		log: tm.log.With().Str("job", ref.GetJobId()).Str("task", v.Name).Int32("subtask", ref.GetSubtask()).Int32("attempt", ref.GetAttempt()).Logger()}
	tm.tasks[k] = t
	go func() {
		t.run(ctx)
		cancel()
		tm.mu.Lock()
		delete(tm.tasks, k)
		tm.mu.Unlock()
	}()
	return nil
}

type tmService struct {
	floepb.UnimplementedTaskManagerServer
	tm *TaskManager
}

func (s tmService) DeployTask(_ context.Context, dep *floepb.TaskDeployment) (*floepb.Ack, error) {
	if err := s.tm.deploy(dep); err != nil {
		return nil, err
	}
	return &floepb.Ack{}, nil
}

func (s tmService) CancelTask(_ context.Context, ref *floepb.TaskRef) (*floepb.Ack, error) {
	s.tm.mu.Lock()
	t, ok := s.tm.tasks[keyOfTask(ref)]
	s.tm.mu.Unlock()
	if ok {
		t.cancel()
	}
	s.tm.partitions.releaseJob(ref.GetJobId(), fmt.Errorf("%w: job cancelled", ErrPartitionReleased))
	return &floepb.Ack{}, nil
}

func (s tmService) Shutdown(_ context.Context, req *floepb.ShutdownRequest) (*floepb.Ack, error) {
	s.tm.log.Debug().Str("reason", req.GetReason()).Msg("shutdown requested by the JobManager")
	s.tm.shutOnce.Do(func() { close(s.tm.shutdown) })
	return &floepb.Ack{}, nil
}

func (s tmService) TriggerCheckpoint(_ context.Context, req *floepb.CheckpointTrigger) (*floepb.Ack, error) {
	t, ok := s.tm.task(req.GetTask())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no task %v here", req.GetTask())
	}
	t.mu.Lock()
	done := t.sourceDone
	t.mu.Unlock()
	if done {
		t.uploads.Add(1)
		go func() {
			defer t.uploads.Done()
			t.ackCheckpoint(req.GetId(), nil, errors.New(operator.DeclineNotReady+"the source has finished"))
		}()
		return &floepb.Ack{}, nil
	}
	t.post(func() {
		t.mu.Lock()
		chain := t.chain
		t.mu.Unlock()
		if chain == nil {
			t.ackCheckpoint(req.GetId(), nil, errors.New(operator.DeclineNotReady+"task not running yet"))
			return
		}
		t.takeCheckpoint(chain, req.GetId(), req.GetDir())
	})
	return &floepb.Ack{}, nil
}

func (s tmService) NotifyCheckpoint(_ context.Context, req *floepb.CheckpointNotice) (*floepb.Ack, error) {
	t, ok := s.tm.task(req.GetTask())
	if !ok {
		return &floepb.Ack{}, nil // it ended; nothing to tell
	}
	t.post(func() {
		t.mu.Lock()
		chain := t.chain
		t.mu.Unlock()
		if chain == nil {
			return
		}
		if !req.GetComplete() {
			chain.NotifyCheckpointAborted(req.GetId())
			return
		}
		if err := chain.NotifyCheckpointComplete(req.GetId()); err != nil {
			t.log.Error().Err(err).Int64("checkpoint", req.GetId()).Msg("committing checkpoint failed")
			t.cancel()
		}
	})
	return &floepb.Ack{}, nil
}

func (tm *TaskManager) task(ref *floepb.TaskRef) (*task, bool) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	t, ok := tm.tasks[keyOfTask(ref)]
	return t, ok
}

type dataService struct {
	floepb.UnimplementedDataExchangeServer
	tm *TaskManager
}

func (s dataService) Subscribe(stream floepb.DataExchange_SubscribeServer) error {
	return s.subscribe(stream)
}

// subscribe serves one consumer, remote (gRPC) or local.
func (s dataService) subscribe(stream producerStream) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	key := keyOf(first.GetProducer(), first.GetEdge())
	p, err := s.tm.partitions.wait(stream.Context(), key, s.tm.opts.SubscribeTimeout)
	if err != nil {
		return status.Error(codes.NotFound, err.Error())
	}
	sub := int(first.GetSubpartition())
	if sub < 0 || sub >= len(p.subs) {
		return status.Errorf(codes.InvalidArgument, "partition %s has no subpartition %d", key, sub)
	}
	return p.subs[sub].serve(stream, first.GetCredit())
}

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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
	"floe/internal/spill"
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
	// Locate, when set, finds the JobManager of a newer ApplicationMaster
	// attempt once this one's stops answering: it returns the current
	// JobManager's address and attempt (internal/failover's leader file).
	// Without it, losing the JobManager ends Run.
	Locate func(ctx context.Context) (addr string, attempt int32, err error)
	// NoMetrics turns the Prometheus /metrics listener off, and the clocks
	// of idle and back-pressured time (counters and heartbeats stay).
	NoMetrics bool
	// LogFile is this TaskManager's log file, which the JobManager may ask
	// for (LogTail); "" when it logs elsewhere.
	LogFile string
	// DataTransport is how input channels subscribe to other TaskManagers:
	// TransportTCP or TransportGRPC; "" takes the graph's
	// floe.taskmanager.data-transport, else TransportTCP. The TaskManager
	// serves both on its one address whatever it is.
	DataTransport string
}

// The data transports between TaskManagers (Options.DataTransport).
const (
	// TransportTCP: the TCP data plane (network.TCPSubscriber), a
	// connection of its own per input channel.
	TransportTCP = "tcp"
	// TransportGRPC: a DataExchange gRPC stream per input channel, over one
	// connection per producing TaskManager.
	TransportGRPC = "grpc"
)

// dataTransport resolves opts' data transport.
func dataTransport(opts Options) (string, error) {
	switch opts.DataTransport {
	case TransportTCP, TransportGRPC:
		return opts.DataTransport, nil
	case "":
		if opts.Graph == nil {
			return TransportTCP, nil
		}
		t, err := opts.Graph.Config.TaskManagerTransport()
		if err != nil {
			return "", fmt.Errorf("taskmanager: %w", err)
		}
		return t, nil
	}
	return "", fmt.Errorf("taskmanager: %w: data transport %q: want %s or %s", config.ErrInvalid, opts.DataTransport, TransportTCP, TransportGRPC)
}

// ErrFenced refuses a command from a JobManager of an older attempt than
// the one the TaskManager is registered with.
var ErrFenced = errors.New("fenced: the command comes from a superseded JobManager attempt")

// jmLink is the TaskManager's connection to one JobManager. A task keeps the
// link that deployed it, so its reports never reach a successor, and a
// link's context ends when the TaskManager moves to another JobManager.
type jmLink struct {
	addr    string
	attempt int32 // the JobManager's attempt, from its registration answer
	client  floepb.JobManagerClient
	conn    *grpc.ClientConn
	ctx     context.Context
	cancel  context.CancelFunc
}

func dialJobManager(addr, secret string) (*jmLink, error) {
	conn, err := grpc.NewClient(addr, rpc.DialOptions(secret)...)
	if err != nil {
		return nil, fmt.Errorf("taskmanager: jobmanager address %q: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &jmLink{addr: addr, client: floepb.NewJobManagerClient(conn), conn: conn, ctx: ctx, cancel: cancel}, nil
}

func (l *jmLink) close() {
	l.cancel()
	l.conn.Close()
}

// TaskManager runs subtasks in slots and serves their output partitions.
type TaskManager struct {
	opts   Options
	log    zerolog.Logger
	lis    net.Listener
	server *grpc.Server
	// mux shares lis between server and the TCP data plane (dataServer).
	mux        *rpc.Mux
	dataServer *network.TCPServer
	transport  string // TransportTCP or TransportGRPC
	id         string // given by the JobManager at registration (Run's goroutine)

	stats      network.BufferStats
	partitions *network.PartitionRegistry
	local      network.Subscriber // to this TaskManager's own partitions
	// exchangeRoots are this TaskManager's directories of blocking
	// partitions' files, one per local directory (exchange.go; under mu).
	exchangeRoots []string

	metricsLis    net.Listener // nil with NoMetrics
	metricsServer *http.Server

	mu sync.Mutex
	jm *jmLink // the JobManager registered with, or being registered with
	// fence is the oldest JobManager attempt whose commands are obeyed: the
	// attempt registered with, or the one being moved to.
	fence    int32
	tasks    map[taskKey]*task
	conns    map[string]*grpc.ClientConn
	runCtx   context.Context
	shutdown chan struct{}
	shutOnce sync.Once

	// memory is the managed memory (taskmanager.memory.managed.size) that
	// batch operators sort, hash and join in; each task gets its slot's
	// share (memory.go).
	memory *spill.Budget
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
	memory, err := managedMemory(opts)
	if err != nil {
		return nil, err
	}
	transport, err := dataTransport(opts)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("taskmanager: listen on %s: %w", opts.Listen, err)
	}
	link, err := dialJobManager(opts.JobManager, opts.Secret)
	if err != nil {
		lis.Close()
		return nil, err
	}
	tm := &TaskManager{opts: opts, log: opts.Log.With().Str("taskmanager", opts.ResourceID).Logger(), lis: lis,
		jm: link, partitions: network.NewPartitionRegistry(),
		tasks: map[taskKey]*task{}, conns: map[string]*grpc.ClientConn{}, shutdown: make(chan struct{}), memory: memory,
		mux: rpc.NewMux(lis, 0), transport: transport}
	tm.dataServer = network.NewTCPServer(opts.Secret, tm.serveData)
	tm.server = grpc.NewServer(rpc.DataServerOptions(opts.Secret)...)
	floepb.RegisterTaskManagerServer(tm.server, tmService{tm: tm})
	tm.local = network.LocalSubscriber(tm.serveData)
	floepb.RegisterDataExchangeServer(tm.server, network.DataExchangeServer(tm.serveData))
	if !opts.NoMetrics {
		if err := tm.serveMetrics(); err != nil {
			lis.Close()
			link.close()
			return nil, err
		}
	}
	return tm, nil
}

// Address is where the TaskManager serves.
func (tm *TaskManager) Address() string { return tm.lis.Addr().String() }

// Stats are the TaskManager's network buffer counters.
func (tm *TaskManager) Stats() *network.BufferStats { return &tm.stats }

// serveData serves one consumer of this TaskManager's partitions, remote or local.
func (tm *TaskManager) serveData(stream network.ProducerStream) error {
	return tm.partitions.Serve(stream, tm.opts.SubscribeTimeout)
}

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
	go func() { serveErr <- tm.server.Serve(tm.mux.GRPC()) }()
	muxErr := make(chan error, 1)
	go func() { muxErr <- tm.mux.Serve(tm.dataServer.ServeConn) }()
	metricsErr := make(chan error, 1)
	go func() { metricsErr <- tm.runMetrics() }()
	defer func() {
		cancel()
		tm.waitTasks()
		tm.server.Stop() // closes the mux, and so the listener
		tm.dataServer.Close()
		<-serveErr
		if err := <-muxErr; err != nil {
			tm.log.Warn().Err(err).Msg("data plane listener stopped")
		}
		if tm.metricsServer != nil {
			tm.metricsServer.Close()
		}
		if err := <-metricsErr; err != nil {
			tm.log.Warn().Err(err).Msg("metrics listener stopped")
		}
		tm.closeConns()
		tm.removeExchangeDirs()
	}()

	interval, err := tm.register(ctx)
	if err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK := time.Now()
	fast := false // heartbeats every followRetry while the JobManager does not answer
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tm.shutdown:
			return nil
		case err := <-serveErr:
			return fmt.Errorf("taskmanager: serve: %w", err)
		case <-t.C:
			link := tm.link()
			hctx, hcancel := context.WithTimeout(ctx, interval*2)
			resp, err := link.client.Heartbeat(hctx, &floepb.HeartbeatRequest{TaskmanagerId: tm.id, Metrics: tm.metrics(), Process: processMetrics()})
			hcancel()
			var lost error
			switch {
			case err == nil && resp.GetUnknown():
				lost = fmt.Errorf("%w: it no longer knows this TaskManager", ErrJobManagerLost)
			case err == nil:
				lastOK = time.Now()
				if fast {
					t.Reset(interval)
					fast = false
				}
				continue
			case time.Since(lastOK) > tm.opts.HeartbeatTimeout:
				lost = fmt.Errorf("%w: no heartbeat answer for %s: %w", ErrJobManagerLost, tm.opts.HeartbeatTimeout, err)
			}
			// A failed heartbeat: has a newer attempt's JobManager taken over?
			if moved, merr := tm.follow(ctx, link); merr != nil {
				return merr
			} else if moved {
				if interval, err = tm.register(ctx); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				t.Reset(interval)
				lastOK = time.Now()
				fast = false
				continue
			}
			if lost != nil {
				return lost
			}
			// The JobManager does not answer and no newer attempt is
			// published yet: look again soon, so the TaskManager registers
			// with the next attempt when it publishes itself, not up to a
			// heartbeat interval later.
			if tm.opts.Locate != nil && !fast && followRetry < interval {
				t.Reset(followRetry)
				fast = true
			}
		}
	}
}

// followRetry is how often a TaskManager whose JobManager does not answer
// heartbeats and looks for a newer attempt (within the heartbeat timeout).
const followRetry = 100 * time.Millisecond

// link is the current JobManager link.
func (tm *TaskManager) link() *jmLink {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.jm
}

// follow asks Locate whether a JobManager of a newer attempt than link's
// serves, and if so moves the TaskManager to it: the tasks of the old
// attempt are cancelled and waited for (the new JobManager redeploys them
// from its latest checkpoint), the partitions of every job released, those
// of finished BATCH tasks included (the new attempt numbers its executions
// from zero again and reruns their stages), and the old link
// closed, so nothing of the old attempt reaches the new JobManager. The
// caller then registers. It reports whether it moved.
func (tm *TaskManager) follow(ctx context.Context, link *jmLink) (bool, error) {
	if tm.opts.Locate == nil {
		return false, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	addr, attempt, err := tm.opts.Locate(lctx)
	cancel()
	if err != nil {
		tm.log.Debug().Err(err).Msg("cannot read the current JobManager's address")
		return false, nil
	}
	if attempt <= link.attempt || addr == link.addr {
		return false, nil
	}
	next, err := dialJobManager(addr, tm.opts.Secret)
	if err != nil {
		return false, err
	}
	tm.log.Warn().Str("from", link.addr).Int32("from_attempt", link.attempt).Str("to", addr).Int32("attempt", attempt).
		Msg("the JobManager failed over: cancelling this attempt's tasks and registering with the new JobManager")
	tm.mu.Lock()
	tm.fence = max(tm.fence, attempt) // from now on the old JobManager is not obeyed
	tm.mu.Unlock()
	link.cancel() // the old tasks' reports and acks stop here
	jobs := tm.waitTasks()
	for job := range tm.partitions.Jobs() { // finished tasks' outputs too: the new attempt reruns their stages
		jobs[job] = true
	}
	for job := range jobs {
		tm.partitions.ReleaseJob(job, fmt.Errorf("%w: the JobManager failed over", network.ErrPartitionReleased))
		tm.partitions.ReleaseJobFiles(job, fmt.Errorf("%w: the JobManager failed over", network.ErrPartitionReleased))
	}
	tm.mu.Lock()
	tm.jm = next
	tm.mu.Unlock()
	link.close()
	return true, nil
}

func (tm *TaskManager) register(ctx context.Context) (time.Duration, error) {
	req := &floepb.RegisterTaskManagerRequest{ResourceId: tm.opts.ResourceID, Address: tm.Address(),
		Slots: int32(tm.opts.Slots), Pid: int32(os.Getpid()), JobId: tm.opts.JobID, MetricsAddress: tm.MetricsAddress()}
	if tm.opts.Graph != nil {
		req.GraphFingerprint = tm.opts.Graph.Fingerprint()
		req.GraphDescription = tm.opts.Graph.Describe()
	}
	deadline := time.Now().Add(tm.opts.HeartbeatTimeout)
	link := tm.link()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		var md metadata.MD
		resp, err := link.client.RegisterTaskManager(rctx, req, grpc.WaitForReady(true), grpc.Header(&md))
		rcancel()
		if err == nil {
			tm.mu.Lock()
			link.attempt = rpc.AttemptOf(md)
			tm.fence = max(tm.fence, link.attempt)
			tm.mu.Unlock()
			tm.id = resp.GetTaskmanagerId()
			tm.log.Debug().Str("address", tm.Address()).Int("slots", tm.opts.Slots).Int32("jobmanager_attempt", link.attempt).Msg("registered with the JobManager")
			return time.Duration(resp.GetHeartbeatIntervalMs()) * time.Millisecond, nil
		}
		if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.Unauthenticated {
			return 0, fmt.Errorf("taskmanager: registration refused: %s", status.Convert(err).Message())
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%w: cannot register at %s: %w", ErrJobManagerLost, link.addr, err)
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

// reportState tells the JobManager of link about a task; it gives up when
// the TaskManager has moved to another JobManager.
func (tm *TaskManager) reportState(link *jmLink, u *floepb.TaskStateUpdate) {
	for attempt := 0; attempt < 5 && link.ctx.Err() == nil; attempt++ {
		ctx, cancel := context.WithTimeout(link.ctx, 10*time.Second)
		_, err := link.client.UpdateTaskState(ctx, u)
		cancel()
		if err == nil || link.ctx.Err() != nil {
			return
		}
		tm.log.Warn().Err(err).Str("state", u.GetState().String()).Msg("reporting task state failed; retrying")
		select {
		case <-link.ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dial returns how to subscribe to a producer at addr: through a local
// channel when that is this TaskManager, else over the TCP data plane (a
// connection per subscription) or a shared gRPC connection.
func (tm *TaskManager) dial(addr string) (network.Subscriber, error) {
	if addr == tm.Address() {
		return tm.local, nil
	}
	if tm.transport == TransportTCP {
		return network.TCPSubscriber(addr, tm.opts.Secret), nil
	}
	c, err := tm.conn(addr)
	if err != nil {
		return nil, err
	}
	return network.GRPCSubscriber(c), nil
}

// conn returns a shared connection to another TaskManager.
func (tm *TaskManager) conn(addr string) (grpc.ClientConnInterface, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if c, ok := tm.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, rpc.DataDialOptions(tm.opts.Secret)...)
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
	tm.jm.close()
}

// waitTasks cancels every task, waits for them to end, and returns their jobs.
func (tm *TaskManager) waitTasks() map[string]bool {
	tm.mu.Lock()
	ts := make([]*task, 0, len(tm.tasks))
	jobs := map[string]bool{}
	for _, t := range tm.tasks {
		t.cancel()
		ts = append(ts, t)
		jobs[t.ref().GetJobId()] = true
	}
	tm.mu.Unlock()
	for _, t := range ts {
		<-t.done
	}
	return jobs
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
	t := &task{tm: tm, jm: tm.jm, dep: dep, vertex: v, graph: g, cancel: cancel, done: make(chan struct{}), m: newTaskMetrics(!tm.opts.NoMetrics),
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

// fenced refuses a command whose JobManager attempt (rpc.AttemptHeader) is
// older than the TaskManager's fence.
func (tm *TaskManager) fenced(ctx context.Context) error {
	a := rpc.IncomingAttempt(ctx)
	tm.mu.Lock()
	fence := tm.fence
	tm.mu.Unlock()
	if a < fence {
		tm.log.Warn().Int32("attempt", a).Int32("fence", fence).Msg("refusing a command of a superseded JobManager")
		return status.Errorf(codes.FailedPrecondition, "%v: attempt %d, this TaskManager follows attempt %d", ErrFenced, a, fence)
	}
	return nil
}

type tmService struct {
	floepb.UnimplementedTaskManagerServer
	tm *TaskManager
}

func (s tmService) DeployTask(ctx context.Context, dep *floepb.TaskDeployment) (*floepb.Ack, error) {
	if err := s.tm.fenced(ctx); err != nil {
		return nil, err
	}
	if err := s.tm.deploy(dep); err != nil {
		return nil, err
	}
	return &floepb.Ack{}, nil
}

func (s tmService) CancelTask(ctx context.Context, ref *floepb.TaskRef) (*floepb.Ack, error) {
	if err := s.tm.fenced(ctx); err != nil {
		return nil, err
	}
	s.tm.mu.Lock()
	t, ok := s.tm.tasks[keyOfTask(ref)]
	s.tm.mu.Unlock()
	if ok {
		t.cancel()
	}
	s.tm.partitions.ReleaseJob(ref.GetJobId(), fmt.Errorf("%w: job cancelled", network.ErrPartitionReleased))
	return &floepb.Ack{}, nil
}

func (s tmService) Shutdown(ctx context.Context, req *floepb.ShutdownRequest) (*floepb.Ack, error) {
	if err := s.tm.fenced(ctx); err != nil {
		return nil, err
	}
	s.tm.log.Debug().Str("reason", req.GetReason()).Msg("shutdown requested by the JobManager")
	s.tm.shutOnce.Do(func() { close(s.tm.shutdown) })
	return &floepb.Ack{}, nil
}

func (s tmService) TriggerCheckpoint(ctx context.Context, req *floepb.CheckpointTrigger) (*floepb.Ack, error) {
	if err := s.tm.fenced(ctx); err != nil {
		return nil, err
	}
	t, ok := s.tm.task(req.GetTask())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no task %v here", req.GetTask())
	}
	t.mu.Lock()
	done, closing := t.sourceDone, t.closing
	if done && !closing {
		t.uploads.Add(1) // under t.mu: run cannot start waiting in between
	}
	t.mu.Unlock()
	if done {
		go func() {
			if !closing {
				defer t.uploads.Done()
			}
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
		t.takeCheckpoint(chain, req.GetId(), req.GetDir(), t.unalignedFor(req.GetId(), req.GetDir()))
	})
	return &floepb.Ack{}, nil
}

func (s tmService) NotifyCheckpoint(ctx context.Context, req *floepb.CheckpointNotice) (*floepb.Ack, error) {
	if err := s.tm.fenced(ctx); err != nil {
		return nil, err
	}
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

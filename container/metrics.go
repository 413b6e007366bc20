package container

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/container/network"
	"floe/internal/hadoop/yarn"
	"floe/internal/logging"
	"floe/internal/metrics"
	"floe/internal/rpc/floepb"
)

// taskMetrics are one task's counters. The task goroutine updates them once
// per batch (never per record) with atomic adds; the TaskManager reads them
// at heartbeat and scrape time.
type taskMetrics struct {
	timed                                    bool // read clocks for idle and back-pressured time (metrics.enabled)
	recordsIn, recordsOut, bytesIn, bytesOut atomic.Int64
	idleNs, backPressuredNs                  atomic.Int64
	inWatermark, outWatermark                atomic.Int64
	gate                                     atomic.Pointer[network.InputGate]
	parts                                    atomic.Pointer[[]*network.ResultPartition] // set once, before the task runs

	// alignment: when the first barrier of alignID arrived (task goroutine
	// only), and the alignment times of checkpoints not yet acknowledged
	alignID    int64
	alignStart time.Time
	alignMs    sync.Map // checkpoint id -> int64 ms

	// sampled on the heartbeat, under mu
	mu                                 sync.Mutex
	started                            time.Time
	in, out, bin, bout, busy, idle, bp metrics.Meter
	last                               time.Time
}

func newTaskMetrics(timed bool) *taskMetrics {
	m := &taskMetrics{started: time.Now(), timed: timed}
	m.inWatermark.Store(math.MinInt64)
	m.outWatermark.Store(math.MinInt64)
	return m
}

func (m *taskMetrics) partitions() []*network.ResultPartition {
	if p := m.parts.Load(); p != nil {
		return *p
	}
	return nil
}

// barrierSeen notes the arrival of a barrier of checkpoint id: the first
// starts its alignment.
func (m *taskMetrics) barrierSeen(id int64) {
	if id != m.alignID {
		m.alignID, m.alignStart = id, time.Now()
	}
}

// aligned records the alignment time of checkpoint id, which ackCheckpoint takes.
func (m *taskMetrics) aligned(id int64) {
	if id == m.alignID {
		m.alignMs.Store(id, time.Since(m.alignStart).Milliseconds())
	}
}

// takeAlignment returns and forgets checkpoint id's alignment time.
func (m *taskMetrics) takeAlignment(id int64) int64 {
	if v, ok := m.alignMs.LoadAndDelete(id); ok {
		return v.(int64)
	}
	return 0
}

// waitStarts returns the time a wait for input starts (zero when untimed).
func (m *taskMetrics) waitStarts() time.Time {
	if !m.timed {
		return time.Time{}
	}
	return time.Now()
}

// backPressured adds d to the time spent waiting for room in the output
// queues (a task waits between records while one is full).
func (m *taskMetrics) backPressured(d time.Duration) {
	if m.timed {
		m.backPressuredNs.Add(int64(d))
	}
}

// idleSince adds the time since start to the idle time.
func (m *taskMetrics) idleSince(start time.Time) {
	if !start.IsZero() {
		m.idleNs.Add(int64(time.Since(start)))
	}
}

// meteredSink counts what a task sends and the time it waits for room in a
// full subpartition queue (back-pressure): a clock is read only when the
// queue is full before the push.
type meteredSink struct {
	sink network.ChannelSink
	p    *network.ResultPartition // nil for a blocking partition (never full)
	m    *taskMetrics
}

func (s meteredSink) Send(sub int, msg network.Message) error {
	var err error
	if s.m.timed && s.p != nil && s.p.Full(sub) {
		start := time.Now()
		err = s.sink.Send(sub, msg)
		s.m.backPressuredNs.Add(int64(time.Since(start)))
	} else {
		err = s.sink.Send(sub, msg)
	}
	switch msg.Event {
	case 0:
		s.m.recordsOut.Add(int64(msg.Records))
		s.m.bytesOut.Add(int64(len(msg.Payload)))
	case network.Watermark:
		s.m.outWatermark.Store(msg.Value)
	}
	return err
}

// SendPriority queues an unaligned checkpoint's barrier ahead of what the
// partition holds (network.PrioritySink); a blocking partition (BATCH
// mode, no checkpoints) gets it in order.
func (s meteredSink) SendPriority(sub int, barrier network.Message, pending []network.Message) error {
	if s.p == nil {
		for _, m := range append(pending, barrier) {
			if err := s.Send(sub, m); err != nil {
				return err
			}
		}
		return nil
	}
	for _, m := range pending {
		s.m.recordsOut.Add(int64(m.Records))
		s.m.bytesOut.Add(int64(len(m.Payload)))
	}
	return s.p.SendPriority(sub, barrier, pending)
}

// sample marks the task's meters at now (the heartbeat) and returns its
// metrics for the JobManager.
func (t *task) sample(now time.Time) *floepb.TaskMetrics {
	m := t.m
	tm := &floepb.TaskMetrics{Task: t.ref(), RecordsIn: m.recordsIn.Load(), RecordsOut: m.recordsOut.Load(),
		BytesIn: m.bytesIn.Load(), BytesOut: m.bytesOut.Load(),
		InputWatermark: m.inWatermark.Load(), OutputWatermark: m.outWatermark.Load()}
	m.mu.Lock()
	if now.After(m.last) {
		m.last = now
		elapsed := float64(now.Sub(m.started))
		m.in.Mark(now, float64(tm.RecordsIn))
		m.out.Mark(now, float64(tm.RecordsOut))
		m.bin.Mark(now, float64(tm.BytesIn))
		m.bout.Mark(now, float64(tm.BytesOut))
		idle, bp := float64(m.idleNs.Load()), float64(m.backPressuredNs.Load())
		m.idle.Mark(now, idle/1e6)
		m.bp.Mark(now, bp/1e6)
		m.busy.Mark(now, max(elapsed-idle-bp, 0)/1e6)
	}
	tm.RecordsInPerSecond, tm.RecordsOutPerSecond = m.in.Rate(), m.out.Rate()
	idle, bp, busy := m.idle.Rate(), m.bp.Rate(), m.busy.Rate()
	m.mu.Unlock()
	tm.IdleMsPerSecond, tm.BackPressuredMsPerSecond = clampMs(idle), clampMs(bp)
	tm.BusyMsPerSecond = clampMs(busy)
	if g := m.gate.Load(); g != nil && cap(g.Queue()) > 0 {
		tm.InputQueueUsage = float64(len(g.Queue())) / float64(cap(g.Queue()))
	}
	for _, p := range m.partitions() {
		_, usage := p.Queued()
		tm.OutputQueueUsage = max(tm.OutputQueueUsage, usage)
	}
	return tm
}

func clampMs(v float64) float64 { return min(max(v, 0), 1000) }

// metricsSample is the scrape-time view of a task.
func (t *task) metricsSample() metrics.TaskSample {
	m := t.m
	tm := t.sample(time.Now())
	m.mu.Lock()
	bin, bout := m.bin.Rate(), m.bout.Rate()
	m.mu.Unlock()
	s := metrics.TaskSample{JobID: t.ref().GetJobId(), JobName: t.graph.Name, Vertex: t.vertex.ID, TaskName: t.vertex.Name,
		Subtask: int(t.ref().GetSubtask()), Attempt: int(t.ref().GetAttempt()),
		RecordsIn: tm.RecordsIn, RecordsOut: tm.RecordsOut, BytesIn: tm.BytesIn, BytesOut: tm.BytesOut,
		RecordsInRate: tm.RecordsInPerSecond, RecordsOutRate: tm.RecordsOutPerSecond, BytesInRate: bin, BytesOutRate: bout,
		BusyMs: tm.BusyMsPerSecond, IdleMs: tm.IdleMsPerSecond, BackPressuredMs: tm.BackPressuredMsPerSecond,
		InPoolUsage: tm.InputQueueUsage, OutPoolUsage: tm.OutputQueueUsage,
		InputWatermark: tm.InputWatermark, OutputWatermark: tm.OutputWatermark}
	s.SpilledRecords, s.SpilledBytes, _ = t.res.Load().Spilled()
	if g := m.gate.Load(); g != nil {
		s.InputQueueLength = len(g.Queue())
	}
	for _, p := range m.partitions() {
		n, _ := p.Queued()
		s.OutputQueueLength += n
	}
	return s
}

// serveMetrics starts the TaskManager's /metrics listener on host:0 of its
// gRPC address (no fixed port: containers on one host never clash).
func (tm *TaskManager) serveMetrics() error {
	host, _, err := net.SplitHostPort(tm.Address())
	if err != nil {
		return fmt.Errorf("taskmanager: metrics listener: %w", err)
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return fmt.Errorf("taskmanager: metrics listener on %s: %w", host, err)
	}
	container := os.Getenv("CONTAINER_ID")
	app := ""
	if id, err := yarn.ParseContainerID(container); err == nil {
		app = id.Attempt.App.String()
	}
	reg, r := metrics.NewRegistry(map[string]string{metrics.LabelTaskManager: tm.opts.ResourceID,
		metrics.LabelApplication: app, metrics.LabelContainer: container})
	r.MustRegister(metrics.NewTaskCollector(tm.taskSamples))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	tm.metricsLis = lis
	tm.metricsServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// MetricsAddress is where the TaskManager serves /metrics ("" when it does not).
func (tm *TaskManager) MetricsAddress() string {
	if tm.metricsLis == nil {
		return ""
	}
	return tm.metricsLis.Addr().String()
}

func (tm *TaskManager) runMetrics() error {
	if tm.metricsServer == nil {
		return nil
	}
	if err := tm.metricsServer.Serve(tm.metricsLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("taskmanager: serve metrics: %w", err)
	}
	return nil
}

func (tm *TaskManager) taskSamples() []metrics.TaskSample {
	tm.mu.Lock()
	ts := make([]*task, 0, len(tm.tasks))
	for _, t := range tm.tasks {
		ts = append(ts, t)
	}
	tm.mu.Unlock()
	out := make([]metrics.TaskSample, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.metricsSample())
	}
	return out
}

func (s tmService) LogTail(_ context.Context, req *floepb.LogTailRequest) (*floepb.LogTailResponse, error) {
	path := s.tm.opts.LogFile
	if path == "" {
		return &floepb.LogTailResponse{}, nil
	}
	data, size, err := logging.Tail(path, req.GetMaxBytes())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "taskmanager log: %v", err)
	}
	return &floepb.LogTailResponse{Path: path, Data: data, Size: size}, nil
}

var processSamples = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/goal:bytes", "/sched/goroutines:goroutines", "/gc/cycles/total:gc-cycles"}

// processMetrics reads this process's memory and goroutines (runtime/metrics:
// no stop of the world) for the heartbeat.
func processMetrics() *floepb.ProcessMetrics {
	ss := make([]rtmetrics.Sample, len(processSamples))
	for i, n := range processSamples {
		ss[i].Name = n
	}
	rtmetrics.Read(ss)
	val := func(i int) int64 {
		if ss[i].Value.Kind() == rtmetrics.KindUint64 {
			return int64(ss[i].Value.Uint64())
		}
		return 0
	}
	p := &floepb.ProcessMetrics{HeapBytes: val(0), HeapGoalBytes: val(1), Goroutines: val(2), GcCycles: val(3)}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil { // size resident ... in pages
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				p.RssBytes = pages * int64(os.Getpagesize())
			}
		}
	}
	return p
}

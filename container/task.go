package container

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/rpc/floepb"
)

// task runs one subtask attempt: it owns the attempt's output partitions,
// its input gate and the operator chain, all driven by one goroutine (run).
type task struct {
	tm     *TaskManager
	dep    *floepb.TaskDeployment
	vertex *jobgraph.Vertex
	graph  *jobgraph.JobGraph
	log    zerolog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	parts []*resultPartition
	m     *taskMetrics

	mail    *mailbox
	uploads sync.WaitGroup
	mu      sync.Mutex
	sc      *operator.SourceContext // source tasks: where mail goes
	chain   operator.Task
	// sourceDone: the source loop ended; it takes no more barriers.
	sourceDone bool
	// lastBarrier is the newest checkpoint this task has snapshotted (task goroutine only).
	lastBarrier int64
}

func (t *task) ref() *floepb.TaskRef { return t.dep.GetTask() }

// run executes the attempt and reports its final state to the JobManager.
func (t *task) run(ctx context.Context) {
	defer close(t.done)
	err := t.execute(ctx)
	t.uploads.Wait()
	state := floepb.TaskState_FINISHED
	var msg, detail string
	switch {
	case err == nil:
	case ctx.Err() != nil && (errors.Is(err, operator.ErrCanceled) || errors.Is(err, context.Canceled) || errors.Is(err, ErrPartitionReleased)):
		state = floepb.TaskState_CANCELED
	default:
		state = floepb.TaskState_FAILED
		msg = err.Error()
		if up, ok := errors.AsType[*operator.UserPanic](err); ok {
			detail = string(up.Stack)
		}
		t.log.Error().Err(err).Msg("task failed")
	}
	if state != floepb.TaskState_FINISHED {
		for _, p := range t.parts {
			p.release(fmt.Errorf("%w: producer %s", ErrPartitionReleased, state))
		}
	}
	in, out := t.m.recordsIn.Load(), t.m.recordsOut.Load()
	t.log.Debug().Str("state", state.String()).Int64("records_in", in).Int64("records_out", out).Msg("task ended")
	t.tm.reportState(&floepb.TaskStateUpdate{Task: t.ref(), State: state, Error: msg, ErrorDetail: detail,
		RecordsIn: in, RecordsOut: out})
}

func (t *task) execute(ctx context.Context) (err error) {
	cfg := t.graph.Config
	bufferTimeout, err := cfg.Duration(config.BufferTimeout, 100*time.Millisecond)
	if err != nil {
		return err
	}
	credits, err := cfg.Int(config.Credits, 4)
	if err != nil {
		return err
	}
	capacity, err := cfg.Int(config.QueueCapacity, 4)
	if err != nil {
		return err
	}

	info := operator.TaskInfo{
		JobID: t.ref().GetJobId(), Vertex: t.vertex.ID, Name: t.vertex.Name,
		Subtask: int(t.ref().GetSubtask()), Parallelism: int(t.dep.GetParallelism()),
		MaxParallelism: t.graph.MaxParallelism, Attempt: int(t.ref().GetAttempt()),
		Config: cfg, Log: t.log,
	}
	sinks := make([]network.ChannelSink, len(t.dep.GetOutputs()))
	for i, o := range t.dep.GetOutputs() {
		p := newResultPartition(keyOf(t.ref(), o.GetEdge()), int(o.GetSubpartitions()), max(capacity, 1), &t.tm.stats)
		t.tm.partitions.register(p)
		t.parts = append(t.parts, p)
		sinks[i] = meteredSink{sink{ctx: ctx, p: p}, t.m}
		info.Subpartitions = append(info.Subpartitions, int(o.GetSubpartitions()))
	}
	t.m.parts.Store(&t.parts)

	defer func() {
		if p := recover(); p != nil {
			err = operator.Recovered(p, t.vertex.Name)
		}
	}()
	chain, err := t.vertex.Build(info, sinks)
	if err != nil {
		return fmt.Errorf("build %q: %w", t.vertex.Name, err)
	}
	t.mu.Lock()
	t.chain = chain
	t.mu.Unlock()
	defer func() {
		if cerr := chain.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %q: %w", t.vertex.Name, cerr)
		}
	}()
	if err := t.restore(chain); err != nil {
		return err
	}
	if t.dep.GetRestoredCheckpoint() > 0 { // what the restored checkpoint left pending is now committed
		if err := chain.NotifyCheckpointComplete(t.dep.GetRestoredCheckpoint()); err != nil {
			return err
		}
	}

	if t.vertex.IsSource {
		sc, stop := operator.NewSourceContext(ctx, chain, tickInterval(bufferTimeout), bufferTimeout > 0)
		defer stop()
		t.mu.Lock()
		t.sc = sc
		t.mu.Unlock()
		t.mail.drain() // anything posted before the source loop existed
		t.tm.reportState(&floepb.TaskStateUpdate{Task: t.ref(), State: floepb.TaskState_RUNNING})
		err := chain.Run(ctx, sc)
		t.mu.Lock()
		t.sourceDone = true
		t.mu.Unlock()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", operator.ErrCanceled, ctx.Err())
		}
		return nil
	}
	t.tm.reportState(&floepb.TaskStateUpdate{Task: t.ref(), State: floepb.TaskState_RUNNING})
	return t.consume(ctx, chain, bufferTimeout, credits)
}

// consume is the loop of a task with network inputs.
func (t *task) consume(ctx context.Context, chain operator.Task, bufferTimeout time.Duration, credits int) error {
	gate, err := newInputGate(t.dep.GetInputs(), t.tm.dial, max(credits, 1), &t.tm.stats)
	if err != nil {
		return err
	}
	gctx, stopGate := context.WithCancel(ctx)
	gate.start(gctx)
	t.m.gate.Store(gate)
	defer func() {
		stopGate()
		gate.wait()
	}()

	decoders := make([]network.Decoder, len(gate.channels))
	open := map[int]int{} // open channels per input
	for i, ch := range gate.channels {
		d, err := chain.NewDecoder(ch.input)
		if err != nil {
			return fmt.Errorf("decoder for input %d: %w", ch.input, err)
		}
		decoders[i] = d
		open[ch.input]++
	}
	chanIndex := make(map[*inputChannel]int, len(gate.channels))
	for i, ch := range gate.channels {
		chanIndex[ch] = i
	}

	interval := tickInterval(bufferTimeout)
	tk := time.NewTicker(interval)
	defer tk.Stop()
	tick := tk.C
	// A processing-time timer due before the next tick wakes the task then.
	waker, _ := chain.(operator.TimerWaker)
	wake := time.NewTimer(time.Hour)
	wake.Stop()
	defer wake.Stop()
	remaining := len(gate.channels)
	align := newAligner(t.graph.Config)
	wms := watermarks{task: math.MinInt64}
	we, _ := chain.(operator.WatermarkEmitter)
	for _, ch := range gate.channels {
		ch.watermark = math.MinInt64
	}
	var ready []delivery // released after an alignment, processed before new ones
	for remaining > 0 {
		var d delivery
		if len(ready) > 0 {
			d, ready = ready[0], ready[1:]
		} else {
			var wakeC <-chan time.Time
			if waker != nil {
				if next := waker.NextTimer(); next != math.MaxInt64 {
					if wait := time.Until(time.UnixMilli(next)); wait < interval {
						wake.Reset(max(wait, 0))
						wakeC = wake.C
					}
				}
			}
			waitStart := t.m.waitStarts() // idle time: blocked here, measured per batch
			select {
			case d = <-gate.queue:
				t.m.idleSince(waitStart)
			case <-t.mail.signal:
				t.m.idleSince(waitStart)
				t.mail.drain()
				continue
			case <-tick:
				t.m.idleSince(waitStart)
				chain.Tick()
				if bufferTimeout > 0 {
					chain.Flush()
				}
				continue
			case <-wakeC:
				t.m.idleSince(waitStart)
				chain.Tick()
				if bufferTimeout > 0 {
					chain.Flush()
				}
				continue
			case <-gate.failed:
				return gate.err
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", operator.ErrCanceled, ctx.Err())
			}
		}
		{
			ch := d.ch
			if align.blocked(ch) {
				align.held[ch] = append(align.held[ch], d)
				continue
			}
			switch network.EventKind(d.msg.GetKind()) {
			case 0:
				n, err := decoders[chanIndex[ch]].Decode(d.msg.GetPayload())
				if err != nil {
					return fmt.Errorf("decode batch from vertex %d subtask %d: %w", ch.desc.GetProducer().GetVertex(), ch.desc.GetProducer().GetSubtask(), err)
				}
				t.m.recordsIn.Add(int64(n))
				t.m.bytesIn.Add(int64(len(d.msg.GetPayload())))
			case network.EndOfInput:
				ch.ended = true
				remaining--
				if open[ch.input]--; open[ch.input] == 0 {
					chain.EndInput(ch.input)
				}
				if align.complete(gate.channels) { // the last missing barrier will not come on this channel
					ready = append(ready, t.aligned(chain, align)...)
				}
				if remaining > 0 {
					wms.update(gate.channels, we)
				}
			case network.Barrier:
				t.m.barrierSeen(d.msg.GetValue())
				complete, released, abandoned := align.barrier(ch, d.msg.GetValue(), string(d.msg.GetPayload()), gate.channels)
				if abandoned != 0 {
					t.ackCheckpoint(abandoned, nil, fmt.Errorf("%scheckpoint %d abandoned: barrier %d arrived first", operator.DeclineNotReady, abandoned, d.msg.GetValue()))
				}
				ready = append(ready, released...)
				if complete {
					ready = append(ready, t.aligned(chain, align)...)
				}
			case network.Watermark:
				ch.watermark = max(ch.watermark, d.msg.GetValue())
				wms.update(gate.channels, we)
				t.m.inWatermark.Store(wms.task)
			case network.WatermarkStatus:
				ch.idle = d.msg.GetValue() == 1
				wms.update(gate.channels, we)
			}
			t.tm.stats.add(-int64(len(d.msg.GetPayload())))
			if !ch.ended {
				ch.release()
			}
			if bufferTimeout == 0 {
				chain.Flush()
			}
		}
	}
	return nil
}

// tickInterval is how often a task flushes partly filled batches and lets
// its operators act on time (watermark generators, processing-time timers):
// the buffer timeout, or 50 ms when every record is sent at once.
func tickInterval(bufferTimeout time.Duration) time.Duration {
	if bufferTimeout > 0 {
		return bufferTimeout
	}
	return 50 * time.Millisecond
}

// watermarks tracks a task's event time: the least watermark of the channels
// that are neither ended nor idle. It only moves forward. When every open
// channel is idle the task is idle too and says so downstream, so that it
// holds no consumer back either.
type watermarks struct {
	task int64
	idle bool
}

func (w *watermarks) update(chs []*inputChannel, we operator.WatermarkEmitter) {
	wm, active := int64(math.MaxInt64), false
	for _, ch := range chs {
		if !ch.ended && !ch.idle {
			wm, active = min(wm, ch.watermark), true
		}
	}
	if we == nil {
		return
	}
	if idle := !active; idle != w.idle {
		w.idle = idle
		we.EmitWatermarkStatus(idle)
	}
	if active && wm > w.task {
		w.task = wm
		we.EmitWatermark(wm)
	}
}

// aligned runs when every input delivered the barrier being aligned: the
// task snapshots, forwards the barrier and returns the held messages.
func (t *task) aligned(chain operator.Task, align *aligner) []delivery {
	id, dir := align.current, align.dir
	t.m.aligned(id)
	var err error
	if dir == "" {
		dir, err = t.checkpointDir(id)
	}
	if err != nil {
		t.ackCheckpoint(id, nil, err)
	} else {
		t.takeCheckpoint(chain, id, dir)
	}
	return align.release()
}

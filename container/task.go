package container

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"floe/checkpoint"
	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/mailbox"
	"floe/internal/rpc/floepb"
	"floe/internal/spill"
)

// task runs one subtask attempt: it owns the attempt's output partitions,
// its input gate and the operator chain, all driven by one goroutine (run).
type task struct {
	tm     *TaskManager
	jm     *jmLink // the JobManager that deployed it: where it reports
	dep    *floepb.TaskDeployment
	vertex *jobgraph.Vertex
	graph  *jobgraph.JobGraph
	log    zerolog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	parts    []*network.ResultPartition
	blocking []*network.BlockingPartition // BATCH mode's outputs, finished when the task is
	m        *taskMetrics
	res      atomic.Pointer[spill.Task] // the spilling operators' memory and counters, set when the chain is built

	mail    mailbox.Mailbox[func()]
	uploads sync.WaitGroup
	mu      sync.Mutex
	sc      *operator.SourceContext // source tasks: where mail goes
	chain   operator.Task
	// sourceDone: the source loop ended; it takes no more barriers.
	sourceDone bool
	// closing: run is waiting for the uploads; no new one may join (a
	// WaitGroup must not go up from zero while someone waits on it).
	closing bool
	// lastBarrier is the newest checkpoint this task has snapshotted (task goroutine only).
	lastBarrier int64
}

func (t *task) ref() *floepb.TaskRef { return t.dep.GetTask() }

// run executes the attempt and reports its final state to the JobManager.
func (t *task) run(ctx context.Context) {
	defer close(t.done)
	err := t.execute(ctx)
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	t.uploads.Wait()
	state := floepb.TaskState_FINISHED
	var msg, detail string
	switch {
	case err == nil:
	case ctx.Err() != nil && (errors.Is(err, operator.ErrCanceled) || errors.Is(err, context.Canceled) || errors.Is(err, network.ErrPartitionReleased)):
		state = floepb.TaskState_CANCELED
	default:
		state = floepb.TaskState_FAILED
		msg = err.Error()
		if up, ok := errors.AsType[*operator.UserPanic](err); ok {
			detail = string(up.Stack)
		}
		t.log.Error().Err(err).Msg("task failed")
	}
	if state == floepb.TaskState_FINISHED {
		// Consumers of blocking partitions are deployed once this task has
		// reported FINISHED: the files are complete before that.
		for _, b := range t.blocking {
			if ferr := b.Finish(); ferr != nil {
				state, msg = floepb.TaskState_FAILED, ferr.Error()
				t.log.Error().Err(ferr).Msg("task failed")
				break
			}
		}
	}
	if state != floepb.TaskState_FINISHED {
		for _, p := range t.parts {
			p.Release(fmt.Errorf("%w: producer %s", network.ErrPartitionReleased, state))
		}
		for _, b := range t.blocking {
			b.Release(fmt.Errorf("%w: producer %s", network.ErrPartitionReleased, state))
		}
	}
	in, out := t.m.recordsIn.Load(), t.m.recordsOut.Load()
	var skipped int64
	t.mu.Lock()
	if sc, ok := t.chain.(operator.SkipCounter); ok {
		skipped = sc.RecordsSkipped()
	}
	t.mu.Unlock()
	spilledRecords, spilledBytes, _ := t.res.Load().Spilled()
	t.log.Debug().Str("state", state.String()).Int64("records_in", in).Int64("records_out", out).
		Int64("spilled_records", spilledRecords).Int64("spilled_bytes", spilledBytes).Msg("task ended")
	t.tm.reportState(t.jm, &floepb.TaskStateUpdate{Task: t.ref(), State: state, Error: msg, ErrorDetail: detail,
		RecordsIn: in, RecordsOut: out, RecordsSkipped: skipped,
		BytesIn: t.m.bytesIn.Load(), BytesOut: t.m.bytesOut.Load(),
		SpilledRecords: spilledRecords, SpilledBytes: spilledBytes})
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
	if t.vertex.Splits != nil {
		info.Splits = newSplitRequester(t)
	}
	res := t.taskResources(cfg)
	t.res.Store(res)
	info.Context = spill.WithTask(ctx, res)
	sinks := make([]network.ChannelSink, len(t.dep.GetOutputs()))
	for i, o := range t.dep.GetOutputs() {
		if o.GetBlocking() {
			key := network.KeyOf(t.ref(), o.GetEdge())
			b, err := network.NewBlockingPartition(key, int(o.GetSubpartitions()), t.tm.exchangeDir(key))
			if err != nil {
				return err
			}
			t.tm.partitions.RegisterBlocking(b)
			t.blocking = append(t.blocking, b)
			sinks[i] = meteredSink{sink: b, m: t.m}
			info.Subpartitions = append(info.Subpartitions, int(o.GetSubpartitions()))
			continue
		}
		p := network.NewResultPartition(network.KeyOf(t.ref(), o.GetEdge()), int(o.GetSubpartitions()), max(capacity, 1), &t.tm.stats)
		t.tm.partitions.Register(p)
		t.parts = append(t.parts, p)
		sinks[i] = meteredSink{sink: p.Sink(ctx), p: p, m: t.m}
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
		mailbox.Drain(&t.mail) // anything posted before the source loop existed
		t.tm.reportState(t.jm, &floepb.TaskStateUpdate{Task: t.ref(), State: floepb.TaskState_RUNNING})
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
	t.tm.reportState(t.jm, &floepb.TaskStateUpdate{Task: t.ref(), State: floepb.TaskState_RUNNING})
	return t.consume(ctx, chain, bufferTimeout, credits)
}

// consume is the loop of a task with network inputs.
func (t *task) consume(ctx context.Context, chain operator.Task, bufferTimeout time.Duration, credits int) error {
	gate, err := network.NewInputGate(t.dep.GetInputs(), t.tm.dial, max(credits, 1), &t.tm.stats)
	if err != nil {
		return err
	}
	gctx, stopGate := context.WithCancel(ctx)
	gate.Start(gctx)
	t.m.gate.Store(gate)
	defer func() {
		stopGate()
		gate.Wait()
	}()

	channels := gate.Channels()
	decoders := make([]network.Decoder, len(channels))
	open := map[int]int{} // open channels per input
	for i, ch := range channels {
		d, err := chain.NewDecoder(ch.Input())
		if err != nil {
			return fmt.Errorf("decoder for input %d: %w", ch.Input(), err)
		}
		decoders[i] = d
		open[ch.Input()]++
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
	remaining := len(channels)
	align := network.NewAligner(t.graph.Config.String(checkpoint.KeyMode, string(checkpoint.ExactlyOnce)) != string(checkpoint.AtLeastOnce))
	wms := network.NewWatermarks()
	we, _ := chain.(operator.WatermarkEmitter)
	queue, failed := gate.Queue(), gate.Failed()
	var ready []network.Delivery // released after an alignment, processed before new ones
	mail := t.mail.Signal()
	for remaining > 0 {
		var d network.Delivery
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
			case d = <-queue:
				t.m.idleSince(waitStart)
			case <-mail:
				t.m.idleSince(waitStart)
				mailbox.Drain(&t.mail)
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
			case <-failed:
				return gate.Err()
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", operator.ErrCanceled, ctx.Err())
			}
		}
		{
			ch := d.Channel
			if align.Blocked(ch) {
				align.Hold(d)
				continue
			}
			switch network.EventKind(d.Msg.GetKind()) {
			case 0:
				n, err := decoders[ch.Index()].Decode(d.Msg.GetPayload())
				if err != nil {
					return fmt.Errorf("decode batch from vertex %d subtask %d: %w", ch.Producer().GetVertex(), ch.Producer().GetSubtask(), err)
				}
				t.m.recordsIn.Add(int64(n))
				t.m.bytesIn.Add(int64(len(d.Msg.GetPayload())))
			case network.EndOfInput:
				ch.End()
				remaining--
				if open[ch.Input()]--; open[ch.Input()] == 0 {
					chain.EndInput(ch.Input())
				}
				if align.Complete(channels) { // the last missing barrier will not come on this channel
					ready = append(ready, t.aligned(chain, align)...)
				}
				if remaining > 0 {
					emitWatermarks(wms.Update(channels), we)
				}
			case network.Barrier:
				t.m.barrierSeen(d.Msg.GetValue())
				complete, released, abandoned := align.Barrier(ch, d.Msg.GetValue(), string(d.Msg.GetPayload()), channels)
				if abandoned != 0 {
					t.ackCheckpoint(abandoned, nil, fmt.Errorf("%scheckpoint %d abandoned: barrier %d arrived first", operator.DeclineNotReady, abandoned, d.Msg.GetValue()))
				}
				ready = append(ready, released...)
				if complete {
					ready = append(ready, t.aligned(chain, align)...)
				}
			case network.Watermark:
				ch.AdvanceWatermark(d.Msg.GetValue())
				emitWatermarks(wms.Update(channels), we)
				t.m.inWatermark.Store(wms.Task())
			case network.WatermarkStatus:
				ch.SetIdle(d.Msg.GetValue() == 1)
				emitWatermarks(wms.Update(channels), we)
			}
			t.tm.stats.Add(-int64(len(d.Msg.GetPayload())))
			if !ch.Ended() {
				ch.Release()
			}
			if bufferTimeout == 0 {
				chain.Flush()
			}
		}
	}
	return nil
}

// emitWatermarks sends what the task's watermark tracking decided into the chain.
func emitWatermarks(u network.WatermarkUpdate, we operator.WatermarkEmitter) {
	if we == nil {
		return
	}
	if u.StatusChanged {
		we.EmitWatermarkStatus(u.Idle)
	}
	if u.Advanced {
		we.EmitWatermark(u.Watermark)
	}
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

// aligned runs when every input delivered the barrier being aligned: the
// task snapshots, forwards the barrier and returns the held messages.
func (t *task) aligned(chain operator.Task, align *network.Aligner) []network.Delivery {
	id, dir := align.Current()
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
	return align.Release()
}

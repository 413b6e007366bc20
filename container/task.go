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
	avail    *network.Availability        // whether parts have room: the task waits for it between records
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

	partEdges []int32 // the edge of each of parts
	// unaligned checkpoints are on; alignTimeout: after how long an
	// alignment switches to unaligned (0: unaligned from the first barrier).
	unaligned    bool
	alignTimeout time.Duration
	// recovered is the input channel state restored, replayed by consume first.
	recovered []network.ChannelState
	// capture is the unaligned checkpoint whose input channel state is being
	// recorded (task goroutine only).
	capture *channelCapture
	// recordInputs starts recording the input part of an unaligned
	// checkpoint's channel state (tasks with inputs; task goroutine only).
	recordInputs func(id int64) *network.InputRecording
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
	if t.unaligned, err = cfg.Bool(checkpoint.KeyUnaligned, false); err != nil {
		return err
	}
	if t.alignTimeout, err = cfg.Duration(checkpoint.KeyAlignedTimeout, 0); err != nil {
		return err
	}
	if t.unaligned && cfg.String(checkpoint.KeyMode, string(checkpoint.ExactlyOnce)) == string(checkpoint.AtLeastOnce) {
		t.unaligned = false // at-least-once aligns nothing: no channel state needed
	}

	info := operator.TaskInfo{
		JobID: t.ref().GetJobId(), Vertex: t.vertex.ID, Name: t.vertex.Name,
		Subtask: int(t.ref().GetSubtask()), Parallelism: int(t.dep.GetParallelism()),
		MaxParallelism: t.graph.MaxParallelism, Attempt: int(t.ref().GetAttempt()),
		Config: cfg, Log: t.log, Running: new(operator.Running),
		StateOperators: t.graph.StateOperatorsInSlot(t.vertex.ID, int(t.ref().GetSubtask())),
	}
	if t.vertex.Splits != nil {
		info.Splits = newSplitRequester(t)
	}
	res := t.taskResources(cfg)
	t.res.Store(res)
	info.Context = spill.WithTask(ctx, res)
	sinks := make([]network.ChannelSink, len(t.dep.GetOutputs()))
	t.avail = network.NewAvailability()
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
		p.Track(t.avail)
		t.tm.partitions.Register(p)
		t.parts = append(t.parts, p)
		t.partEdges = append(t.partEdges, o.GetEdge())
		sinks[i] = meteredSink{sink: p.Sink(ctx), p: p, m: t.m}
		info.Subpartitions = append(info.Subpartitions, int(o.GetSubpartitions()))
	}
	t.m.parts.Store(&t.parts)
	// Recovered output goes out before anything the new attempt sends.
	if err := t.restoreChannels(); err != nil {
		return err
	}

	defer func() {
		if p := recover(); p != nil {
			err = operator.Recovered(p, t.vertex.Name, info.Running)
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
		if len(t.dep.GetInputs()) > 0 {
			// A BATCH source chained into a two-input operator (a broadcast
			// hash join's probe side): the other input is read whole first.
			t.tm.reportState(t.jm, &floepb.TaskStateUpdate{Task: t.ref(), State: floepb.TaskState_RUNNING})
			if err := t.consume(ctx, chain, bufferTimeout, credits); err != nil {
				return err
			}
		} else {
			t.tm.reportState(t.jm, &floepb.TaskStateUpdate{Task: t.ref(), State: floepb.TaskState_RUNNING})
		}
		sc, stop := operator.NewSourceContext(ctx, chain, tickInterval(bufferTimeout), bufferTimeout > 0)
		defer stop()
		sc.AwaitOutput(t.avail, t.m.backPressured)
		t.mu.Lock()
		t.sc = sc
		t.mu.Unlock()
		mailbox.Drain(&t.mail) // anything posted before the source loop existed
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
	// BATCH mode: the inputs the chain wants first are read to their end
	// while the others' deliveries wait (each channel stops at its credits).
	first := map[int]bool{}
	if o, ok := chain.(operator.InputOrderer); ok && t.graph.Batch() {
		for _, i := range o.FirstInputs() {
			first[i] = true
		}
	}
	firstOpen := 0
	for _, ch := range channels {
		if first[ch.Input()] {
			firstOpen++
		}
	}
	var held []network.Delivery

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
	// released after an alignment, processed before new ones; first of all
	// the restored input channel state.
	ready, err := network.Recovered(channels, t.recovered)
	if err != nil {
		return err
	}
	t.recovered = nil
	replay := make([]*network.ReplayDecoder, len(channels)) // recovered data, by channel
	t.recordInputs = func(id int64) *network.InputRecording { return gate.Record(id, align.Arrived, ready) }
	defer func() {
		t.capture.fail(errors.New("the task ended before every input delivered the barrier"))
		t.capture = nil
		t.recordInputs = nil
	}()
	// The aligned checkpoint that switches to unaligned when alignTimer fires.
	alignTimer := time.NewTimer(time.Hour)
	alignTimer.Stop()
	defer alignTimer.Stop()
	var alignC <-chan time.Time
	var timedID int64
	alignTimedOut := func() {
		alignC = nil
		if cur, _ := align.Current(); cur == timedID && !align.Unaligned() {
			t.log.Debug().Int64("checkpoint", cur).Dur("timeout", t.alignTimeout).Msg("alignment timed out: checkpoint switches to unaligned")
			ready = append(ready, t.unalign(chain, align)...)
			if align.Complete(channels) {
				ready = append(ready, t.alignDone(chain, align, channels)...)
			}
		}
	}
	mail, prio := t.mail.Signal(), gate.Priority()
	for remaining > 0 {
		if gate.PriorityPending() {
			t.announced(chain, align, gate)
		}
		// Between two messages: while an output queue is full, wait here
		// (not inside a push, in the middle of a message) and take
		// checkpoints meanwhile.
		if !t.avail.Available() {
			waitStart := time.Now()
			select {
			case <-t.avail.Space():
			case <-mail:
				mailbox.Drain(&t.mail)
			case <-prio:
			case <-alignC:
				alignTimedOut()
			case <-failed:
				return gate.Err()
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", operator.ErrCanceled, ctx.Err())
			}
			t.m.backPressured(time.Since(waitStart))
			continue
		}
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
			case <-prio:
				t.m.idleSince(waitStart)
				continue
			case <-alignC:
				alignTimedOut()
				continue
			case <-failed:
				return gate.Err()
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", operator.ErrCanceled, ctx.Err())
			}
		}
		{
			ch := d.Channel
			if firstOpen > 0 && !first[ch.Input()] {
				held = append(held, d)
				continue
			}
			if align.Blocked(ch) {
				align.Hold(d)
				continue
			}
			if !d.Recovered {
				ch.Processed(d.Msg)
			}
			kind := network.EventKind(d.Msg.GetKind())
			switch kind {
			case 0:
				var n int
				var err error
				if v := d.Msg.GetValue(); v != 0 { // recovered channel state, sent again
					r := replay[ch.Index()]
					if r == nil {
						input := ch.Input()
						r = network.NewReplayDecoder(func() (network.Decoder, error) { return chain.NewDecoder(input) })
						replay[ch.Index()] = r
					}
					n, err = r.Decode(d.Msg.GetPayload(), v == network.RecoveredStart)
				} else {
					n, err = decoders[ch.Index()].Decode(d.Msg.GetPayload())
				}
				if err != nil {
					return fmt.Errorf("decode batch from vertex %d subtask %d: %w", ch.Producer().GetVertex(), ch.Producer().GetSubtask(), err)
				}
				t.m.recordsIn.Add(int64(n))
				t.m.bytesIn.Add(int64(len(d.Msg.GetPayload())))
			case network.EndOfInput:
				ch.End()
				remaining--
				if first[ch.Input()] {
					if firstOpen--; firstOpen == 0 {
						ready = append(ready, held...)
						held = nil
					}
				}
				if open[ch.Input()]--; open[ch.Input()] == 0 {
					chain.EndInput(ch.Input())
				}
				if align.Complete(channels) { // the last missing barrier will not come on this channel
					ready = append(ready, t.alignDone(chain, align, channels)...)
				}
				if remaining > 0 {
					emitWatermarks(wms.Update(channels), we)
				}
			case network.Barrier:
				id, dir := d.Msg.GetValue(), string(d.Msg.GetPayload())
				t.m.barrierSeen(id)
				prev, _ := align.Current()
				complete, released, abandoned := align.Barrier(ch, id, dir, channels)
				if abandoned != 0 {
					err := fmt.Errorf("%scheckpoint %d abandoned: barrier %d arrived first", operator.DeclineNotReady, abandoned, id)
					if t.capture != nil && t.capture.id == abandoned { // its upload declines it
						t.capture.fail(err)
						t.capture = nil
					} else {
						t.ackCheckpoint(abandoned, nil, err)
					}
				}
				ready = append(ready, released...)
				if cur, _ := align.Current(); cur == id && cur != prev && t.unaligned && checkpoint.IsCheckpointDir(dir, id) {
					// The first barrier of a checkpoint. Released messages came
					// before it unprocessed: this checkpoint stays aligned.
					switch {
					case t.alignTimeout == 0 && len(released) == 0:
						ready = append(ready, t.unalign(chain, align)...)
					case t.alignTimeout > 0:
						alignTimer.Reset(t.alignTimeout)
						alignC, timedID = alignTimer.C, id
					}
				}
				if complete {
					ready = append(ready, t.alignDone(chain, align, channels)...)
				}
			case network.Watermark:
				ch.AdvanceWatermark(d.Msg.GetValue())
				emitWatermarks(wms.Update(channels), we)
				t.m.inWatermark.Store(wms.Task())
			case network.WatermarkStatus:
				ch.SetIdle(d.Msg.GetValue() == 1)
				emitWatermarks(wms.Update(channels), we)
			}
			if !d.Recovered {
				t.tm.stats.Add(-int64(len(d.Msg.GetPayload())))
				d.Recycle()
				if !ch.Ended() && d.Msg.GetFlags()&network.FlagPriority == 0 { // a priority barrier took no credit
					ch.Release()
				}
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

// announced starts the unaligned checkpoints whose priority barriers
// arrived ahead of the messages the task still has queued: the task
// snapshots now, and each channel's messages until that barrier comes in
// its order are recorded as channel state.
//
// An unaligned checkpoint whose channel state is complete, but whose
// barriers the task has not all processed in order yet, gives way to the
// newer one (its ack went or goes with its upload).
func (t *task) announced(chain operator.Task, align *network.Aligner, gate *network.InputGate) {
	for _, d := range gate.TakePriority() {
		id, dir := d.Msg.GetValue(), string(d.Msg.GetPayload())
		if !t.unalignedFor(id, dir) {
			continue
		}
		if cur, _ := align.Current(); cur != 0 && cur < id && align.Unaligned() && t.capture != nil && t.capture.id == cur && recorded(t.capture) {
			align.Release() // unaligned: nothing is held
			t.capture = nil
		}
		if !align.Announce(id, dir) {
			continue
		}
		t.m.barrierSeen(id)
		t.unalign(chain, align) // nothing was held: no checkpoint was in progress
	}
}

// recorded reports whether c's input part is complete.
func recorded(c *channelCapture) bool {
	select {
	case <-c.in.Done():
		return true
	default:
		return false
	}
}

// unalign takes the current checkpoint unaligned: the task snapshots now
// and sends the barrier ahead of its queued output; it returns the messages
// held so far (they follow the barrier), and the aligner records the inputs
// still missing the barrier.
func (t *task) unalign(chain operator.Task, align *network.Aligner) []network.Delivery {
	id, dir := align.Current()
	held := align.Unalign()
	t.m.aligned(id)
	t.takeCheckpoint(chain, id, dir, true)
	return held
}

// alignDone runs when every open input delivered the current barrier: an
// aligned checkpoint is taken now; an unaligned one's channel state is
// complete.
func (t *task) alignDone(chain operator.Task, align *network.Aligner, channels []*network.InputChannel) []network.Delivery {
	if !align.Unaligned() {
		return t.aligned(chain, align)
	}
	id, _ := align.Current()
	if t.capture != nil && t.capture.id == id { // every barrier came: its recording is complete
		t.capture = nil
	}
	return align.Release()
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
		t.takeCheckpoint(chain, id, dir, false)
	}
	return align.Release()
}

package operator

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"floe/config"
	"floe/container/network"
	"floe/internal/mailbox"
)

// TaskInfo describes the subtask a chain is built for.
type TaskInfo struct {
	JobID          string
	Vertex         int
	Name           string // the chain's name, e.g. "Source: words -> Map"
	Subtask        int
	Parallelism    int
	MaxParallelism int
	Attempt        int
	Config         config.Config
	Log            zerolog.Logger
	// Subpartitions[i] is the number of channels of the vertex's output edge i.
	Subpartitions []int
	// SideOutputs holds, while one operator is built, the network.Output[X]
	// of each of its side outputs by tag.
	SideOutputs map[string]any
	// Context is the task's context: done when the task is cancelled; it
	// carries what the TaskManager lends the task's operators (the managed
	// memory and spill directories of batch operators: spill.TaskFrom).
	// Nil when the chain is built outside a TaskManager.
	Context context.Context
	// Splits, for a vertex with input splits (jobgraph.Vertex.Splits), asks
	// the JobManager for the subtask's next split.
	Splits SplitRequester
	// StateOperators is the number of operators with keyed state in the
	// task's slot (jobgraph.JobGraph.StateOperatorsInSlot), which split its
	// managed memory; 0 outside a TaskManager (one).
	StateOperators int
	// Running is shared by the operators of the task's chain: the one whose
	// user function runs, for the report of a panic (nil outside a task:
	// Runner).
	Running *Running
}

// SplitRequester asks the JobManager for a file source subtask's next input
// split: splits are handed out on demand, so a fast subtask reads more. It
// is used by the task's goroutine only.
type SplitRequester interface {
	// NextSplit reports the splits the subtask finished since its last
	// call and returns the index of its next split, or ok false when none
	// is left. lastCheckpoint is the newest checkpoint the subtask has
	// snapshotted (0: none): a split handed out after the JobManager's part
	// of a checkpoint but before the subtask's is the subtask's in it.
	NextSplit(ctx context.Context, finished []int, lastCheckpoint int64) (split int, ok bool, err error)
}

// Task is a vertex's operator chain built for one subtask.
type Task interface {
	// Run drives a source chain until its input ends (then it has emitted
	// EndOfInput downstream) or ctx is done. Non-source tasks return nil at once.
	Run(ctx context.Context, sc *SourceContext) error
	// NewDecoder returns a decoder for one channel of input i.
	NewDecoder(input int) (network.Decoder, error)
	// EndInput is called once every channel of input i has ended.
	EndInput(input int)
	// Flush sends partly filled batches (the buffer timeout fired).
	Flush()
	// Tick lets the chain's operators act on time (watermark generators,
	// processing-time timers); it is called periodically.
	Tick()
	// Close releases the task's resources; it is called once, after Run or
	// after the last input ended, also after a failure.
	Close() error
	// Counters.
	RecordsOut() int64
	Checkpointer
}

// InputOrderer is implemented by tasks that want some of their inputs read
// to their end before any record of the others (a hash join's build side
// before its probe side). The task loop honours it in BATCH mode only,
// where every input is a finished blocking partition, so holding one back
// cannot deadlock. A source task with inputs reads all of them before its
// source runs.
type InputOrderer interface {
	// FirstInputs are the input indices to read first (nil: none).
	FirstInputs() []int
}

// SkipCounter is implemented by tasks whose sources skip malformed input
// records: the count goes to the JobManager with the task's final state.
type SkipCounter interface {
	RecordsSkipped() int64
}

// SourceContext is what a source's loop consults between records: whether it
// must stop, and whether partly filled batches are due to be sent.
type SourceContext struct {
	flushDue atomic.Bool
	flush    bool // flush on the tick, besides ticking
	stopped  atomic.Bool
	mail     mailbox.Mailbox[func()]
	ctx      context.Context
	task     Task
	out      *network.Availability
	waited   func(time.Duration)
}

// AwaitOutput makes Poll wait while a reports a full output queue (the
// next record's push could block), running mail meanwhile: a checkpoint
// trigger is taken between two records even when the source is
// back-pressured. waited, when set, gets each wait's duration. Call it
// before the source runs.
func (sc *SourceContext) AwaitOutput(a *network.Availability, waited func(time.Duration)) {
	sc.out, sc.waited = a, waited
}

// Post runs fn on the source's goroutine at its next Poll (between two
// records): checkpoint barriers and checkpoint notifications come this way.
// Safe for concurrent use.
func (sc *SourceContext) Post(fn func()) { sc.mail.Post(fn) }

// NewSourceContext returns a context whose flag is raised every interval
// (interval <= 0: never) until ctx ends; call the returned stop when done.
// At each, the source's Poll ticks the task, and flushes it when flush is set.
func NewSourceContext(ctx context.Context, task Task, interval time.Duration, flush bool) (*SourceContext, func()) {
	sc := &SourceContext{ctx: ctx, task: task, flush: flush}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var tick <-chan time.Time
		if interval > 0 {
			t := time.NewTicker(interval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-tick:
				sc.flushDue.Store(true)
			case <-ctx.Done():
				sc.stopped.Store(true)
				<-done
				return
			case <-done:
				return
			}
		}
	}()
	return sc, func() { close(done); <-finished }
}

// Poll flushes due batches and reports whether the source must stop. Sources
// call it between records; it costs two atomic loads when nothing is due.
func (sc *SourceContext) Poll() (stop bool) {
	sc.awaitOutput()
	if sc.flushDue.Load() {
		sc.flushDue.Store(false)
		sc.task.Tick()
		if sc.flush {
			sc.task.Flush()
		}
		sc.awaitOutput()
	}
	if sc.mail.Pending() {
		mailbox.Drain(&sc.mail)
	}
	return sc.stopped.Load()
}

// awaitOutput waits until every output subpartition has room, running mail
// meanwhile; it returns early once the task is cancelled.
func (sc *SourceContext) awaitOutput() {
	if sc.out == nil || sc.out.Available() {
		return
	}
	start := time.Now()
	mail := sc.mail.Signal()
	for !sc.out.Available() {
		select {
		case <-sc.out.Space():
		case <-mail:
			mailbox.Drain(&sc.mail)
		case <-sc.ctx.Done():
			sc.stopped.Store(true)
			return
		}
	}
	if sc.waited != nil {
		sc.waited(time.Since(start))
	}
}

// Context is the task's context, for sources that block (sleep, read).
func (sc *SourceContext) Context() context.Context { return sc.ctx }

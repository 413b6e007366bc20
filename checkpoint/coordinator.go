package checkpoint

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// Vertex describes a vertex of the job to the coordinator.
type Vertex struct {
	ID          int
	Parallelism int
	// Source: barriers are injected at this vertex's tasks.
	Source bool
	// Operators holds the uids of the operators chained in the vertex.
	Operators []string
}

// Job is what the coordinator knows of the job.
type Job struct {
	ID string
	// Dir is the job's checkpoint directory, JobDir(Config.Dir, ID): a
	// path or URI that every process can open with OpenFS.
	Dir            string
	MaxParallelism int
	Vertices       []Vertex
}

// CoordinatorOption configures NewCoordinator.
type CoordinatorOption func(*Coordinator)

// WithNextID makes checkpoint ids start at id, e.g. NextID of the job
// directory's entries when a JobManager restarts, so no chk-<n> is reused.
func WithNextID(id int64) CoordinatorOption {
	return func(c *Coordinator) { c.nextID = max(c.nextID, id) }
}

// WithCompleted tells the coordinator of completed checkpoints already in
// the job directory, so that retention deletes them in time.
func WithCompleted(ids ...int64) CoordinatorOption {
	return func(c *Coordinator) {
		for _, id := range ids {
			c.addCompleted(id)
			c.nextID = max(c.nextID, id+1)
			c.lastSucceeded = max(c.lastSucceeded, id)
		}
	}
}

// Coordinator decides when checkpoints start, complete and fail. It is a
// state machine: it does no I/O, starts no goroutines and reads no clock.
// Its owner (the JobManager) feeds it events with Step and carries out the
// actions Step returns, in order; the outcome of some actions comes back as
// events (WriteMetadata -> MetadataWritten). It is not safe for concurrent
// use: one goroutine owns it.
type Coordinator struct {
	cfg     Config
	job     Job
	tasks   []TaskID // all tasks, sorted
	sources []TaskID
	// vertexOps[v] is the set of operator uids of vertex v.
	vertexOps map[int]map[string]bool
	vertexPar map[int]int

	nextID        int64
	pending       map[int64]*pending
	completed     []int64          // retained checkpoints, ascending
	aborted       map[int64]string // recently aborted checkpoints' dirs, for late acks
	running       bool             // all tasks running; periodic triggers allowed
	stopping      bool             // a stop-with-savepoint is under way or done
	ended         bool
	endDiscards   bool // the job ended in a status that deletes its checkpoints
	jobDiscarded  bool
	lastEnd       time.Time // end of the last checkpoint, completed or not
	nextTrigger   time.Time
	failures      int // consecutive counted failures
	lastSucceeded int64

	out []Action
}

type pending struct {
	id         int64
	kind       Kind
	ts         time.Time
	deadline   time.Time
	dir        string
	ref        string // savepoint request
	stop       bool
	waiting    map[TaskID]bool
	states     map[string]map[int]SubtaskState // uid -> subtask -> state
	finalizing bool                            // WriteMetadata issued
}

// NewCoordinator returns the coordinator of job. Periodic checkpoints start
// with the first TasksRunning event when cfg.Interval > 0.
func NewCoordinator(cfg Config, job Job, opts ...CoordinatorOption) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if job.Dir == "" && cfg.Enabled() {
		return nil, fmt.Errorf("checkpoint: job %s: periodic checkpoints need a directory (%s)", job.ID, KeyDir)
	}
	if job.MaxParallelism < 1 || job.MaxParallelism > MaxMaxParallelism {
		return nil, fmt.Errorf("%w: job %s: max parallelism %d, want 1..%d", ErrParallelism, job.ID, job.MaxParallelism, MaxMaxParallelism)
	}
	c := &Coordinator{
		cfg:       cfg,
		job:       job,
		vertexOps: map[int]map[string]bool{},
		vertexPar: map[int]int{},
		nextID:    1,
		pending:   map[int64]*pending{},
		aborted:   map[int64]string{},
	}
	uids := map[string]int{}
	for _, v := range job.Vertices {
		if _, dup := c.vertexPar[v.ID]; dup {
			return nil, fmt.Errorf("checkpoint: job %s: vertex %d listed twice", job.ID, v.ID)
		}
		if v.Parallelism < 1 || v.Parallelism > job.MaxParallelism {
			return nil, fmt.Errorf("%w: job %s: vertex %d has parallelism %d, want 1..%d", ErrParallelism, job.ID, v.ID, v.Parallelism, job.MaxParallelism)
		}
		c.vertexPar[v.ID] = v.Parallelism
		c.vertexOps[v.ID] = map[string]bool{}
		for _, uid := range v.Operators {
			if w, dup := uids[uid]; dup {
				return nil, fmt.Errorf("checkpoint: job %s: operator uid %q in vertices %d and %d", job.ID, uid, w, v.ID)
			}
			uids[uid] = v.ID
			c.vertexOps[v.ID][uid] = true
		}
		for i := range v.Parallelism {
			t := TaskID{v.ID, i}
			c.tasks = append(c.tasks, t)
			if v.Source {
				c.sources = append(c.sources, t)
			}
		}
	}
	if len(c.sources) == 0 {
		return nil, fmt.Errorf("checkpoint: job %s has no source vertex to inject barriers at", job.ID)
	}
	sort.Slice(c.tasks, func(i, j int) bool { return less(c.tasks[i], c.tasks[j]) })
	sort.Slice(c.sources, func(i, j int) bool { return less(c.sources[i], c.sources[j]) })
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func less(a, b TaskID) bool {
	return a.Vertex < b.Vertex || a.Vertex == b.Vertex && a.Subtask < b.Subtask
}

// Step applies ev at time now and returns the actions to carry out, in order.
func (c *Coordinator) Step(now time.Time, ev Event) []Action {
	c.out = nil
	if c.ended {
		// Only the outcome of metadata writes still matters.
		switch e := ev.(type) {
		case MetadataWritten:
			c.metadataWritten(now, e)
		case TriggerSavepoint:
			c.emit(SavepointDone{Ref: e.Ref, Err: fmt.Errorf("%w: savepoint not triggered", ErrJobEnded)})
		}
		return c.out
	}
	switch e := ev.(type) {
	case TasksRunning:
		c.abortAll(now, fmt.Errorf("%w: tasks restarted", ErrTaskFailed))
		c.running = true
		c.nextTrigger = now.Add(c.cfg.Interval)
		if e.Restored > 0 {
			c.nextID = max(c.nextID, e.Restored+1)
			c.emit(NotifyComplete{ID: e.Restored, Tasks: c.allTasks()})
		}
	case Tick:
		for _, p := range c.sortedPending() {
			if !p.finalizing && !now.Before(p.deadline) {
				c.abort(now, p, fmt.Errorf("%w: after %v, still waiting for %s", ErrExpired, c.cfg.Timeout, c.missing(p)), true)
			}
		}
	case Ack:
		c.ack(now, e)
	case Decline:
		p := c.pending[e.ID]
		if p == nil || p.finalizing || !p.waiting[e.Task] {
			break
		}
		reason := e.Err
		if reason == nil {
			reason = errors.New("no reason given")
		}
		c.abort(now, p, fmt.Errorf("%w: task %v: %w", ErrDeclined, e.Task, reason), !errors.Is(e.Err, ErrTaskNotReady))
	case MetadataWritten:
		c.metadataWritten(now, e)
	case TaskFailed:
		c.running = false
		c.abortAll(now, fmt.Errorf("%w: task %v: %v", ErrTaskFailed, e.Task, e.Err))
	case TriggerSavepoint:
		switch {
		case !c.running:
			c.emit(SavepointDone{Ref: e.Ref, Err: fmt.Errorf("%w: savepoint not triggered", ErrNotRunning)})
		case c.stopping:
			c.emit(SavepointDone{Ref: e.Ref, Err: ErrStopInProgress})
		case e.Dir == "":
			c.emit(SavepointDone{Ref: e.Ref, Err: fmt.Errorf("checkpoint: %w: no savepoint directory (give one or set %s)", ErrInvalidPath, KeySavepointDir)})
		default:
			c.stopping = e.Stop
			c.trigger(now, KindSavepoint, e.Dir, e.Ref, e.Stop)
		}
	case JobEnded:
		c.ended, c.running = true, false
		c.abortAll(now, fmt.Errorf("%w: %s", ErrJobEnded, e.Status))
		c.endDiscards = e.Status == Finished || e.Status == Cancelled && c.cfg.Retention == DeleteOnCancellation
		c.maybeDiscardJob()
		return c.out
	}
	c.maybeTrigger(now)
	return c.out
}

func (c *Coordinator) emit(a Action) { c.out = append(c.out, a) }

func (c *Coordinator) allTasks() []TaskID { return slices.Clone(c.tasks) }

// maxConcurrent is the limit on periodic checkpoints in flight: a minimum
// pause allows only one, as in Flink.
func (c *Coordinator) maxConcurrent() int {
	if c.cfg.MinPause > 0 {
		return 1
	}
	return c.cfg.MaxConcurrent
}

func (c *Coordinator) periodicInFlight() int {
	n := 0
	for _, p := range c.pending {
		if p.kind == KindCheckpoint {
			n++
		}
	}
	return n
}

// dueAt is when the next periodic checkpoint may start, false when none
// may start before some event.
func (c *Coordinator) dueAt() (time.Time, bool) {
	if !c.running || c.stopping || !c.cfg.Enabled() || c.periodicInFlight() >= c.maxConcurrent() {
		return time.Time{}, false
	}
	due := c.nextTrigger
	if !c.lastEnd.IsZero() {
		if earliest := c.lastEnd.Add(c.cfg.MinPause); earliest.After(due) {
			due = earliest
		}
	}
	return due, true
}

func (c *Coordinator) maybeTrigger(now time.Time) {
	if due, ok := c.dueAt(); ok && !now.Before(due) {
		c.nextTrigger = now.Add(c.cfg.Interval)
		c.trigger(now, KindCheckpoint, "", "", false)
	}
}

// NextDeadline is when the coordinator next needs a Tick: a timeout or a
// periodic trigger. false: not before another event.
func (c *Coordinator) NextDeadline() (time.Time, bool) {
	t, ok := c.dueAt()
	if c.ended {
		ok = false
	}
	for _, p := range c.pending {
		if !p.finalizing && (!ok || p.deadline.Before(t)) {
			t, ok = p.deadline, true
		}
	}
	return t, ok
}

func (c *Coordinator) trigger(now time.Time, kind Kind, dir, ref string, stop bool) {
	id := c.nextID
	c.nextID++
	if kind == KindCheckpoint {
		dir = CheckpointDir(c.job.Dir, id)
	}
	p := &pending{
		id: id, kind: kind, ts: now, deadline: now.Add(c.cfg.Timeout), dir: dir, ref: ref, stop: stop,
		waiting: make(map[TaskID]bool, len(c.tasks)),
		states:  map[string]map[int]SubtaskState{},
	}
	for _, t := range c.tasks {
		p.waiting[t] = true
	}
	c.pending[id] = p
	c.emit(InjectBarrier{ID: id, Kind: kind, Timestamp: now, Dir: dir, Stop: stop, Tasks: slices.Clone(c.sources)})
}

func (c *Coordinator) ack(now time.Time, e Ack) {
	p := c.pending[e.ID]
	if p == nil {
		// A task that finished uploading after the checkpoint was aborted
		// may have recreated files in its directory.
		if dir, ok := c.aborted[e.ID]; ok {
			c.emit(Discard{ID: e.ID, Dir: dir})
		}
		return
	}
	if p.finalizing || !p.waiting[e.Task] {
		return // duplicate, or not a task of this job
	}
	if err := c.checkAck(e); err != nil {
		c.abort(now, p, fmt.Errorf("%w: task %v: %w", ErrBadAck, e.Task, err), true)
		return
	}
	delete(p.waiting, e.Task)
	for uid, s := range e.State {
		if s.Empty() {
			continue
		}
		s = s.clone()
		s.Subtask = e.Task.Subtask
		relativizeSubtask(&s, p.dir)
		if p.states[uid] == nil {
			p.states[uid] = map[int]SubtaskState{}
		}
		p.states[uid][e.Task.Subtask] = s
	}
	if len(p.waiting) == 0 {
		c.finalize(now, p)
	}
}

func (c *Coordinator) checkAck(e Ack) error {
	for _, uid := range slices.Sorted(maps.Keys(e.State)) {
		if !c.vertexOps[e.Task.Vertex][uid] {
			return fmt.Errorf("state for operator %q, which is not in vertex %d", uid, e.Task.Vertex)
		}
		s := e.State[uid]
		s.Subtask = e.Task.Subtask
		if err := validateSubtask(s, c.vertexPar[e.Task.Vertex], c.job.MaxParallelism, map[string]Distribution{}); err != nil {
			return fmt.Errorf("operator %q: %w", uid, err)
		}
	}
	return nil
}

// finalize builds the metadata once every task acknowledged.
func (c *Coordinator) finalize(now time.Time, p *pending) {
	m := &Metadata{ID: p.id, JobID: c.job.ID, Timestamp: p.ts, Kind: p.kind}
	for _, v := range c.job.Vertices {
		for _, uid := range v.Operators {
			op := OperatorState{UID: uid, Parallelism: v.Parallelism, MaxParallelism: c.job.MaxParallelism}
			for _, i := range slices.Sorted(maps.Keys(p.states[uid])) {
				op.Subtasks = append(op.Subtasks, p.states[uid][i])
			}
			m.Operators = append(m.Operators, op)
		}
	}
	sort.Slice(m.Operators, func(i, j int) bool { return m.Operators[i].UID < m.Operators[j].UID })
	if err := m.Validate(); err != nil {
		c.abort(now, p, fmt.Errorf("%w: %w", ErrBadAck, err), true)
		return
	}
	p.finalizing = true
	c.emit(WriteMetadata{ID: p.id, Dir: p.dir, Metadata: m})
}

func (c *Coordinator) metadataWritten(now time.Time, e MetadataWritten) {
	p := c.pending[e.ID]
	if p == nil || !p.finalizing {
		return
	}
	if e.Err != nil {
		c.abort(now, p, fmt.Errorf("%w: %w", ErrMetadataWrite, e.Err), true)
	} else {
		c.complete(now, p)
	}
	c.maybeDiscardJob()
}

func (c *Coordinator) complete(now time.Time, p *pending) {
	delete(c.pending, p.id)
	if p.kind == KindSavepoint {
		c.emit(SavepointDone{Ref: p.ref, ID: p.id, Path: p.dir})
		if p.stop && !c.ended {
			c.emit(NotifyComplete{ID: p.id, Tasks: c.allTasks()})
		}
		return
	}
	c.lastEnd = now
	if p.id > c.lastSucceeded {
		c.lastSucceeded = p.id
		c.failures = 0
	}
	if c.ended && c.endDiscards {
		return // the job directory goes as a whole
	}
	c.addCompleted(p.id)
	if !c.ended && p.id == c.completed[len(c.completed)-1] {
		c.emit(NotifyComplete{ID: p.id, Tasks: c.allTasks()})
	}
	for _, q := range c.sortedPending() {
		if q.kind == KindCheckpoint && q.id < p.id && !q.finalizing {
			c.abort(now, q, fmt.Errorf("%w: checkpoint %d completed", ErrSubsumed, p.id), false)
		}
	}
	if n := len(c.completed) - c.cfg.NumRetained; n > 0 {
		old := c.completed[:n]
		c.completed = slices.Clone(c.completed[n:])
		for _, id := range old {
			c.emit(Discard{ID: id, Dir: CheckpointDir(c.job.Dir, id), Retained: slices.Clone(c.completed)})
		}
	}
}

func (c *Coordinator) addCompleted(id int64) {
	i, found := slices.BinarySearch(c.completed, id)
	if !found {
		c.completed = slices.Insert(c.completed, i, id)
	}
}

// abort ends p unsuccessfully; counted failures of checkpoints newer than
// the last success go toward the tolerable failures.
func (c *Coordinator) abort(now time.Time, p *pending, err error, counted bool) {
	delete(c.pending, p.id)
	c.emit(Abort{ID: p.id, Err: err, Tasks: c.allTasks()})
	c.emit(Discard{ID: p.id, Dir: p.dir})
	c.rememberAborted(p.id, p.dir)
	if p.kind == KindSavepoint {
		// A failed savepoint is the requester's to report; it does not count.
		c.emit(SavepointDone{Ref: p.ref, ID: p.id, Err: err})
		if p.stop {
			c.stopping = false
		}
		return
	}
	c.lastEnd = now
	if !counted || p.id <= c.lastSucceeded {
		return
	}
	c.failures++
	if c.failures <= c.cfg.TolerableFailures {
		return
	}
	c.failures = 0
	c.running = false
	fail := fmt.Errorf("%w (%d tolerated): checkpoint %d: %w", ErrTooManyFailures, c.cfg.TolerableFailures, p.id, err)
	c.emit(FailJob{Err: fail})
	c.abortAll(now, fail)
}

// abortAll aborts every checkpoint in flight except those whose metadata is
// being written: that write decides their fate.
func (c *Coordinator) abortAll(now time.Time, err error) {
	for _, p := range c.sortedPending() {
		if !p.finalizing {
			c.abort(now, p, err, false)
		}
	}
}

const rememberAborted = 64

func (c *Coordinator) rememberAborted(id int64, dir string) {
	c.aborted[id] = dir
	if len(c.aborted) > rememberAborted {
		delete(c.aborted, slices.Min(slices.Collect(maps.Keys(c.aborted))))
	}
}

func (c *Coordinator) maybeDiscardJob() {
	if !c.ended || !c.endDiscards || c.jobDiscarded || len(c.pending) > 0 {
		return
	}
	c.jobDiscarded = true
	c.completed = nil
	if c.job.Dir != "" {
		c.emit(Discard{ID: 0, Dir: c.job.Dir})
	}
}

func (c *Coordinator) sortedPending() []*pending {
	ps := slices.Collect(maps.Values(c.pending))
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	return ps
}

// missing names up to five tasks p still waits for.
func (c *Coordinator) missing(p *pending) string {
	var ts []TaskID
	for _, t := range c.tasks {
		if p.waiting[t] {
			ts = append(ts, t)
		}
	}
	s := taskList(ts[:min(len(ts), 5)])
	if len(ts) > 5 {
		s += fmt.Sprintf(" and %d more", len(ts)-5)
	}
	return s
}

// Pending returns the ids of checkpoints and savepoints in flight, ascending.
func (c *Coordinator) Pending() []int64 { return slices.Sorted(maps.Keys(c.pending)) }

// Completed returns the ids of the retained completed checkpoints, ascending.
func (c *Coordinator) Completed() []int64 { return slices.Clone(c.completed) }

// Latest returns the newest completed checkpoint: what a restart restores.
func (c *Coordinator) Latest() (id int64, dir string, ok bool) {
	if len(c.completed) == 0 {
		return 0, "", false
	}
	id = c.completed[len(c.completed)-1]
	return id, CheckpointDir(c.job.Dir, id), true
}

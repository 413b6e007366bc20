package appmaster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"floe/checkpoint"
	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/mailbox"
	"floe/internal/rpc/floepb"
)

// jobCheckpoints is a job's checkpointing: the coordinator state machine
// (package checkpoint) fed by the JobManager's events, and its storage.
type jobCheckpoints struct {
	coord    *checkpoint.Coordinator
	cfg      checkpoint.Config
	jobDir   string
	restored int64 // checkpoint the running attempt restored from
	running  bool  // TasksRunning sent for the current attempt
	// savepoints waiting for their SavepointDone, by ref
	savepoints map[string]chan savepointResult
	seq        int
	// the savepoint a new job starts from, and whether unmatched state is dropped
	fromSavepoint    string
	allowNonRestored bool
}

type savepointResult struct {
	path string
	err  error
}

// Savepoint keys, with Flink's names.
const (
	KeySavepointPath        = "execution.savepoint.path"
	KeyAllowNonRestored     = "execution.savepoint.ignore-unclaimed-state"
	errCheckpointingMissing = "savepoints need " + checkpoint.KeyDir + " or " + checkpoint.KeySavepointDir
)

// newJobCheckpoints sets a job's checkpointing up. A JobManager of a later
// ApplicationMaster attempt (attempt above 1, fenced) first claims the job's
// checkpoint directory (checkpoint.ClaimAttempts), before it lists it.
func newJobCheckpoints(e *execution, attempt int32, fenced bool) (*jobCheckpoints, error) {
	cfg, err := checkpoint.ParseConfig(e.graph.Config)
	if err != nil {
		return nil, err
	}
	from := e.graph.Config.String(KeySavepointPath, "")
	allow, err := e.graph.Config.Bool(KeyAllowNonRestored, false)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled() && cfg.Dir == "" && cfg.SavepointDir == "" && from == "" {
		return nil, nil
	}
	if cfg.Enabled() && cfg.Dir == "" {
		return nil, fmt.Errorf("checkpoints: %s is set but %s is not", checkpoint.KeyInterval, checkpoint.KeyDir)
	}
	job := checkpoint.Job{ID: e.id, MaxParallelism: e.graph.MaxParallelism}
	if cfg.Dir != "" {
		job.Dir = checkpoint.JobDir(cfg.Dir, e.id)
	}
	for _, v := range e.graph.Vertices {
		cv := checkpoint.Vertex{ID: v.ID, Parallelism: v.Parallelism, Source: v.IsSource}
		for _, op := range v.Operators {
			cv.Operators = append(cv.Operators, op.UID)
		}
		job.Vertices = append(job.Vertices, cv)
	}
	var opts []checkpoint.CoordinatorOption
	if fenced && attempt > 1 && job.Dir != "" {
		store, base, err := checkpoint.OpenFS(job.Dir)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err = checkpoint.ClaimAttempts(ctx, store, base, attempt)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	// A job restarting in a new JobManager continues the ids of its directory.
	if store, base, err := checkpoint.OpenFS(job.Dir); job.Dir != "" && err == nil {
		if entries, err := checkpoint.ListCheckpoints(context.Background(), store, base); err == nil && len(entries) > 0 {
			opts = append(opts, checkpoint.WithNextID(checkpoint.NextID(entries)))
			// and retains its completed ones as its predecessor did, so
			// retention (and the shared files' references) goes on.
			var done []int64
			for _, en := range entries {
				if en.Completed {
					done = append(done, en.ID)
				}
			}
			opts = append(opts, checkpoint.WithCompleted(done...))
		}
	}
	coord, err := checkpoint.NewCoordinator(cfg, job, opts...)
	if err != nil {
		return nil, err
	}
	return &jobCheckpoints{coord: coord, cfg: cfg, jobDir: job.Dir, savepoints: map[string]chan savepointResult{},
		fromSavepoint: from, allowNonRestored: allow}, nil
}

// stepCheckpoints feeds the coordinator one event and carries out its
// actions. Call with jm.mu held.
func (jm *JobManager) stepCheckpoints(e *jobEntry, ev checkpoint.Event) {
	cp := e.checkpoints
	if cp == nil {
		return
	}
	for _, a := range cp.coord.Step(time.Now(), ev) {
		jm.checkpointAction(e, a)
	}
}

func (jm *JobManager) checkpointAction(e *jobEntry, a checkpoint.Action) {
	switch a := a.(type) {
	case checkpoint.InjectBarrier:
		e.exec.cpStats.triggered(a, e.exec.numSubtasks())
		e.exec.snapshotSplits(a.ID) // before any source can snapshot a.ID
		for _, t := range a.Tasks {
			st := e.exec.subtasks[t.Vertex][t.Subtask]
			tm := jm.tms[st.slot.tm]
			if tm == nil {
				continue
			}
			req := &floepb.CheckpointTrigger{Task: e.exec.ref(st), Id: a.ID, TimestampMs: a.Timestamp.UnixMilli(), Dir: a.Dir}
			jm.ordered(&tm.calls, func(ctx context.Context) { tm.client.TriggerCheckpoint(ctx, req) })
		}
	case checkpoint.WriteMetadata:
		dir, m, id, jobDir := a.Dir, e.exec.addSplits(a.ID, a.Metadata), a.ID, e.checkpoints.jobDir
		jm.async(func(ctx context.Context) {
			mm := *m
			mm.WriterAttempt = jm.opts.Attempt
			var err error
			switch {
			case jm.opts.Fence != nil && inDir(dir, jobDir):
				// Through this attempt's directory, which a newer attempt
				// claims (checkpoint.CommitMetadata).
				err = commitFenced(ctx, jobDir, jm.opts.Attempt, dir, &mm, jm.opts.Fence)
			case jm.opts.Fence != nil: // a savepoint elsewhere: check, then write
				if err = jm.opts.Fence(ctx); err == nil {
					err = storeMetadata(ctx, dir, &mm)
				}
			default:
				err = storeMetadata(ctx, dir, &mm)
			}
			if err != nil && jm.opts.Fence != nil {
				jm.log.Warn().Str("job", e.exec.id).Int64("checkpoint", id).Err(err).Msg("not committing the checkpoint: fenced, or its _metadata could not be written")
			}
			jm.mu.Lock()
			defer jm.mu.Unlock()
			if err == nil {
				jm.log.Info().Str("job", e.exec.id).Int64("checkpoint", id).Str("dir", dir).Msg("checkpoint complete")
			}
			e.exec.cpStats.ended(id, err, time.Now())
			jm.stepCheckpoints(e, checkpoint.MetadataWritten{ID: id, Err: err})
		})
	case checkpoint.NotifyComplete:
		jm.notifyTasks(e, a.ID, true, a.Tasks)
	case checkpoint.Abort:
		jm.log.Warn().Str("job", e.exec.id).Int64("checkpoint", a.ID).AnErr("cause", a.Err).Msg("checkpoint aborted")
		cause := a.Err
		if cause == nil {
			cause = errors.New("aborted")
		}
		e.exec.cpStats.ended(a.ID, cause, time.Now())
		e.exec.dropSplitSnapshots(a.ID)
		jm.notifyTasks(e, a.ID, false, a.Tasks)
	case checkpoint.Discard:
		dir, jobDir := a.Dir, e.checkpoints.jobDir
		if dir == "" {
			return
		}
		retained := a.Retained
		jm.async(func(ctx context.Context) {
			if retained != nil && inDir(dir, jobDir) {
				// A checkpoint beyond the retained number: its shared files
				// that no retained checkpoint references go first.
				jm.discardRetained(ctx, e.exec.id, jobDir, dir, retained)
				return
			}
			// An old attempt's checkpoint ids go on where the new attempt's
			// do: once superseded, it must not remove what may be the new
			// attempt's checkpoint.
			if jm.opts.Fence != nil && inDir(dir, jobDir) {
				if err := discardFenced(ctx, jobDir, jm.opts.Attempt, dir, jm.opts.Fence); err != nil {
					jm.log.Warn().Str("job", e.exec.id).Str("dir", dir).Err(err).Msg("not discarding the checkpoint: fenced, or it could not be removed")
				}
				return
			}
			if jm.opts.Fence != nil {
				if err := jm.opts.Fence(ctx); err != nil {
					jm.log.Warn().Str("job", e.exec.id).Str("dir", dir).Err(err).Msg("not discarding the checkpoint: fenced")
					return
				}
			}
			if store, p, err := checkpoint.OpenFS(dir); err == nil {
				store.RemoveAll(ctx, p)
			}
		})
	case checkpoint.FailJob:
		jm.apply(e, e.exec.fail(a.Err.Error(), "", time.Now()))
	case checkpoint.SavepointDone:
		if ch, ok := e.checkpoints.savepoints[a.Ref]; ok {
			delete(e.checkpoints.savepoints, a.Ref)
			ch <- savepointResult{path: a.Path, err: a.Err}
		}
	}
}

// discardRetained removes dir, a completed checkpoint of jobDir no longer
// retained, with the shared files that none of retained references
// (checkpoint.DiscardRetained); fenced as every discard.
func (jm *JobManager) discardRetained(ctx context.Context, job, jobDir, dir string, retained []int64) {
	store, base, err := checkpoint.OpenFS(jobDir)
	if err != nil {
		jm.log.Warn().Str("job", job).Str("dir", dir).Err(err).Msg("not discarding the checkpoint")
		return
	}
	_, p, err := checkpoint.OpenFS(dir)
	if err != nil {
		jm.log.Warn().Str("job", job).Str("dir", dir).Err(err).Msg("not discarding the checkpoint")
		return
	}
	if jm.opts.Fence != nil {
		if err := jm.opts.Fence(ctx); err != nil {
			jm.log.Warn().Str("job", job).Str("dir", dir).Err(err).Msg("not discarding the checkpoint: fenced")
			return
		}
	}
	remove := func(ctx context.Context) error { return store.RemoveAll(ctx, p) }
	if jm.opts.Fence != nil {
		remove = func(ctx context.Context) error {
			return checkpoint.DiscardFenced(ctx, store, base, jm.opts.Attempt, p, jm.opts.Fence)
		}
	}
	removed, err := checkpoint.DiscardRetained(ctx, store, base, p, retained, remove)
	if err != nil {
		jm.log.Warn().Str("job", job).Str("dir", dir).Err(err).Msg("discarding the checkpoint failed")
	}
	if len(removed) > 0 {
		jm.log.Debug().Str("job", job).Str("dir", dir).Int("shared_files", len(removed)).Msg("removed unreferenced shared files")
	}
}

// inDir reports whether dir (a URI or path) lies in jobDir.
func inDir(dir, jobDir string) bool {
	return jobDir != "" && strings.HasPrefix(dir, strings.TrimSuffix(jobDir, "/")+"/")
}

func commitFenced(ctx context.Context, jobDir string, attempt int32, dir string, m *checkpoint.Metadata, fence func(context.Context) error) error {
	store, base, err := checkpoint.OpenFS(jobDir)
	if err != nil {
		return err
	}
	_, p, err := checkpoint.OpenFS(dir)
	if err != nil {
		return err
	}
	return checkpoint.CommitMetadata(ctx, store, base, attempt, p, m, fence)
}

func discardFenced(ctx context.Context, jobDir string, attempt int32, dir string, fence func(context.Context) error) error {
	store, base, err := checkpoint.OpenFS(jobDir)
	if err != nil {
		return err
	}
	_, p, err := checkpoint.OpenFS(dir)
	if err != nil {
		return err
	}
	return checkpoint.DiscardFenced(ctx, store, base, attempt, p, fence)
}

func storeMetadata(ctx context.Context, dir string, m *checkpoint.Metadata) error {
	store, p, err := checkpoint.OpenFS(dir)
	if err != nil {
		return err
	}
	return checkpoint.StoreMetadata(ctx, store, p, m)
}

func (jm *JobManager) notifyTasks(e *jobEntry, id int64, complete bool, tasks []checkpoint.TaskID) {
	for _, t := range tasks {
		if t.Vertex >= len(e.exec.subtasks) || t.Subtask >= len(e.exec.subtasks[t.Vertex]) {
			continue
		}
		st := e.exec.subtasks[t.Vertex][t.Subtask]
		tm := jm.tms[st.slot.tm]
		if tm == nil {
			continue
		}
		req := &floepb.CheckpointNotice{Task: e.exec.ref(st), Id: id, Complete: complete}
		jm.ordered(&tm.calls, func(ctx context.Context) { tm.client.NotifyCheckpoint(ctx, req) })
	}
}

// async runs an RPC outside the lock, tracked so Run can wait for it and
// cancelled when the JobManager stops (goRPC). Call with jm.mu held.
func (jm *JobManager) async(fn func(ctx context.Context)) {
	jm.goRPC(30*time.Second, fn)
}

// ordered queues fn on q, the RPCs to one TaskManager, which run one after
// another in the order they were queued. Checkpoint triggers must reach a
// source task in increasing id order: a task that sees trigger n+1 before n
// declines n, and a savepoint racing a periodic checkpoint would fail for
// nothing. The caller that finds q idle starts a goroutine, tracked like
// async's, that drains q and exits when it is empty, so an idle TaskManager
// holds none. Each call's context ends when the JobManager stops; once it
// has, fn is not queued. Call with jm.mu held.
func (jm *JobManager) ordered(q *mailbox.Mailbox[func(context.Context)], fn func(ctx context.Context)) {
	if jm.stopped || !q.Post(fn) {
		return
	}
	jm.inflight.Add(1)
	go func() {
		defer jm.inflight.Done()
		for calls := q.Take(); len(calls) > 0; calls = q.Take() {
			for _, call := range calls {
				ctx, cancel := context.WithTimeout(jm.rpcCtx, 30*time.Second)
				call(ctx)
				cancel()
			}
		}
	}()
}

// checkpointAck applies a task's acknowledgement.
func (jm *JobManager) checkpointAck(ack *floepb.CheckpointAck) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	e, ok := jm.jobs[ack.GetTask().GetJobId()]
	if !ok || e.checkpoints == nil || e.exec.find(ack.GetTask()) == nil {
		return
	}
	task := checkpoint.TaskID{Vertex: int(ack.GetTask().GetVertex()), Subtask: int(ack.GetTask().GetSubtask())}
	if msg := ack.GetError(); msg != "" {
		err := errors.New(msg)
		if strings.HasPrefix(msg, operator.DeclineNotReady) {
			err = fmt.Errorf("%w: %s", checkpoint.ErrTaskNotReady, msg)
		}
		jm.stepCheckpoints(e, checkpoint.Decline{ID: ack.GetId(), Task: task, Err: err})
		return
	}
	var state map[string]checkpoint.SubtaskState
	if err := json.Unmarshal([]byte(ack.GetStateJson()), &state); err != nil {
		jm.stepCheckpoints(e, checkpoint.Decline{ID: ack.GetId(), Task: task, Err: fmt.Errorf("malformed state: %w", err)})
		return
	}
	e.exec.cpStats.acked(ack.GetId(), task, ack.GetAlignmentMs(), state, time.Now())
	jm.stepCheckpoints(e, checkpoint.Ack{ID: ack.GetId(), Task: task, State: state})
}

// restorePlan finds the latest usable checkpoint of the job and assigns its
// state to the subtasks of this attempt. Call with jm.mu held.
func (jm *JobManager) restorePlan(e *jobEntry) (map[int][]string, int64, error) {
	cp := e.checkpoints
	if cp == nil {
		return nil, 0, nil
	}
	ctx, cancel := context.WithTimeout(jm.rpcCtx, time.Minute)
	defer cancel()
	var m *checkpoint.Metadata
	var dirURI string
	if cp.cfg.Dir != "" {
		store, base, err := checkpoint.OpenFS(cp.jobDir)
		if err != nil {
			return nil, 0, err
		}
		md, dir, warnings, err := checkpoint.LatestUsable(ctx, store, base)
		for _, w := range warnings {
			jm.log.Warn().Str("job", e.exec.id).Err(w).Msg("skipping an unusable checkpoint")
		}
		switch {
		case err == nil:
			m, dirURI = md, checkpoint.Join(cp.jobDir, dirName(dir))
		case errors.Is(err, checkpoint.ErrNoUsableCheckpoint): // no restart makes one usable
			return nil, 0, NotRecoverable(fmt.Errorf("recovery: %w", err))
		case !errors.Is(err, checkpoint.ErrNoCheckpoint):
			return nil, 0, fmt.Errorf("recovery: %w", err)
		}
	}
	if m == nil && cp.fromSavepoint != "" { // a new job started from a savepoint (floe run -s)
		var err error
		if m, err = loadSavepoint(ctx, cp.fromSavepoint); err != nil {
			return nil, 0, err
		}
		dirURI = cp.fromSavepoint
	}
	if m == nil {
		return nil, 0, nil // nothing completed yet: start from the beginning
	}
	plan, err := planRestore(m, dirURI, e.exec.graph, cp.allowNonRestored)
	if err != nil {
		return nil, 0, err
	}
	if err := e.exec.restoreSplits(m); err != nil {
		return nil, 0, err
	}
	// Per vertex and subtask: the JSON of its operators' states.
	out := map[int][]string{}
	for _, v := range e.exec.graph.Vertices {
		row := make([]string, v.Parallelism)
		for i := range row {
			sub := map[string]checkpoint.SubtaskState{}
			for _, op := range v.Operators {
				if states, ok := plan[op.UID]; ok && i < len(states) && !states[i].Empty() {
					sub[op.UID] = states[i]
				}
			}
			if len(sub) > 0 {
				b, _ := json.Marshal(sub)
				row[i] = string(b)
			}
		}
		out[v.ID] = row
	}
	jm.log.Info().Str("job", e.exec.id).Int64("checkpoint", m.ID).Msg("restoring from checkpoint")
	return out, m.ID, nil
}

// loadSavepoint reads the _metadata of the savepoint (or retained
// checkpoint) at uri. One that is missing or corrupt is not recoverable;
// a storage that does not answer is.
func loadSavepoint(ctx context.Context, uri string) (*checkpoint.Metadata, error) {
	store, p, err := checkpoint.OpenFS(uri)
	if err != nil {
		err = fmt.Errorf("savepoint %s: %w", uri, err)
		if !strings.HasPrefix(uri, "hdfs:") { // a bad URI; a NameNode may answer next time
			err = NotRecoverable(err)
		}
		return nil, err
	}
	m, err := checkpoint.LoadMetadata(ctx, store, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := store.Stat(ctx, p); errors.Is(serr, fs.ErrNotExist) {
			return nil, NotRecoverable(fmt.Errorf("savepoint %s: %w", uri, fs.ErrNotExist))
		}
		return nil, NotRecoverable(fmt.Errorf("savepoint %s: no %s in it: not a savepoint or retained checkpoint", uri, checkpoint.MetadataName))
	case checkpoint.CannotRestore(err):
		return nil, NotRecoverable(fmt.Errorf("savepoint %s: %w", uri, err))
	case err != nil:
		return nil, fmt.Errorf("savepoint %s: %w", uri, err)
	}
	if err := checkpoint.CheckFiles(ctx, store, m, p); err != nil {
		if checkpoint.CannotRestore(err) {
			err = NotRecoverable(err)
		}
		return nil, fmt.Errorf("savepoint %s: %w", uri, err)
	}
	return m, nil
}

// planRestore assigns m's state, read from dir, to the operators of g. A
// snapshot that does not fit the job never will: its errors are not recoverable.
func planRestore(m *checkpoint.Metadata, dir string, g *jobgraph.JobGraph, allowNonRestored bool) (checkpoint.RestorePlan, error) {
	var ops []checkpoint.OperatorSpec
	for _, v := range g.Vertices {
		for _, op := range v.Operators {
			ops = append(ops, checkpoint.OperatorSpec{UID: op.UID, Parallelism: v.Parallelism, MaxParallelism: g.MaxParallelism})
		}
	}
	plan, err := checkpoint.PlanRestore(m, dir, ops, allowNonRestored)
	if err != nil {
		return nil, NotRecoverable(fmt.Errorf("restore %s %d from %s: %w", m.Kind, m.ID, dir, err))
	}
	return plan, nil
}

// CheckSavepoint checks, in the client before anything is submitted, that
// the savepoint g's configuration starts from (execution.savepoint.path,
// floe run -s) exists, reads, and fits g, as the JobManager's restore will.
// Its errors wrap ErrNotRecoverable, but for a storage that cannot be reached.
func CheckSavepoint(ctx context.Context, g *jobgraph.JobGraph) error {
	from := g.Config.String(KeySavepointPath, "")
	if from == "" {
		return nil
	}
	allow, err := g.Config.Bool(KeyAllowNonRestored, false)
	if err != nil {
		return err
	}
	m, err := loadSavepoint(ctx, from)
	if err != nil {
		return err
	}
	_, err = planRestore(m, from, g, allow)
	return err
}

func dirName(p string) string {
	if i := strings.LastIndex(strings.TrimSuffix(p, "/"), "/"); i >= 0 {
		return strings.TrimSuffix(p, "/")[i+1:]
	}
	return p
}

// savepointStartWait bounds how long a savepoint asked for while the job's
// tasks are still being deployed (or redeployed after a failure) waits for
// them to run before it fails.
const savepointStartWait = time.Minute

// TriggerSavepoint writes a savepoint of the running job under dir (or the
// configured savepoint directory) and returns its path. With stop, the job is
// cancelled once the savepoint is complete (stop with savepoint). Asked while
// the job is starting or restarting, it waits (at most savepointStartWait,
// and never past ctx) for the tasks to run.
func (h *JobHandle) TriggerSavepoint(ctx context.Context, dir string, stop bool) (string, error) {
	deadline := time.Now().Add(savepointStartWait)
	for {
		path, err := h.triggerSavepoint(ctx, dir, stop)
		if !errors.Is(err, errNotYetRunning) && !errors.Is(err, checkpoint.ErrNotRunning) || time.Now().After(deadline) {
			return path, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("savepoint of job %s: %w (last: %w)", h.ID(), ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errNotYetRunning: the job is created or restarting, so a savepoint may
// follow shortly.
var errNotYetRunning = errors.New("not yet running")

func (h *JobHandle) triggerSavepoint(ctx context.Context, dir string, stop bool) (string, error) {
	jm := h.jm
	jm.mu.Lock()
	e := h.entry
	cp := e.checkpoints
	if cp == nil {
		jm.mu.Unlock()
		return "", errors.New(errCheckpointingMissing)
	}
	if dir == "" {
		dir = cp.cfg.SavepointDir
	}
	if dir == "" {
		jm.mu.Unlock()
		return "", errors.New("no savepoint directory given nor configured (" + checkpoint.KeySavepointDir + ")")
	}
	if st := e.exec.status; st != Running {
		jm.mu.Unlock()
		if st == Created || st == Restarting {
			return "", fmt.Errorf("job %s is %s, %w", e.exec.id, st, errNotYetRunning)
		}
		return "", fmt.Errorf("job %s is %s, not RUNNING", e.exec.id, st)
	}
	cp.seq++
	ref := fmt.Sprintf("sp-%d", cp.seq)
	ch := make(chan savepointResult, 1)
	cp.savepoints[ref] = ch
	jm.stepCheckpoints(e, checkpoint.TriggerSavepoint{Ref: ref, Dir: checkpoint.NewSavepointDir(dir, e.exec.id), Stop: stop})
	jm.mu.Unlock()
	select {
	case r := <-ch:
		if r.err == nil && stop {
			h.Cancel()
		}
		return r.path, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

package appmaster

import (
	"fmt"
	"strings"
	"time"

	"floe/internal/jobgraph"
	"floe/internal/rpc/floepb"
)

// JobStatus is a job's state, with Flink's names.
type JobStatus string

const (
	Created    JobStatus = "CREATED"
	Running    JobStatus = "RUNNING"
	Failing    JobStatus = "FAILING"
	Restarting JobStatus = "RESTARTING"
	Canceling  JobStatus = "CANCELLING"
	Finished   JobStatus = "FINISHED"
	Failed     JobStatus = "FAILED"
	Canceled   JobStatus = "CANCELED"
)

// Terminal reports whether s is final.
func (s JobStatus) Terminal() bool { return s == Finished || s == Failed || s == Canceled }

// slot is one task slot of a TaskManager.
type slot struct {
	tm    string // TaskManager id
	addr  string
	index int
}

// subtaskState tracks the current attempt of one subtask.
type subtaskState struct {
	vertex, subtask int
	attempt         int
	slot            slot
	state           floepb.TaskState
	recordsIn       int64
	recordsOut      int64
	recordsSkipped  int64 // malformed input records its source skipped
	bytesIn         int64
	bytesOut        int64
	spilled         [2]int64            // records, bytes the attempt's batch operators wrote to spill files (at its end)
	live            *floepb.TaskMetrics // the latest heartbeat's, while it runs
}

// action is what the execution asks its owner to do; the owner performs the
// I/O (RPCs to TaskManagers) outside the state machine.
type action struct {
	deploy *floepb.TaskDeployment
	cancel *floepb.TaskRef
	addr   string // TaskManager to send it to
}

// execution is the state machine of one job: it decides deployments and
// cancellations from events and never does I/O itself. Its owner (the
// JobManager) feeds it events one at a time.
type execution struct {
	id      string
	graph   *jobgraph.JobGraph
	status  JobStatus
	failure string // the cause of a failure, one line (causeRank says which wins)
	detail  string
	rank    causeRank // of failure
	// final is set by a failure no restart can mend (a refused TaskManager,
	// a not-recoverable cause: failFinal, failNotRecoverable).
	final bool
	// lost is the newest TaskManager loss seen while the job ran: the likely
	// cause of the secondary failures that often reach the JobManager first.
	lost string
	// grace is how long a job whose only known cause is a secondary one stays
	// FAILING, waiting for the report of its root cause (a lost TaskManager's
	// container status comes from the ResourceManager seconds later); 0: none.
	// settleAt is when that wait ends.
	grace    time.Duration
	settleAt time.Time
	// used holds the TaskManagers any attempt of the job was scheduled on.
	used     map[string]bool
	started  time.Time
	ended    time.Time
	subtasks [][]*subtaskState // [vertex][subtask]
	slots    []slot
	restart  RestartStrategy
	restarts int // restarts done so far
	// restore holds, per vertex and subtask, the state to restore (JSON),
	// and restoredID the checkpoint it comes from.
	restore    map[int][]string
	restoredID int64
	// for the REST interface: failures, newest last, and checkpoint statistics
	exceptions []ExceptionInfo
	cpStats    cpStats
	// batch is the stage state of a BATCH job (stages.go), nil in STREAMING
	// mode; stageLog the stages finished since the owner last logged them.
	batch    *batchRun
	stageLog []stageEvent
	// splits are the file sources' split enumerators, by vertex (splits.go).
	splits map[int]*splitEnumerator
}

// allRunning reports whether every subtask of the current attempt runs.
func (e *execution) allRunning() bool {
	for _, row := range e.subtasks {
		for _, st := range row {
			if st.state != floepb.TaskState_RUNNING {
				return false
			}
		}
	}
	return true
}

// RestartStrategy says whether and when a failed job runs again.
type RestartStrategy struct {
	// Attempts is the number of restarts allowed (0: none).
	Attempts int
	// Delay before the first restart; Backoff multiplies it for every further
	// restart (1 for fixed delay), up to MaxDelay.
	Delay    time.Duration
	Backoff  float64
	MaxDelay time.Duration
}

// delay returns how long to wait before restart number n (0-based).
func (r RestartStrategy) delay(n int) time.Duration {
	d := r.Delay
	for range n {
		if r.Backoff <= 1 {
			break
		}
		d = time.Duration(float64(d) * r.Backoff)
		if r.MaxDelay > 0 && d > r.MaxDelay {
			return r.MaxDelay
		}
	}
	return d
}

func newExecution(id string, g *jobgraph.JobGraph, now time.Time) *execution {
	e := &execution{id: id, graph: g, status: Created, started: now}
	for _, v := range g.Vertices {
		row := make([]*subtaskState, v.Parallelism)
		for i := range row {
			row[i] = &subtaskState{vertex: v.ID, subtask: i}
		}
		e.subtasks = append(e.subtasks, row)
	}
	if g.Batch() {
		e.batch = newBatchRun(g)
	}
	e.splits = newSplits(g)
	return e
}

func (e *execution) ref(s *subtaskState) *floepb.TaskRef {
	return &floepb.TaskRef{JobId: e.id, Vertex: int32(s.vertex), Subtask: int32(s.subtask), Attempt: int32(s.attempt)}
}

// slotsNeeded is the number of slots the job needs.
func (e *execution) slotsNeeded() int { return e.graph.SlotsNeeded() }

// schedule gives each slot sharing group its own run of slots and subtask k
// of every vertex in a group that group's slot k, then deploys everything at
// once (pipelined exchanges need all consumers running).
func (e *execution) schedule(slots []slot) []action {
	e.slots = slots
	e.status = Running
	if e.used == nil {
		e.used = map[string]bool{}
	}
	for _, s := range slots {
		e.used[s.tm] = true
	}
	if e.batch != nil { // stage by stage in these slots
		return e.nextStage()
	}
	var acts []action
	names, sizes := e.graph.SlotGroups()
	first := map[string]int{}
	next := 0
	for _, g := range names {
		first[g] = next
		next += sizes[g]
	}
	for _, v := range e.graph.Vertices {
		for i, st := range e.subtasks[v.ID] {
			st.slot = slots[first[v.SlotGroup]+i]
			st.state = floepb.TaskState_DEPLOYING
		}
	}
	for _, v := range e.graph.Vertices {
		for i, st := range e.subtasks[v.ID] {
			acts = append(acts, action{deploy: e.deployment(v, i), addr: st.slot.addr})
		}
	}
	return acts
}

func (e *execution) deployment(v *jobgraph.Vertex, i int) *floepb.TaskDeployment {
	st := e.subtasks[v.ID][i]
	d := &floepb.TaskDeployment{Task: e.ref(st), Parallelism: int32(v.Parallelism), RestoredCheckpoint: e.restoredID}
	if row, ok := e.restore[v.ID]; ok && i < len(row) {
		d.RestoreJson = row[i]
	}
	for _, in := range v.Inputs {
		gate := &floepb.InputGateDescriptor{Input: int32(in.Input)}
		producers, sub := e.subtasks[in.Source], int32(i)
		if in.Partitioning == jobgraph.Forward {
			producers, sub = producers[i:i+1], 0
		}
		for _, p := range producers {
			gate.Channels = append(gate.Channels, &floepb.InputChannelDescriptor{
				Address: p.slot.addr, Producer: e.ref(p), Edge: int32(in.Index), Subpartition: sub})
		}
		d.Inputs = append(d.Inputs, gate)
	}
	for _, out := range v.Outputs {
		// A partition has a subpartition per consumer that reads it: a
		// forward edge's only its own consumer's. (A subpartition nobody
		// reads fills with the events every subpartition gets, and then
		// blocks its producer for good.)
		n := e.graph.Vertices[out.Target].Parallelism
		if out.Partitioning == jobgraph.Forward {
			n = 1
		}
		d.Outputs = append(d.Outputs, &floepb.OutputDescriptor{Edge: int32(out.Index), Subpartitions: int32(n), Blocking: e.graph.Blocking(out)})
	}
	return d
}

func (e *execution) find(r *floepb.TaskRef) *subtaskState {
	v, s := int(r.GetVertex()), int(r.GetSubtask())
	if v < 0 || v >= len(e.subtasks) || s < 0 || s >= len(e.subtasks[v]) {
		return nil
	}
	st := e.subtasks[v][s]
	if st.attempt != int(r.GetAttempt()) {
		return nil // a stale attempt
	}
	return st
}

func terminalTask(s floepb.TaskState) bool {
	return s == floepb.TaskState_FINISHED || s == floepb.TaskState_FAILED || s == floepb.TaskState_CANCELED
}

// onTaskState applies a task's state report.
func (e *execution) onTaskState(u *floepb.TaskStateUpdate, now time.Time) []action {
	st := e.find(u.GetTask())
	if st == nil || terminalTask(st.state) {
		return nil
	}
	st.state = u.GetState()
	if u.GetRecordsIn() > 0 || u.GetRecordsOut() > 0 {
		st.recordsIn, st.recordsOut = u.GetRecordsIn(), u.GetRecordsOut()
	}
	if u.GetRecordsSkipped() > 0 {
		st.recordsSkipped = u.GetRecordsSkipped()
	}
	if u.GetBytesIn() > 0 || u.GetBytesOut() > 0 {
		st.bytesIn, st.bytesOut = u.GetBytesIn(), u.GetBytesOut()
	}
	if u.GetSpilledBytes() > 0 {
		st.spilled = [2]int64{u.GetSpilledRecords(), u.GetSpilledBytes()}
	}
	switch u.GetState() {
	case floepb.TaskState_FAILED:
		return e.failWith(u.GetError(), u.GetErrorDetail(), now, ExceptionInfo{TaskName: e.graph.Vertices[st.vertex].Name,
			Subtask: st.subtask, TaskManager: st.slot.tm, Location: st.slot.addr})
	case floepb.TaskState_CANCELED:
		if e.status == Running {
			return e.fail(fmt.Sprintf("task %s (subtask %d) was cancelled unexpectedly", e.graph.Vertices[st.vertex].Name, st.subtask), "", now)
		}
	case floepb.TaskState_FINISHED:
		if e.batch != nil {
			acts := e.stageDone()
			e.checkDone(now)
			return acts
		}
	}
	e.checkDone(now)
	return nil
}

// causeRank orders the causes of one failure: a task's own error beats a
// lost TaskManager, which beats the errors other tasks report because of
// them (their producer's partition was released, a channel to it broke, they
// were cancelled), whichever reaches the JobManager first.
type causeRank int

const (
	rankSecondary causeRank = iota
	rankTaskManagerLost
	rankRoot
)

// secondaryMarks are the words of errors that follow from another failure.
var secondaryMarks = []string{"result partition released", "input channel from ", "was cancelled unexpectedly",
	"deploy to TaskManager ", "context canceled"}

// rankOf classes a task's error message.
func rankOf(msg string) causeRank {
	for _, m := range secondaryMarks {
		if strings.Contains(msg, m) {
			return rankSecondary
		}
	}
	return rankRoot
}

// fail moves the job to RESTARTING or FAILING and cancels what runs. The
// first failure of an attempt sets the cause; a later one replaces it only
// if it ranks higher (a root cause reported after its consequences).
func (e *execution) fail(cause, detail string, now time.Time) []action {
	return e.failWith(cause, detail, now, ExceptionInfo{Subtask: -1})
}

// failWith is fail with where the failure happened, for the exception history.
func (e *execution) failWith(cause, detail string, now time.Time, where ExceptionInfo) []action {
	if e.status.Terminal() {
		return nil
	}
	where.Name, where.Stacktrace, where.Timestamp = cause, detail, now.UnixMilli()
	e.recordException(where)
	return e.failRanked(rankOf(cause), cause, detail, false, now)
}

// failFinal fails the job without a restart: no new attempt can mend the cause.
func (e *execution) failFinal(cause string, now time.Time) []action {
	return e.failRanked(rankRoot, cause, "", true, now)
}

func (e *execution) failRanked(rank causeRank, cause, detail string, final bool, now time.Time) []action {
	if e.status.Terminal() {
		return nil
	}
	fresh := e.status == Running || e.status == Created
	if fresh || rank > e.rank || final {
		e.failure, e.detail, e.rank = cause, detail, rank
	}
	if final {
		e.final = true
	}
	switch {
	case fresh && !e.final && e.restarts < e.restart.Attempts:
		e.status = Restarting
	case fresh, e.final:
		e.status = Failing
	case e.status == Restarting:
		e.checkDone(now)
		return nil
	}
	acts := e.cancelRunning()
	e.checkDone(now)
	return acts
}

// failNotRecoverable fails the job for a cause that would only repeat
// (ErrNotRecoverable): it becomes the cause whatever failed before, and the
// job fails without a restart.
func (e *execution) failNotRecoverable(err error, now time.Time) []action {
	return e.failRanked(rankRoot, notRecoverablePrefix+strings.ReplaceAll(err.Error(), "\n", "; "), "", true, now)
}

// cancel moves the job to CANCELLING.
func (e *execution) cancel(now time.Time) []action {
	if e.status.Terminal() || e.status == Failing {
		return nil
	}
	if e.status == Restarting && e.allTerminal() {
		e.status = Canceled
		e.ended = now
		return nil
	}
	e.status = Canceling
	acts := e.cancelRunning()
	e.checkDone(now)
	return acts
}

func (e *execution) cancelRunning() []action {
	var acts []action
	for _, row := range e.subtasks {
		for _, st := range row {
			switch st.state {
			case floepb.TaskState_DEPLOYING, floepb.TaskState_RUNNING:
				acts = append(acts, action{cancel: e.ref(st), addr: st.slot.addr})
			case floepb.TaskState_TASK_STATE_UNSPECIFIED:
				st.state = floepb.TaskState_CANCELED
			}
		}
	}
	return acts
}

// onTaskManagerLost fails the job if it has subtasks there; name is how a
// user knows the TaskManager (its container). The loss is remembered as the
// likely cause of secondary failures even when no subtask of the job runs
// there any more.
func (e *execution) onTaskManagerLost(tm, name, reason string, now time.Time) []action {
	if e.status.Terminal() || !e.used[tm] {
		return nil
	}
	cause := fmt.Sprintf("TaskManager %s lost: %s", name, reason)
	e.lost = cause
	var acts []action
	hit, recorded := false, false
	if e.batch != nil {
		// Its blocking partitions went with it; a BATCH job that still
		// needs them (or the TaskManager's slots) reruns what it lost.
		e.batch.lost[tm] = true
		hit = e.holdsNeeded(tm) && e.status == Running
	}
	for _, row := range e.subtasks {
		for _, st := range row {
			if st.slot.tm == tm && !terminalTask(st.state) {
				st.state = floepb.TaskState_FAILED
				if !recorded {
					e.recordException(ExceptionInfo{Name: cause, Timestamp: now.UnixMilli(), TaskName: e.graph.Vertices[st.vertex].Name,
						Subtask: st.subtask, TaskManager: tm, Location: st.slot.addr})
				}
				hit, recorded = true, true
			}
		}
	}
	if hit && !recorded {
		e.recordException(ExceptionInfo{Name: cause, Timestamp: now.UnixMilli(), Subtask: -1, TaskManager: tm})
	}
	switch {
	case hit:
		acts = e.failRanked(rankTaskManagerLost, cause, "", false, now)
	case e.rank < rankTaskManagerLost && (e.status == Failing || e.status == Restarting):
		e.failure, e.detail, e.rank = cause, "", rankTaskManagerLost
	}
	e.checkDone(now)
	return acts
}

// settle ends a FAILING job whose wait for a root cause is over.
func (e *execution) settle(now time.Time) {
	if e.status == Failing {
		e.checkDone(now)
	}
}

// allTerminal reports whether no subtask runs.
func (e *execution) allTerminal() bool {
	for _, row := range e.subtasks {
		for _, st := range row {
			if !terminalTask(st.state) {
				return false
			}
		}
	}
	return true
}

// readyToRestart reports whether a restarting job has stopped every subtask.
func (e *execution) readyToRestart() bool { return e.status == Restarting && e.allTerminal() }

// prepareRestart resets every subtask to a new attempt, to be scheduled
// again; in a BATCH job only those of the stages to rerun.
func (e *execution) prepareRestart() {
	e.restarts++
	if e.batch != nil {
		e.prepareStageRestart()
		e.status = Created
		return
	}
	e.resetSplits(nil) // a restored checkpoint's splits replace these (restorePlan)
	for _, row := range e.subtasks {
		for _, st := range row {
			st.attempt++
			st.recordsSkipped = 0
			st.state = floepb.TaskState_TASK_STATE_UNSPECIFIED
			st.slot = slot{}
			st.live = nil
		}
	}
	e.status = Created
}

func (e *execution) checkDone(now time.Time) {
	all, finished := true, true
	for _, row := range e.subtasks {
		for _, st := range row {
			if !terminalTask(st.state) {
				all = false
			}
			if st.state != floepb.TaskState_FINISHED {
				finished = false
			}
		}
	}
	if !all {
		return
	}
	switch e.status {
	case Running:
		if finished {
			e.status = Finished
		} else {
			e.status = Failed
		}
	case Failing:
		if e.rank == rankSecondary && e.lost != "" {
			e.failure, e.detail, e.rank = e.lost, "", rankTaskManagerLost
		}
		if e.rank == rankSecondary && e.grace > 0 {
			if e.settleAt.IsZero() {
				e.settleAt = now.Add(e.grace)
			}
			if now.Before(e.settleAt) {
				return // wait a little for the root cause
			}
		}
		e.status = Failed
		if e.restarts > 0 && !e.final {
			e.failure = fmt.Sprintf("restart strategy exhausted after %d restarts; last cause: %s", e.restarts, e.failure)
		}
	case Canceling:
		e.status = Canceled
	case Created:
		e.status = Canceled
	}
	if e.status.Terminal() && e.ended.IsZero() {
		e.ended = now
	}
}

// spilled returns the records and bytes vertex v's subtasks (their current
// attempts) wrote to spill files.
func (e *execution) spilled(v int) (records, bytes int64) {
	for _, st := range e.subtasks[v] {
		records += st.spilled[0]
		bytes += st.spilled[1]
	}
	return records, bytes
}

// counts returns records in/out per vertex.
// skipped is the number of malformed input records vertex v's subtasks skipped.
func (e *execution) skipped(v int) (n int64) {
	for _, st := range e.subtasks[v] {
		n += st.recordsSkipped
	}
	return n
}

func (e *execution) counts(v int) (in, out int64) {
	for _, st := range e.subtasks[v] {
		in += st.recordsIn
		out += st.recordsOut
	}
	return in, out
}

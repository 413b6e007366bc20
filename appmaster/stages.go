package appmaster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"floe/internal/jobgraph"
	"floe/internal/rpc/floepb"
)

// A BATCH job runs stage by stage (jobgraph.Stages: pipelined regions
// connected by blocking exchanges): the execution deploys a stage once every
// stage it reads has finished, one stage at a time in the job's slots, and
// the finished stages' outputs stay in their TaskManagers' local files. A
// failure reruns the stage that failed and, first, the finished stages whose
// outputs a lost TaskManager took with it and that a stage still to run
// needs; the other finished stages are kept.

// batchRun is the stage-level state of a BATCH job's execution.
type batchRun struct {
	stages  []*stageState
	running int // the stage deployed now, -1 for none
	// lost holds the TaskManagers lost since the last (re)start.
	lost map[string]bool
}

// stageEvent is a stage deployed or finished, for the JobManager's log.
type stageEvent struct {
	stage    int
	finished bool
}

type stageState struct {
	jobgraph.Stage
	runs     int // deployments so far
	finished bool
	// consumers are the stages that read this one.
	consumers []int
}

func newBatchRun(g *jobgraph.JobGraph) *batchRun {
	b := &batchRun{running: -1, lost: map[string]bool{}}
	for _, st := range g.Stages() {
		b.stages = append(b.stages, &stageState{Stage: st})
	}
	for _, st := range b.stages {
		for _, in := range st.Inputs {
			b.stages[in].consumers = append(b.stages[in].consumers, st.ID)
		}
	}
	return b
}

// nextStage deploys the first stage that has not finished and whose inputs
// have, unless a stage runs. Call with e.batch set.
func (e *execution) nextStage() []action {
	b := e.batch
	if b.running >= 0 || e.status != Running {
		return nil
	}
	for _, st := range b.stages {
		if st.finished {
			continue
		}
		ready := true
		for _, in := range st.Inputs {
			ready = ready && b.stages[in].finished
		}
		if !ready {
			continue
		}
		b.running = st.ID
		st.runs++
		e.stageLog = append(e.stageLog, stageEvent{st.ID, false})
		names, sizes := e.graph.StageSlots(st.Stage)
		first, next := map[string]int{}, 0
		for _, g := range names {
			first[g] = next
			next += sizes[g]
		}
		var acts []action
		for _, id := range st.Vertices {
			v := e.graph.Vertices[id]
			for i, sub := range e.subtasks[id] {
				sub.slot = e.slots[first[v.SlotGroup]+i]
				sub.state = floepb.TaskState_DEPLOYING
			}
		}
		for _, id := range st.Vertices {
			v := e.graph.Vertices[id]
			for i, sub := range e.subtasks[id] {
				acts = append(acts, action{deploy: e.deployment(v, i), addr: sub.slot.addr})
			}
		}
		return acts
	}
	return nil
}

// stageDone moves a BATCH job on once its running stage has finished.
func (e *execution) stageDone() []action {
	b := e.batch
	if b.running < 0 || e.status != Running {
		return nil
	}
	st := b.stages[b.running]
	for _, id := range st.Vertices {
		for _, sub := range e.subtasks[id] {
			if sub.state != floepb.TaskState_FINISHED {
				return nil
			}
		}
	}
	st.finished = true
	b.running = -1
	e.stageLog = append(e.stageLog, stageEvent{st.ID, true})
	return e.nextStage()
}

// holdsNeeded reports whether TaskManager tm holds what the rest of a BATCH
// job needs: one of its slots, or a finished stage's output that a stage
// still to run reads.
func (e *execution) holdsNeeded(tm string) bool {
	for _, s := range e.slots {
		if s.tm == tm {
			return true
		}
	}
	for _, st := range e.batch.stages {
		if st.finished && e.stageOn(st, tm) && e.consumerPending(st) {
			return true
		}
	}
	return false
}

func (e *execution) stageOn(st *stageState, tm string) bool {
	for _, id := range st.Vertices {
		for _, sub := range e.subtasks[id] {
			if sub.slot.tm == tm {
				return true
			}
		}
	}
	return false
}

func (e *execution) consumerPending(st *stageState) bool {
	for _, c := range st.consumers {
		if !e.batch.stages[c].finished {
			return true
		}
	}
	return false
}

// prepareStageRestart resets the stages to run again: those that did not
// finish, and, before them, finished ones whose outputs went with a lost
// TaskManager while a stage to run still reads them.
func (e *execution) prepareStageRestart() {
	b := e.batch
	rerun := make([]bool, len(b.stages))
	for i := len(b.stages) - 1; i >= 0; i-- {
		st := b.stages[i]
		switch {
		case !st.finished:
			rerun[i] = true
		default:
			lost := false
			for tm := range b.lost {
				lost = lost || e.stageOn(st, tm)
			}
			for _, c := range st.consumers {
				rerun[i] = rerun[i] || (lost && rerun[c])
			}
		}
	}
	for i, st := range b.stages {
		if !rerun[i] {
			continue
		}
		st.finished = false
		e.resetSplits(st.Vertices)
		for _, id := range st.Vertices {
			for _, sub := range e.subtasks[id] {
				sub.attempt++
				sub.state = floepb.TaskState_TASK_STATE_UNSPECIFIED
				sub.slot = slot{}
				sub.live = nil
			}
		}
	}
	b.running = -1
	b.lost = map[string]bool{}
}

// StageResult holds a BATCH job's counters of one stage.
type StageResult struct {
	ID       int      `json:"id"`
	Vertices []string `json:"vertices"`
	// Runs is how many times the stage was deployed: 1, plus one for every
	// rerun after a failure.
	Runs int `json:"runs"`
	// Subtasks is the stage's subtasks, Finished how many of the current
	// run have finished.
	Subtasks   int    `json:"subtasks"`
	Finished   int    `json:"finished"`
	Status     string `json:"status"` // WAITING, RUNNING, FINISHED
	RecordsIn  int64  `json:"records_in"`
	RecordsOut int64  `json:"records_out"`
	BytesIn    int64  `json:"bytes_in"`
	BytesOut   int64  `json:"bytes_out"`
	// SpilledBytes is what the stage's batch operators wrote to local
	// spill files past their memory budget.
	SpilledBytes int64 `json:"spilled_bytes"`
	// Splits is the input splits of the stage's file sources, which the
	// JobManager hands out on demand; SplitsAssigned those handed out and
	// not finished in the current run, SplitsDone those finished.
	Splits         int `json:"splits,omitempty"`
	SplitsAssigned int `json:"splits_assigned,omitempty"`
	SplitsDone     int `json:"splits_done,omitempty"`
}

// stageResults returns the counters of every stage (nil for a STREAMING job).
func (e *execution) stageResults() []StageResult {
	if e.batch == nil {
		return nil
	}
	var out []StageResult
	for _, st := range e.batch.stages {
		r := StageResult{ID: st.ID, Runs: st.runs, Status: "WAITING"}
		switch {
		case st.finished:
			r.Status = "FINISHED"
		case e.batch.running == st.ID:
			r.Status = "RUNNING"
		}
		for _, id := range st.Vertices {
			r.Vertices = append(r.Vertices, e.graph.Vertices[id].Name)
			_, sb := e.spilled(id)
			r.SpilledBytes += sb
			n, a, d := e.splitProgress(id)
			r.Splits, r.SplitsAssigned, r.SplitsDone = r.Splits+n, r.SplitsAssigned+a, r.SplitsDone+d
			for _, sub := range e.subtasks[id] {
				r.Subtasks++
				if sub.state == floepb.TaskState_FINISHED {
					r.Finished++
				}
				in, out, bin, bout := sub.recordsIn, sub.recordsOut, sub.bytesIn, sub.bytesOut
				if l := sub.live; l != nil && !terminalTask(sub.state) {
					in, out, bin, bout = l.GetRecordsIn(), l.GetRecordsOut(), l.GetBytesIn(), l.GetBytesOut()
				}
				r.RecordsIn += in
				r.RecordsOut += out
				r.BytesIn += bin
				r.BytesOut += bout
			}
		}
		out = append(out, r)
	}
	return out
}

// StageLine is a one-line summary of a stage's progress, for logs.
func StageLine(r StageResult) string {
	splits := ""
	if r.Splits > 0 {
		splits = fmt.Sprintf(", %d/%d splits (%d reading)", r.SplitsDone, r.Splits, r.SplitsAssigned)
	}
	return fmt.Sprintf("stage %d (%s): %s, %d/%d subtasks%s, run %d, %d records in, %d out, %d bytes out",
		r.ID, strings.Join(r.Vertices, ", "), r.Status, r.Finished, r.Subtasks, splits, r.Runs, r.RecordsIn, r.RecordsOut, r.BytesOut)
}

// logStages logs the stages a BATCH job finished since the last call. Call
// with mu held.
func (jm *JobManager) logStages(e *jobEntry) {
	if len(e.exec.stageLog) == 0 {
		return
	}
	rs := e.exec.stageResults()
	for _, ev := range e.exec.stageLog {
		r := rs[ev.stage]
		if ev.finished {
			jm.log.Info().Str("job", e.exec.id).Int("stage", r.ID).Strs("vertices", r.Vertices).Int("runs", r.Runs).
				Int64("records_in", r.RecordsIn).Int64("records_out", r.RecordsOut).Int64("bytes_out", r.BytesOut).Msg("stage finished")
			continue
		}
		var where []string
		for _, id := range e.exec.batch.stages[ev.stage].Vertices {
			for _, sub := range e.exec.subtasks[id] {
				if tm := jm.tms[sub.slot.tm]; tm != nil && !slices.Contains(where, tm.resourceID) {
					where = append(where, tm.resourceID)
				}
			}
		}
		jm.log.Info().Str("job", e.exec.id).Int("stage", r.ID).Strs("vertices", r.Vertices).Int("run", r.Runs).
			Strs("taskmanagers", where).Msg("stage deployed")
	}
	e.exec.stageLog = nil
}

// releaseBatchFiles tells every TaskManager a BATCH job used that the job
// ended, so they remove its blocking partitions' files. Call with mu held.
func (jm *JobManager) releaseBatchFiles(e *jobEntry) {
	if e.exec.batch == nil {
		return
	}
	for id := range e.exec.used {
		tm := jm.tms[id]
		if tm == nil {
			continue
		}
		job := e.exec.id
		jm.goRPC(10*time.Second, func(ctx context.Context) {
			if _, err := tm.client.ReleaseJob(ctx, &floepb.ReleaseJobRequest{JobId: job}); err != nil {
				jm.log.Debug().Err(err).Str("job", job).Str("taskmanager", tm.resourceID).Msg("releasing the job's batch exchange files failed")
			}
		})
	}
}

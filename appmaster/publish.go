package appmaster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"floe/internal/output"
)

// Job-level publication of file outputs. A bounded file sink's subtasks
// leave their last parts hidden (output.ReadyName) in the directories their
// vertices name (jobgraph.Vertex.OutputDirs); when the job has ended, and
// before anyone waiting for it hears so, the JobManager publishes them all
// (renames) if it finished, or removes them if it failed or was cancelled.
// Readers never see part of a result, and a failed job leaves no parts,
// attached or detached. Parts published by completed checkpoints (streaming
// two-phase commit) are not this file's concern.

// publishTimeout bounds the renames of one job's outputs.
const publishTimeout = 5 * time.Minute

// outputSettlement is where a job is in settling its outputs.
type outputSettlement uint8

const (
	outputsOpen outputSettlement = iota
	outputsSettling
	outputsSettled
)

// outputDirs are the output directories of e's file sinks.
func outputDirs(e *jobEntry) []string {
	var dirs []string
	for _, v := range e.exec.graph.Vertices {
		dirs = append(dirs, v.OutputDirs...)
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// settleOutputs tells whether e's outputs are settled, so that its end may
// be announced; if not, it starts settling them, and apply runs again when
// that is done. A job whose outputs cannot be published fails. Call with
// mu held, once e's status is terminal.
func (jm *JobManager) settleOutputs(e *jobEntry) bool {
	switch e.outputs {
	case outputsSettled:
		return true
	case outputsSettling:
		return false
	}
	dirs := outputDirs(e)
	// Only the ends the job reached itself are recorded: a cancel may come
	// from YARN stopping this attempt's container, and a successor then
	// goes on with the job.
	onEnd := jm.opts.OnEnd
	if e.exec.status == Canceled {
		onEnd = nil
	}
	if len(dirs) == 0 && onEnd == nil {
		e.outputs = outputsSettled
		return true
	}
	e.outputs = outputsSettling
	id, status, failure := e.exec.id, e.exec.status, e.exec.failure
	var end Settled
	settle := func(ctx context.Context) {
		if onEnd != nil {
			// Recorded first: a successor attempt that finds the record
			// finishes what follows instead of running the job again.
			if err := onEnd(ctx, id, status, failure, dirs); err != nil { // then as before: a successor would run the job again
				jm.log.Warn().Str("job", id).Err(err).Msg("cannot record the job's end for a successor attempt")
			}
		}
		end = SettleOutputs(ctx, id, status, failure, dirs, jm.log)
	}
	finish := func() {
		e.outputs = outputsSettled
		e.exec.status, e.exec.failure = end.Status, end.Failure
	}
	if jm.stopped { // no goroutines any more: settle here
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		settle(ctx)
		finish()
		return true
	}
	jm.inflight.Add(1)
	go func() {
		defer jm.inflight.Done()
		ctx, cancel := context.WithTimeout(jm.rpcCtx, publishTimeout)
		defer cancel()
		settle(ctx)
		jm.mu.Lock()
		defer jm.mu.Unlock()
		finish()
		jm.apply(e, nil)
	}()
	return false
}

// Settled is how a job ends once its outputs are settled.
type Settled struct {
	Status  JobStatus
	Failure string
	Parts   int // parts published or removed
}

// SettleOutputs publishes the parts job left waiting in dirs when status is
// FINISHED, or removes them otherwise, and says how the job ends: as status
// says, except that a FINISHED job whose parts cannot all be published ends
// FAILED, saying why. The JobManager settles its jobs' outputs with it, and
// a YARN attempt those of a job an earlier attempt saw end.
func SettleOutputs(ctx context.Context, job string, status JobStatus, failure string, dirs []string, log zerolog.Logger) Settled {
	end := Settled{Status: status, Failure: failure}
	if len(dirs) == 0 {
		return end
	}
	succeeded := status == Finished
	var errs []error
	for _, dir := range dirs {
		k, err := output.Settle(ctx, dir, job, succeeded)
		end.Parts += k
		errs = append(errs, err)
	}
	log.Info().Str("job", job).Bool("published", succeeded).Int("parts", end.Parts).Strs("outputs", dirs).Msg("outputs settled")
	if err := errors.Join(errs...); err != nil && succeeded {
		end.Status, end.Failure = Failed, fmt.Sprintf("the job finished, but its output was not published: %v", err)
	} else if err != nil {
		log.Warn().Str("job", job).Err(err).Msg("the unpublished parts of a failed job were not all removed")
	}
	return end
}

// reported is the state a job is shown in: a job whose outputs are still
// being settled is shown as on its way to its end (FINISHED as RUNNING,
// FAILED as FAILING, CANCELED as CANCELLING), so that nobody polling its
// state reads its outputs before they are published. Call with mu held.
func (e *jobEntry) reported() JobDetails {
	d := e.exec.details()
	if !d.State.Terminal() {
		return d
	}
	select {
	case <-e.done:
		return d
	default:
	}
	switch d.State {
	case Finished:
		d.State = Running
	case Failed:
		d.State = Failing
	case Canceled:
		d.State = Canceling
	}
	return d
}

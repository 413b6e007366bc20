package appmaster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
	succeeded := status == Finished
	settle := func(ctx context.Context) error {
		if onEnd != nil {
			// Recorded first: a successor attempt that finds the record
			// finishes what follows instead of running the job again.
			if err := onEnd(ctx, id, status, failure, dirs); err != nil { // then as before: a successor would run the job again
				jm.log.Warn().Str("job", id).Err(err).Msg("cannot record the job's end for a successor attempt")
			}
		}
		var errs []error
		n := 0
		for _, dir := range dirs {
			k, err := output.Settle(ctx, dir, id, succeeded)
			n += k
			errs = append(errs, err)
		}
		if len(dirs) == 0 {
			return nil
		}
		jm.log.Info().Str("job", id).Bool("published", succeeded).Int("parts", n).Strs("outputs", dirs).Msg("outputs settled")
		return errors.Join(errs...)
	}
	finish := func(err error) {
		e.outputs = outputsSettled
		if err != nil && succeeded {
			e.exec.status = Failed
			e.exec.failure = fmt.Sprintf("the job finished, but its output was not published: %v", err)
		} else if err != nil {
			jm.log.Warn().Str("job", id).Err(err).Msg("the unpublished parts of a failed job were not all removed")
		}
	}
	if jm.stopped { // no goroutines any more: settle here
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		finish(settle(ctx))
		return true
	}
	jm.inflight.Add(1)
	go func() {
		defer jm.inflight.Done()
		ctx, cancel := context.WithTimeout(jm.rpcCtx, publishTimeout)
		defer cancel()
		err := settle(ctx)
		jm.mu.Lock()
		defer jm.mu.Unlock()
		finish(err)
		jm.apply(e, nil)
	}()
	return false
}

// reported is the state a job is shown in: a job whose outputs are still
// being settled is shown as on its way to its end (FINISHED as RUNNING,
// FAILED as FAILING, CANCELED as CANCELLING), so that nobody polling its
// state reads its outputs before they are published. Call with mu held.
func (e *jobEntry) reported() JobDetails {
	d := e.exec.details()
	if d.State.Terminal() {
		select {
		case <-e.done:
		default:
			d.State = map[JobStatus]JobStatus{Finished: Running, Failed: Failing, Canceled: Canceling}[d.State]
		}
	}
	return d
}

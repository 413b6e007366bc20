// Package client is what a job's own code uses to follow the job it
// submitted with Execute or ExecuteAsync: how it ended (Result), a handle to
// a running job (JobClient: savepoint, cancel, wait), and the errors to
// match with errors.Is. The submitting itself is internal (internal/submit).
package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"floe/appmaster"
)

var (
	// ErrJobFailed is wrapped by the error of a job that ran and failed.
	ErrJobFailed = errors.New("job failed")
	// ErrJobCanceled is wrapped by the error of a job that was cancelled.
	ErrJobCanceled = errors.New("job cancelled")
	// ErrUnsupported is returned for targets and options this build cannot run.
	ErrUnsupported = errors.New("not supported")
	// ErrGraphMismatch is wrapped (with ErrJobFailed) by the error of a job
	// whose TaskManagers built a different graph than its JobManager: the
	// job's program is not deterministic (see datastream's doc). It is a
	// usage error (floe exits 2): running it again fails the same way.
	ErrGraphMismatch = appmaster.ErrGraphMismatch
)

// Result is how a job ended.
type Result = appmaster.JobResult

// Outcome turns a finished job into Execute's result: nil error when it
// finished, ErrJobCanceled or ErrJobFailed wrapped otherwise.
func Outcome(r appmaster.JobResult) (*Result, error) {
	switch r.Status {
	case appmaster.Finished:
		return &r, nil
	case appmaster.Canceled:
		return &r, fmt.Errorf("%w (job %s)", ErrJobCanceled, r.ID)
	default:
		return &r, FailedError(r.Failure)
	}
}

// waitTimeout is how long a cancelled job may take to stop.
const waitTimeout = 10 * time.Second

// JobClient follows a job started with ExecuteAsync.
type JobClient struct {
	handle  *appmaster.JobHandle
	cleanup func()
	once    sync.Once
	result  *Result
	err     error
}

// ID is the job id.
func (c *JobClient) ID() string { return c.handle.ID() }

// Savepoint writes a savepoint into dir (empty: the configured savepoint
// directory) and returns its path; with stop the job is cancelled after it.
func (c *JobClient) Savepoint(ctx context.Context, dir string, stop bool) (string, error) {
	return c.handle.TriggerSavepoint(ctx, dir, stop)
}

// Cancel asks the job to stop.
func (c *JobClient) Cancel() { c.handle.Cancel() }

// Stages returns a BATCH job's stages as they are now: status, runs,
// subtasks finished, records and bytes (nil for a STREAMING job).
func (c *JobClient) Stages() []appmaster.StageResult { return c.handle.Stages() }

// Wait waits for the job to end and stops the local cluster; when ctx ends
// first, it cancels the job.
func (c *JobClient) Wait(ctx context.Context) (*Result, error) {
	c.once.Do(func() {
		defer c.cleanup()
		r, err := c.handle.Wait(ctx)
		if err != nil { // interrupted: cancel the job and wait for it to stop
			c.handle.Cancel()
			wctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if r, err = c.handle.Wait(wctx); err != nil {
				c.err = fmt.Errorf("%w: did not stop within %s", ErrJobCanceled, waitTimeout)
				return
			}
		}
		c.result, c.err = Outcome(r)
	})
	return c.result, c.err
}

// NewJobClient follows the job of h; cleanup runs once, after the job ended
// (it stops the local cluster the job ran on).
func NewJobClient(h *appmaster.JobHandle, cleanup func()) *JobClient {
	return &JobClient{handle: h, cleanup: cleanup}
}

// FailedError is the error of a job that failed with this one-line cause:
// it wraps ErrJobFailed, and the sentinel the cause names, if any
// (appmaster.FailureCause).
func FailedError(failure string) error {
	e := &failedError{msg: ErrJobFailed.Error() + ": " + failure, errs: []error{ErrJobFailed}}
	if c := appmaster.FailureCause(failure); c != nil {
		e.errs = append(e.errs, c)
	}
	return e
}

type failedError struct {
	msg  string
	errs []error
}

func (e *failedError) Error() string   { return e.msg }
func (e *failedError) Unwrap() []error { return e.errs }

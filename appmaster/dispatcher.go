package appmaster

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc/floepb"
)

// Dispatcher serves the job-facing RPCs of the Dispatcher service (GetJob,
// ListJobs, CancelJob, TriggerSavepoint: `floe list`, `floe cancel`, `floe
// savepoint`, `floe stop`) over a JobManager's jobs. A per-job application
// registers it as it is; a session embeds it and adds what only a session
// has: SubmitJob, RegisterSupervisor, StopSession, and the jobs it accepted
// before the JobManager has them (WithAccepted). Job ids from callers are
// resolved by ResolveJobID. It is safe for concurrent use.
type Dispatcher struct {
	floepb.UnimplementedDispatcherServer
	jm  *JobManager
	cfg dispatcherConfig
}

type dispatcherConfig struct {
	scope    string
	accepted func() []*floepb.JobInfo
}

// A DispatcherOption configures a Dispatcher.
type DispatcherOption func(*dispatcherConfig)

// InScope names what holds the jobs, for errors: "no such job ... in this
// <scope>". The default is "application".
func InScope(scope string) DispatcherOption {
	return func(c *dispatcherConfig) { c.scope = scope }
}

// WithAccepted adds the jobs the dispatcher's owner accepted itself (a
// session places a job's TaskManagers before it submits the job to the
// JobManager, and a job can fail before it gets there). fn returns their
// info as new values, which the Dispatcher may change: for a job the
// JobManager also has, the JobManager's status, failure and end time replace
// fn's, and fn's start time and container reuse are kept.
func WithAccepted(fn func() []*floepb.JobInfo) DispatcherOption {
	return func(c *dispatcherConfig) { c.accepted = fn }
}

// NewDispatcher returns the Dispatcher of jm's jobs.
func NewDispatcher(jm *JobManager, opts ...DispatcherOption) *Dispatcher {
	cfg := dispatcherConfig{scope: "application"}
	for _, o := range opts {
		o(&cfg)
	}
	return &Dispatcher{jm: jm, cfg: cfg}
}

// jobs returns the info of every job, by id.
func (d *Dispatcher) jobs() map[string]*floepb.JobInfo {
	out := map[string]*floepb.JobInfo{}
	if d.cfg.accepted != nil {
		for _, ji := range d.cfg.accepted() {
			out[ji.GetJobId()] = ji
		}
	}
	for _, j := range d.jm.Jobs() {
		ji, ok := out[j.ID]
		if !ok {
			ji = &floepb.JobInfo{JobId: j.ID, Name: j.Name, StartTimeMs: j.StartTime}
			out[j.ID] = ji
		}
		ji.Status, ji.Failure, ji.EndTimeMs = string(j.State), j.Failure, j.EndTime
	}
	return out
}

// info resolves id among every job and returns the job's info.
func (d *Dispatcher) info(id string) (*floepb.JobInfo, error) {
	jobs := d.jobs()
	jid, err := ResolveJobID(id, slices.Collect(maps.Keys(jobs)))
	if err != nil {
		if errors.Is(err, ErrNoSuchJob) {
			return nil, status.Errorf(codes.NotFound, "%v in this %s", err, d.cfg.scope)
		}
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return jobs[jid], nil
}

// handle resolves id and returns the JobManager's handle of the job; a job
// accepted but not (or no longer going to be) in the JobManager has none.
func (d *Dispatcher) handle(id string) (*JobHandle, error) {
	ji, err := d.info(id)
	if err != nil {
		return nil, err
	}
	h, err := d.jm.Job(ji.GetJobId())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "job %s is %s and not in the JobManager", ji.GetJobId(), ji.GetStatus())
	}
	return h, nil
}

// GetJob returns a job's info.
// A BATCH job's info holds its stages.
func (d *Dispatcher) GetJob(_ context.Context, r *floepb.JobRef) (*floepb.JobInfo, error) {
	ji, err := d.info(r.GetJobId())
	if err != nil {
		return nil, err
	}
	if h, err := d.jm.Job(ji.GetJobId()); err == nil {
		// Ended before the stages are read: then they are the final ones.
		ended := false
		select {
		case <-h.Done():
			ended = true
		default:
		}
		defer h.entry.handover.asked(ended)
		for _, s := range h.Stages() {
			ji.Stages = append(ji.Stages, &floepb.StageInfo{Id: int32(s.ID), Vertices: s.Vertices, Runs: int32(s.Runs),
				Subtasks: int32(s.Subtasks), Finished: int32(s.Finished), Status: s.Status, RecordsIn: s.RecordsIn,
				RecordsOut: s.RecordsOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut, SpilledBytes: s.SpilledBytes,
				Splits: int32(s.Splits), SplitsAssigned: int32(s.SplitsAssigned), SplitsDone: int32(s.SplitsDone)})
		}
	}
	return ji, nil
}

// StagesOf returns the stages of a job's info (nil for a STREAMING job).
func StagesOf(ji *floepb.JobInfo) []StageResult {
	var out []StageResult
	for _, s := range ji.GetStages() {
		out = append(out, StageResult{ID: int(s.GetId()), Vertices: s.GetVertices(), Runs: int(s.GetRuns()),
			Subtasks: int(s.GetSubtasks()), Finished: int(s.GetFinished()), Status: s.GetStatus(), RecordsIn: s.GetRecordsIn(),
			RecordsOut: s.GetRecordsOut(), BytesIn: s.GetBytesIn(), BytesOut: s.GetBytesOut(), SpilledBytes: s.GetSpilledBytes(),
			Splits: int(s.GetSplits()), SplitsAssigned: int(s.GetSplitsAssigned()), SplitsDone: int(s.GetSplitsDone())})
	}
	return out
}

// ListJobs returns every job, newest first.
func (d *Dispatcher) ListJobs(context.Context, *floepb.ListJobsRequest) (*floepb.ListJobsResponse, error) {
	jobs := slices.SortedFunc(maps.Values(d.jobs()), func(a, b *floepb.JobInfo) int {
		return cmp.Or(cmp.Compare(b.GetStartTimeMs(), a.GetStartTimeMs()), strings.Compare(a.GetJobId(), b.GetJobId()))
	})
	return &floepb.ListJobsResponse{Jobs: jobs}, nil
}

// CancelJob asks a job to stop and returns its info.
func (d *Dispatcher) CancelJob(_ context.Context, r *floepb.JobRef) (*floepb.JobInfo, error) {
	h, err := d.handle(r.GetJobId())
	if err != nil {
		return nil, err
	}
	h.Cancel()
	return d.info(h.ID())
}

// TriggerSavepoint takes a savepoint of a running job (and stops it, with Stop).
func (d *Dispatcher) TriggerSavepoint(ctx context.Context, r *floepb.SavepointRequest) (*floepb.SavepointResponse, error) {
	h, err := d.handle(r.GetJobId())
	if err != nil {
		return nil, err
	}
	path, err := h.TriggerSavepoint(ctx, r.GetDir(), r.GetStop())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "savepoint of %s: %v", h.ID(), err)
	}
	return &floepb.SavepointResponse{Path: path}, nil
}

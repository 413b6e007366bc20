package yarn

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/checkpoint"
	"floe/internal/failover"
	"floe/internal/fsys"
	yarnrpc "floe/internal/hadoop/yarn"
	"floe/internal/jobgraph"
	"floe/internal/role"
)

// ErrSuperseded ends an ApplicationMaster attempt that finds a newer one
// running: it must not finish the application nor clean its staging.
var ErrSuperseded = errors.New("superseded by a newer ApplicationMaster attempt")

// Attempt is this ApplicationMaster's attempt and container id: YARN's
// attempt number, from the container id (CONTAINER_ID) YARN sets; 1 when
// there is none.
func Attempt() (int32, string) {
	id := os.Getenv("CONTAINER_ID")
	c, err := yarnrpc.ParseContainerID(id)
	if err != nil || c.Attempt.Attempt < 1 {
		return 1, id
	}
	return c.Attempt.Attempt, id
}

// Staging is what an attempt keeps in the application's staging directory:
// job.json (per-job), jobs/ (a session's), and jobmanager.json, the leader
// file whose attempt number fences older attempts.
type Staging struct {
	fs      fsys.FS
	dir     string
	attempt int32
}

// OpenStaging opens the staging directory FLOE_STAGING names for attempt;
// nil without one (outside YARN).
func OpenStaging(attempt int32) (*Staging, error) {
	dir := os.Getenv(role.EnvStaging)
	if dir == "" {
		return nil, nil
	}
	fs, p, err := fsys.Resolve("hdfs://" + dir)
	if err != nil {
		return nil, fmt.Errorf("staging directory %s: %w", dir, err)
	}
	return &Staging{fs: fs, dir: p, attempt: attempt}, nil
}

// newMetadata is what the job's first attempt records for its successors.
func newMetadata(g *jobgraph.JobGraph, jobID string, attempt int32) (failover.Metadata, error) {
	m := failover.Metadata{JobID: jobID, Args: os.Args[1:], Config: map[string]string{}, Attempt: attempt,
		Application: os.Getenv("APPLICATION_ID"), Written: time.Now().UTC()}
	if c, err := yarnrpc.ParseContainerID(os.Getenv("CONTAINER_ID")); err == nil {
		m.Application = c.Attempt.App.String()
	}
	for _, k := range g.Config.Keys() {
		m.Config[k] = g.Config.String(k, "")
	}
	if b := os.Getenv(role.EnvBinary); b != "" {
		if _, err := decodeResource(b); err != nil {
			return m, fmt.Errorf("%s: %w", role.EnvBinary, err)
		}
		m.Binary, _ = base64.StdEncoding.DecodeString(b)
	}
	m.Savepoint = g.Config.String(appmaster.KeySavepointPath, "")
	cfg, err := checkpoint.ParseConfig(g.Config)
	if err != nil {
		return m, err
	}
	if cfg.Dir != "" {
		m.CheckpointDir = checkpoint.JobDir(cfg.Dir, jobID)
	}
	return m, nil
}

// prepare is the start of an attempt: the first writes the job's metadata
// before the job starts; a later one reads it and goes on with its job id
// (it then restores from the job's latest checkpoint, as a restart does).
// A later attempt that finds no metadata (the first died before writing it)
// writes it, as the job had not started.
func (s *Staging) prepare(ctx context.Context, g *jobgraph.JobGraph, jobID string, log zerolog.Logger) (failover.Metadata, error) {
	if s.attempt > 1 {
		m, err := failover.ReadMetadata(ctx, s.fs, s.dir)
		switch {
		case err == nil:
			if jobID != "" && m.JobID != jobID {
				return m, fmt.Errorf("attempt %d: the job metadata in %s names job %s, the launch context %s", s.attempt, s.dir, m.JobID, jobID)
			}
			log.Warn().Int32("attempt", s.attempt).Str("job", m.JobID).Int32("written_by", m.Attempt).Str("checkpoints", m.CheckpointDir).
				Msg("a new ApplicationMaster attempt: recovering the job from its metadata")
			return m, nil
		case !errors.Is(err, fsys.ErrNotExist):
			return m, fmt.Errorf("attempt %d: %w", s.attempt, err)
		}
		log.Warn().Int32("attempt", s.attempt).Msg("no job metadata from a previous attempt: starting the job")
	}
	m, err := newMetadata(g, jobID, s.attempt)
	if err != nil {
		return m, err
	}
	if err := failover.WriteMetadata(ctx, s.fs, s.dir, m); err != nil {
		return m, fmt.Errorf("job metadata: %w", err)
	}
	return m, nil
}

// FS and Dir are the staging directory's filesystem and path.
func (s *Staging) FS() fsys.FS { return s.fs }

// Dir is the staging directory's path in FS.
func (s *Staging) Dir() string { return s.dir }

// Publish makes this attempt's JobManager the one TaskManagers (and a
// session's supervisors) follow.
func (s *Staging) Publish(ctx context.Context, addr, container string) error {
	return failover.PublishLeader(ctx, s.fs, s.dir, failover.Leader{Attempt: s.attempt, Address: addr, Container: container, Written: time.Now().UTC()})
}

// Fence fails with ErrSuperseded when a newer attempt has published itself.
func (s *Staging) Fence(ctx context.Context) error {
	sup, l, err := failover.Superseded(ctx, s.fs, s.dir, s.attempt)
	if err != nil {
		return fmt.Errorf("attempt %d: cannot check for a newer attempt: %w", s.attempt, err)
	}
	if sup {
		return fmt.Errorf("attempt %d: %w (attempt %d at %s)", s.attempt, ErrSuperseded, l.Attempt, l.Address)
	}
	return nil
}

// RecordEnd is the JobManager's OnEnd: it records in the staging directory
// that job ended (failover.Ended), so that a successor attempt settles the
// job's outputs and ends it as recorded instead of running it again. An
// attempt that a newer one superseded records nothing.
func (s *Staging) RecordEnd(ctx context.Context, job string, status appmaster.JobStatus, failure string, outputs []string) error {
	if err := s.Fence(ctx); err != nil {
		return err
	}
	e := failover.Ended{JobID: job, Status: string(status), Failure: failure, Outputs: outputs, Attempt: s.attempt, Written: time.Now().UTC()}
	if err := failover.WriteEnded(ctx, s.fs, s.dir, e); err != nil {
		return fmt.Errorf("record the end of job %s: %w", job, err)
	}
	return nil
}

// SettleEnded looks for an earlier attempt's record that job ended; if there
// is one (ok), it publishes (FINISHED) or removes (FAILED) the parts the job
// left waiting in its outputs, as the earlier attempt was doing when it
// died (appmaster.SettleOutputs), and returns how the job ends.
func (s *Staging) SettleEnded(ctx context.Context, job string, log zerolog.Logger) (appmaster.Settled, bool, error) {
	if s.attempt < 2 {
		return appmaster.Settled{}, false, nil
	}
	e, ok, err := failover.RecordedEnd(ctx, s.fs, s.dir, job)
	if err != nil || !ok {
		return appmaster.Settled{}, false, err
	}
	end := appmaster.SettleOutputs(ctx, job, appmaster.JobStatus(e.Status), e.Failure, e.Outputs, log)
	log.Warn().Str("job", job).Str("status", string(end.Status)).Int32("recorded_by", e.Attempt).Int("parts", end.Parts).Strs("outputs", e.Outputs).
		Msg("an earlier attempt saw the job end: its outputs are settled and the job is not run again")
	return end, true, nil
}

// ForgetEnded removes job's end record (a session's job, once its record is
// gone too).
func (s *Staging) ForgetEnded(ctx context.Context, job string) error {
	return s.fs.RemoveAll(ctx, s.fs.Join(s.dir, failover.EndedDir, job+".json"))
}

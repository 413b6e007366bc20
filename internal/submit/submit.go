// Package submit is the client role: it submits jobs and follows them to their end: locally (the
// JobManager and TaskManagers in this process, or TaskManagers as child
// processes), as a YARN application of their own (per job), or into a
// running yarn-session. It is what a job's Execute reaches in the client
// role, and what `floe` uses to list, cancel, stop and savepoint jobs.
//
// The types a job's own code sees (client.Result, JobClient, the errors) are in the
// public package client.
package submit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/checkpoint"
	"floe/client"
	"floe/config"
	"floe/internal/jobgraph"
	"floe/internal/keygroup"
	"floe/internal/state"
)

// Submit runs g where its configuration's execution.target says (local by
// default) and, attached, waits for it to end.
func Submit(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*client.Result, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateConfig(g.Config); err != nil {
		return nil, err
	}
	if err := checkStorage(ctx, g); err != nil {
		return nil, err
	}
	summary, err := g.Config.Bool(config.JSONSummary, false)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var r *client.Result
	switch t := g.Config.String(config.Target, "local"); t {
	case "local":
		r, err = runLocal(ctx, g, log)
	case "yarn-per-job", "yarn-application":
		r, err = runYarnPerJob(ctx, g, log, summary)
	case "yarn-session":
		r, err = runInSession(ctx, g, log, summary)
	default:
		return nil, fmt.Errorf("%w: target %q (local, yarn-per-job, yarn-application, yarn-session)", client.ErrUnsupported, t)
	}
	if summary {
		printSummary(os.Stdout, g, r, err, time.Since(start))
	}
	return r, err
}

// Summary is what --json prints when a run ends.
type Summary struct {
	JobID       string                   `json:"job_id"`
	Name        string                   `json:"name"`
	Application string                   `json:"application_id,omitempty"`
	Status      string                   `json:"status"`
	Error       string                   `json:"error,omitempty"`
	DurationMS  int64                    `json:"duration_ms"`
	Vertices    []appmaster.VertexResult `json:"vertices,omitempty"`
	// Stages are a BATCH job's stages: how often each ran, its counters.
	Stages []appmaster.StageResult `json:"stages,omitempty"`
}

func printSummary(w io.Writer, g *jobgraph.JobGraph, r *client.Result, err error, d time.Duration) {
	s := Summary{Name: g.Name, DurationMS: d.Milliseconds(), Status: "FAILED"}
	if r != nil {
		s.JobID, s.Application, s.Status, s.Vertices, s.Stages = r.ID, r.Application, string(r.Status), r.Vertices, r.Stages
	}
	if err != nil {
		s.Error = err.Error()
	}
	b, _ := json.Marshal(s)
	fmt.Fprintln(w, string(b))
}

// ValidateConfig checks the values of the keys the runtime reads, so a typo
// fails before anything starts rather than inside a task.
func ValidateConfig(c config.Config) error {
	for _, k := range []string{config.BufferTimeout, config.HeartbeatInterval, config.HeartbeatTimeout, config.JobTimeout, config.SlotRequestTimeout} {
		if _, err := c.Duration(k, 0); err != nil {
			return err
		}
	}
	for _, k := range []string{config.BatchSize, config.Credits, config.QueueCapacity, config.Slots, config.LocalTaskManagers, config.Parallelism, config.MaxParallelism} {
		n, err := c.Int(k, 1)
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("%w: %s=%d must be at least 1", config.ErrInvalid, k, n)
		}
	}
	for _, k := range []string{config.LocalProcesses, config.MetricsEnabled} {
		if _, err := c.Bool(k, false); err != nil {
			return err
		}
	}
	if port, err := c.Int(config.RESTPort, 0); err != nil {
		return err
	} else if port < 0 || port > 65535 {
		return fmt.Errorf("%w: %s=%d is not a port", config.ErrInvalid, config.RESTPort, port)
	}
	if d, _ := c.Duration(config.BufferTimeout, 0); d < 0 && d != -time.Millisecond {
		return fmt.Errorf("%w: %s=%s: want -1 (send only full batches), 0 (every record) or a positive duration", config.ErrInvalid, config.BufferTimeout, c.String(config.BufferTimeout, ""))
	}
	p, _ := c.Int(config.Parallelism, 1)
	if mp, _ := c.Int(config.MaxParallelism, keygroup.DefaultMaxParallelism); p > mp {
		return fmt.Errorf("%w: parallelism %d is above the max parallelism %d (%s)", config.ErrInvalid, p, mp, config.MaxParallelism)
	}
	if m, ok := c.Lookup(datastreamRuntimeMode); ok && !strings.EqualFold(m, "STREAMING") && !strings.EqualFold(m, "BATCH") {
		return fmt.Errorf("%w: %s=%q: want STREAMING or BATCH", config.ErrInvalid, datastreamRuntimeMode, m)
	}
	if _, err := checkpoint.ParseConfig(c); err != nil {
		return err
	}
	if _, err := c.TaskManagerCores(1); err != nil {
		return err
	}
	if _, err := c.TaskManagerGC(); err != nil {
		return err
	}
	if _, err := c.TaskManagerTransport(); err != nil {
		return err
	}
	if _, err := state.MemoryFromConfig(c, 1); err != nil {
		return err
	}
	if _, err := config.Unknown(c); err != nil {
		return err
	}
	_, err := appmaster.ParseRestartStrategy(c)
	return err
}

// datastreamRuntimeMode is datastream.RuntimeModeKey (datastream depends on this package).
const datastreamRuntimeMode = "execution.runtime-mode"

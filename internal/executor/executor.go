// Package executor runs a job graph in the role this process was started in:
// as the client of a local run (JobManager and TaskManagers in this process,
// or TaskManagers as child processes of the same binary), or as a TaskManager
// process started by such a client. The YARN targets arrive here later.
package executor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/internal/config"
	"floe/internal/jobgraph"
)

// Environment variables that carry a process's role and its wiring.
const (
	EnvRole       = "FLOE_ROLE"        // "" (client) or "taskmanager"
	EnvConfig     = "FLOE_CONFIG"      // JSON object of configuration keys
	EnvJobManager = "FLOE_JOBMANAGER"  // the JobManager's address
	EnvSecret     = "FLOE_SECRET"      // the application's secret
	EnvSlots      = "FLOE_SLOTS"       // slots of this TaskManager
	EnvResourceID = "FLOE_RESOURCE_ID" // name of this TaskManager
)

// Target selects where a job runs.
const Target = "execution.target"

var (
	// ErrJobFailed is wrapped by the error of a job that ran and failed.
	ErrJobFailed = errors.New("job failed")
	// ErrJobCanceled is wrapped by the error of a job that was cancelled.
	ErrJobCanceled = errors.New("job cancelled")
	// ErrUnsupported is returned for targets and options this build cannot run.
	ErrUnsupported = errors.New("not supported")
)

// Result is how a job ended.
type Result = appmaster.JobResult

// ConfigFromEnv reads the configuration handed down in FLOE_CONFIG.
func ConfigFromEnv() (config.Config, error) {
	var c config.Config
	s := os.Getenv(EnvConfig)
	if s == "" {
		return c, nil
	}
	b := []byte(s)
	if !strings.HasPrefix(s, "{") { // base64, as in YARN launch contexts, whose shell quoting JSON does not survive
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return config.Config{}, fmt.Errorf("%s: %w", EnvConfig, err)
		}
		b = raw
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return config.Config{}, fmt.Errorf("%s: %w", EnvConfig, err)
	}
	return c, nil
}

// Execute runs g in this process's role. In a TaskManager process it does not return.
func Execute(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*Result, error) {
	switch role := os.Getenv(EnvRole); role {
	case "taskmanager":
		os.Exit(runTaskManagerProcess(ctx, g, log))
		return nil, nil
	case "jobmanager":
		os.Exit(runJobManagerProcess(ctx, g, log))
		return nil, nil
	case "plan": // a session asks for the job's graph
		os.Exit(writePlan(g))
		return nil, nil
	case "":
	default:
		return nil, fmt.Errorf("%w: %s=%q", ErrUnsupported, EnvRole, role)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateConfig(g.Config); err != nil {
		return nil, err
	}
	summary, err := g.Config.Bool(JSONSummary, false)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var r *Result
	switch t := g.Config.String(Target, "local"); t {
	case "local":
		r, err = runLocal(ctx, g, log)
	case "yarn-per-job", "yarn-application":
		r, err = runYarnPerJob(ctx, g, log, summary)
	case "yarn-session":
		r, err = runInSession(ctx, g, log, summary)
	default:
		return nil, fmt.Errorf("%w: target %q (local, yarn-per-job, yarn-application)", ErrUnsupported, t)
	}
	if summary {
		printSummary(os.Stdout, g, r, err, time.Since(start))
	}
	return r, err
}

// JSONSummary makes the client print a JSON summary of the run on stdout (floe run --json).
const JSONSummary = "floe.client.json-summary"

// Summary is what --json prints when a run ends.
type Summary struct {
	JobID       string                   `json:"job_id"`
	Name        string                   `json:"name"`
	Application string                   `json:"application_id,omitempty"`
	Status      string                   `json:"status"`
	Error       string                   `json:"error,omitempty"`
	DurationMS  int64                    `json:"duration_ms"`
	Vertices    []appmaster.VertexResult `json:"vertices,omitempty"`
}

func printSummary(w io.Writer, g *jobgraph.JobGraph, r *Result, err error, d time.Duration) {
	s := Summary{Name: g.Name, DurationMS: d.Milliseconds(), Status: "FAILED"}
	if r != nil {
		s.JobID, s.Application, s.Status, s.Vertices = r.ID, r.Application, string(r.Status), r.Vertices
	}
	if err != nil {
		s.Error = err.Error()
	}
	b, _ := json.Marshal(s)
	fmt.Fprintln(w, string(b))
}

// EnvPlanFile names the file a process in the plan role writes the graph to.
const EnvPlanFile = "FLOE_PLAN_FILE"

func writePlan(g *jobgraph.JobGraph) int {
	b, err := g.MarshalPlan()
	if err == nil {
		err = os.WriteFile(os.Getenv(EnvPlanFile), b, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floe plan:", err)
		return 1
	}
	return 0
}

// outcome turns a finished job into Execute's result.
func outcome(r appmaster.JobResult) (*Result, error) {
	switch r.Status {
	case appmaster.Finished:
		return &r, nil
	case appmaster.Canceled:
		return &r, fmt.Errorf("%w (job %s)", ErrJobCanceled, r.ID)
	default:
		return &r, fmt.Errorf("%w: %s", ErrJobFailed, r.Failure)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// waitTimeout is how long shutting down may take before processes are killed.
const waitTimeout = 10 * time.Second

// ValidateConfig checks the values of the keys the runtime reads, so a typo
// fails before anything starts rather than inside a task.
func ValidateConfig(c config.Config) error {
	for _, k := range []string{config.BufferTimeout, config.HeartbeatInterval, config.HeartbeatTimeout} {
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
	if _, err := c.Bool(config.LocalProcesses, false); err != nil {
		return err
	}
	_, err := RestartStrategy(c)
	return err
}

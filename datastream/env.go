package datastream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"floe/client"
	"floe/config"
	"floe/internal/jobgraph"
	"floe/internal/keygroup"
	"floe/internal/launch"
	"floe/internal/logging"
	"floe/internal/role"
)

// ErrInvalidJob is wrapped by errors found while building the graph.
var ErrInvalidJob = errors.New("invalid job")

// Environment collects a job's graph and configuration.
type Environment struct {
	conf        config.Config
	log         zerolog.Logger
	parallelism int
	maxPar      int
	nodes       []*node
	errs        []error
	executed    bool
	// inProcessOnly names sinks that need TaskManagers in the client process.
	inProcessOnly []string
	// outputs are the file sinks (see prepareOutputs).
	outputs []*node
}

// Option configures an Environment.
type Option func(*Environment)

// WithConfig sets configuration keys (as -D would).
func WithConfig(c config.Config) Option {
	return func(e *Environment) { e.conf = e.conf.Merge(c) }
}

// WithLogger sets the logger for the runtime's (not per-record) messages.
func WithLogger(l zerolog.Logger) Option { return func(e *Environment) { e.log = l } }

// NewEnvironment returns an environment. Configuration comes, in increasing
// precedence, from the FLOE_CONFIG environment variable (set by `floe run`
// for job binaries and for TaskManager processes) and from opts.
func NewEnvironment(opts ...Option) *Environment {
	e := &Environment{log: logging.Default()}
	c, err := role.ConfigFromEnv()
	if err != nil {
		e.errs = append(e.errs, err)
	}
	e.conf = c
	for _, o := range opts {
		o(e)
	}
	p, err := e.conf.Int(config.Parallelism, 1)
	if err != nil {
		e.errs = append(e.errs, err)
	}
	e.parallelism = p
	mp, err := e.conf.Int(config.MaxParallelism, keygroup.DefaultMaxParallelism)
	if err != nil {
		e.errs = append(e.errs, err)
	}
	e.maxPar = mp
	if p < 1 || mp < 1 || p > mp {
		e.errs = append(e.errs, fmt.Errorf("%w: parallelism %d must be between 1 and the max parallelism %d", ErrInvalidJob, p, mp))
	}
	return e
}

// Parallelism is the job's default parallelism.
func (e *Environment) Parallelism() int { return e.parallelism }

// SetParallelism sets the default parallelism of operators created afterwards.
func (e *Environment) SetParallelism(p int) *Environment {
	if p < 1 {
		e.fail(fmt.Errorf("%w: parallelism %d < 1", ErrInvalidJob, p))
		return e
	}
	e.parallelism = p
	return e
}

// Config is the environment's configuration.
func (e *Environment) Config() config.Config { return e.conf }

// Logger is the environment's logger.
func (e *Environment) Logger() zerolog.Logger { return e.log }

func (e *Environment) fail(err error) { e.errs = append(e.errs, err) }

// Execute runs the job and waits for it to end. It returns an error wrapping
// client.ErrJobFailed if the job failed, or an error about the graph before
// anything runs. In a TaskManager process it does not return.
func (e *Environment) Execute(ctx context.Context, name string) (*client.Result, error) {
	g, err := e.finalGraph(name)
	if err != nil {
		return nil, err
	}
	done, err := e.prepareOutputs(ctx, true)
	if err != nil {
		return nil, err
	}
	res, err := launch.Execute(ctx, g, e.log)
	if derr := done(err == nil); derr != nil && err == nil {
		return res, fmt.Errorf("the job finished, but its output was not published: %w", derr)
	}
	return res, err
}

// finalGraph builds the job graph, once per environment.
func (e *Environment) finalGraph(name string) (*jobgraph.JobGraph, error) {
	if e.executed {
		return nil, fmt.Errorf("%w: Execute called twice", ErrInvalidJob)
	}
	e.executed = true
	return e.jobGraph(name)
}

// ExecuteAsync starts the job locally and returns a client to take
// savepoints, cancel and wait (local target only; the caller must Wait).
func (e *Environment) ExecuteAsync(ctx context.Context, name string) (*client.JobClient, error) {
	g, err := e.finalGraph(name)
	if err != nil {
		return nil, err
	}
	if _, err := e.prepareOutputs(ctx, false); err != nil {
		return nil, err
	}
	return launch.ExecuteAsync(ctx, g, e.log)
}

// RuntimeMode is STREAMING (results as they change) or BATCH (results once,
// at the end of bounded input), as Flink's execution.runtime-mode.
type RuntimeMode string

const (
	Streaming RuntimeMode = "STREAMING"
	Batch     RuntimeMode = "BATCH"
)

// RuntimeModeKey is the configuration key of the runtime mode.
const RuntimeModeKey = "execution.runtime-mode"

// SetRuntimeMode sets the mode unless the configuration (-D) already does.
func (e *Environment) SetRuntimeMode(m RuntimeMode) *Environment {
	if _, ok := e.conf.Lookup(RuntimeModeKey); !ok {
		e.conf = e.conf.With(RuntimeModeKey, string(m))
	}
	return e
}

// RuntimeMode returns the job's runtime mode.
func (e *Environment) RuntimeMode() RuntimeMode {
	return RuntimeMode(strings.ToUpper(e.conf.String(RuntimeModeKey, string(Streaming))))
}

// Package launch is where a floe process becomes what its role says
// (internal/role): the one switch over the roles. A job binary reaches it
// from Execute with its graph; the floe binary reaches it from main first,
// for the service roles that need no graph.
package launch

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"floe/appmaster/session"
	amyarn "floe/appmaster/yarn"
	"floe/client"
	"floe/config"
	"floe/container"
	"floe/container/supervisor"
	"floe/internal/jobgraph"
	"floe/internal/logging"
	"floe/internal/role"
	"floe/internal/submit"
)

// Execute runs this process's role. In the client role it submits g and
// returns how the job ended; every other role ends the process. g is nil
// only for the service roles (session, supervisor).
func Execute(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*client.Result, error) {
	r, err := role.Current()
	if err != nil {
		return nil, err
	}
	if r == role.Client {
		if g == nil {
			return nil, errors.New("launch: the client role needs a job graph")
		}
		return submit.Submit(ctx, g, log)
	}
	if g == nil && !r.Service() {
		return nil, fmt.Errorf("launch: role %s needs a job graph", r)
	}
	os.Exit(run(ctx, r, g, log))
	return nil, nil
}

// run is the life of a process in a role other than the client; it returns the exit code.
func run(ctx context.Context, r role.Role, g *jobgraph.JobGraph, log zerolog.Logger) int {
	if g != nil { // the client's --log-level, for the containers too
		if lv := g.Config.String(config.LogLevel, ""); lv != "" {
			log = log.Level(logging.Level(lv, log.GetLevel()))
		}
	}
	if id := os.Getenv("CONTAINER_ID"); id != "" {
		log = log.With().Str("container", id).Logger()
	}
	var err error
	switch r {
	case role.TaskManager:
		return container.RunProcess(ctx, g, log)
	case role.JobManager:
		return amyarn.Run(ctx, g, log)
	case role.Plan:
		return writePlan(g)
	case role.Session:
		err = session.Run(ctx, log.With().Str("role", r.String()).Logger())
	case role.Supervisor:
		err = supervisor.Run(ctx, log.With().Str("role", r.String()).Logger())
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error().Err(err).Str("role", r.String()).Msg("stopped")
		fmt.Fprintf(os.Stderr, "floe %s: %v\n", r, err)
		return 1
	}
	return 0
}

// writePlan writes the graph without code for a session to place the job.
func writePlan(g *jobgraph.JobGraph) int {
	b, err := g.MarshalPlan()
	if err == nil {
		err = os.WriteFile(os.Getenv(role.EnvPlanFile), b, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floe plan:", err)
		return 1
	}
	return 0
}

// ExecuteAsync starts g on a local cluster and returns at once; the caller
// must Wait. In every role but the client it behaves as Execute.
func ExecuteAsync(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*client.JobClient, error) {
	if r, err := role.Current(); err != nil || r != role.Client {
		_, err := Execute(ctx, g, log)
		return nil, err
	}
	return submit.ExecuteAsync(ctx, g, log)
}

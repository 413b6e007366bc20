package container

import (
	"context"
	"errors"
	"floe/config"
	"floe/internal/failover"
	"floe/internal/jobgraph"
	"floe/internal/role"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// RunProcess is the whole life of a TaskManager process (a child of a local
// run, a YARN container, or a session supervisor's child) running graph g,
// wired by its environment (internal/role). It returns the exit code.
func RunProcess(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) int {
	id := os.Getenv(role.EnvResourceID)
	log = log.With().Str("role", "taskmanager").Logger()
	hbTimeout, _ := g.Config.Duration(config.HeartbeatTimeout, 30*time.Second)
	metricsOn, _ := g.Config.Bool(config.MetricsEnabled, true)
	listen, logFile := "", ""
	if host := os.Getenv("NM_HOST"); host != "" { // in a YARN container
		listen = host + ":0"
	}
	if dirs := os.Getenv("LOG_DIRS"); dirs != "" { // its stderr: role.ContainerCommand
		logFile = filepath.Join(strings.Split(dirs, ",")[0], string(role.TaskManager)+".log")
	}
	opts := Options{ResourceID: id, JobManager: os.Getenv(role.EnvJobManager), Listen: listen,
		Slots: role.EnvInt(role.EnvSlots, 1), Secret: os.Getenv(role.EnvSecret), Log: log, Graph: g, HeartbeatTimeout: hbTimeout,
		JobID: os.Getenv(role.EnvJobID), LogFile: logFile, NoMetrics: !metricsOn}
	setMemoryLimit(g.Config, opts.Slots, log)
	setGCPercent(g.Config, log)
	if dir := os.Getenv(role.EnvStaging); dir != "" { // a per-job application's container: follow the JobManager's attempts
		opts.Locate = failover.Locator(dir)
	}
	tm, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floe taskmanager:", err)
		return 1
	}
	if err := tm.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "floe taskmanager:", err)
		return 1
	}
	return 0
}

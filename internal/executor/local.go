package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/container"
	"floe/internal/config"
	"floe/internal/jobgraph"
	"floe/internal/rpc"
)

// InProcessOnly marks graphs whose sinks hand results to the client's memory.
const InProcessOnly = "floe.internal.in-process-only"

// localLayout decides how many TaskManagers a local run starts and their slots.
func localLayout(g *jobgraph.JobGraph) (tms, slots int, err error) {
	need := g.SlotsNeeded()
	tms, err = g.Config.Int(config.LocalTaskManagers, min(need, 2))
	if err != nil {
		return 0, 0, err
	}
	if tms < 1 {
		return 0, 0, fmt.Errorf("%w: %s=%d must be at least 1", config.ErrInvalid, config.LocalTaskManagers, tms)
	}
	slots, err = g.Config.Int(config.Slots, (need+tms-1)/tms)
	if err != nil {
		return 0, 0, err
	}
	if tms*slots < need {
		return 0, 0, fmt.Errorf("%w: %d TaskManagers with %d slots each cannot run parallelism %d", config.ErrInvalid, tms, slots, need)
	}
	return tms, slots, nil
}

// runLocal runs the JobManager in this process and the TaskManagers in this
// process or as child processes, then tears everything down.
func runLocal(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*Result, error) {
	c, err := startLocal(ctx, g, log)
	if err != nil {
		return nil, err
	}
	return c.Wait(ctx)
}

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
		c.result, c.err = outcome(r)
	})
	return c.result, c.err
}

// ExecuteAsync starts g on a local cluster and returns at once (local
// target only). The caller must Wait.
func ExecuteAsync(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*JobClient, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateConfig(g.Config); err != nil {
		return nil, err
	}
	if t := g.Config.String(Target, "local"); t != "local" {
		return nil, fmt.Errorf("%w: ExecuteAsync runs local jobs, not %q", ErrUnsupported, t)
	}
	return startLocal(ctx, g, log)
}

func startLocal(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*JobClient, error) {
	tms, slots, err := localLayout(g)
	if err != nil {
		return nil, err
	}
	procs, err := g.Config.Bool(config.LocalProcesses, false)
	if err != nil {
		return nil, err
	}
	if procs && g.Config.String(InProcessOnly, "") != "" {
		return nil, fmt.Errorf("%w: %s needs TaskManagers in the client process; unset %s", ErrUnsupported, g.Config.String(InProcessOnly, ""), config.LocalProcesses)
	}
	hbInterval, err := g.Config.Duration(config.HeartbeatInterval, time.Second)
	if err != nil {
		return nil, err
	}
	hbTimeout, err := g.Config.Duration(config.HeartbeatTimeout, 30*time.Second)
	if err != nil {
		return nil, err
	}
	restart, err := RestartStrategy(g.Config)
	if err != nil {
		return nil, err
	}
	secret := rpc.NewSecret()
	jm, err := appmaster.New(appmaster.Options{Secret: secret, Log: log, HeartbeatInterval: hbInterval, HeartbeatTimeout: hbTimeout})
	if err != nil {
		return nil, err
	}
	jmCtx, stopJM := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := jm.Run(jmCtx); err != nil {
			log.Error().Err(err).Msg("jobmanager stopped")
		}
	})
	var children []*exec.Cmd
	tmCtx, stopTMs := context.WithCancel(context.WithoutCancel(ctx))
	cleanup := func() {
		stopJM() // asks the TaskManagers to shut down
		waitChildren(children, log)
		stopTMs()
		wg.Wait()
	}
	for i := range tms {
		id := fmt.Sprintf("local-%d", i)
		if procs {
			cmd, err := startChild(g, id, jm.Address(), secret, slots)
			if err != nil {
				cleanup()
				return nil, err
			}
			children = append(children, cmd)
			continue
		}
		tm, err := container.New(container.Options{ResourceID: id, JobManager: jm.Address(), Slots: slots,
			Secret: secret, Log: log, Graph: g, HeartbeatTimeout: hbTimeout})
		if err != nil {
			cleanup()
			return nil, err
		}
		wg.Go(func() {
			if err := tm.Run(tmCtx); err != nil {
				log.Error().Err(err).Str("taskmanager", id).Msg("taskmanager stopped")
			}
		})
	}
	h, err := jm.Submit(g, appmaster.SubmitOptions{Restart: restart})
	if err != nil {
		cleanup()
		return nil, err
	}
	log.Info().Str("job", h.ID()).Int("taskmanagers", tms).Int("slots", slots).Bool("processes", procs).Msg("local job submitted")
	return &JobClient{handle: h, cleanup: cleanup}, nil
}

// startChild starts a TaskManager as a child process: the same binary with
// the same arguments, which builds the same graph and finds its role in the
// environment. It dies with this process (Pdeathsig).
func startChild(g *jobgraph.JobGraph, id, jmAddr, secret string, slots int) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start taskmanager process: %w", err)
	}
	conf, err := json.Marshal(g.Config)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), EnvRole+"=taskmanager", EnvJobManager+"="+jmAddr, EnvSecret+"="+secret,
		EnvResourceID+"="+id, fmt.Sprintf("%s=%d", EnvSlots, slots), EnvConfig+"="+string(conf))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start taskmanager process: %w", err)
	}
	return cmd, nil
}

func waitChildren(children []*exec.Cmd, log zerolog.Logger) {
	for _, c := range children {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				log.Warn().Err(err).Int("pid", c.Process.Pid).Msg("taskmanager process exited with an error")
			}
		case <-time.After(waitTimeout):
			log.Warn().Int("pid", c.Process.Pid).Msg("taskmanager process did not stop; killing it")
			c.Process.Kill()
			<-done
		}
	}
}

// runTaskManagerProcess is the whole life of a TaskManager child process.
func runTaskManagerProcess(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) int {
	id := os.Getenv(EnvResourceID)
	log = log.With().Str("role", "taskmanager").Logger()
	hbTimeout, _ := g.Config.Duration(config.HeartbeatTimeout, 30*time.Second)
	listen := ""
	if host := os.Getenv("NM_HOST"); host != "" { // in a YARN container
		listen = host + ":0"
	}
	tm, err := container.New(container.Options{ResourceID: id, JobManager: os.Getenv(EnvJobManager), Listen: listen,
		Slots: envInt(EnvSlots, 1), Secret: os.Getenv(EnvSecret), Log: log, Graph: g, HeartbeatTimeout: hbTimeout,
		JobID: os.Getenv(EnvJobID)})
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

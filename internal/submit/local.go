package submit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/client"
	"floe/config"
	"floe/container"
	"floe/internal/jobgraph"
	"floe/internal/role"
	"floe/internal/rpc"
)

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
func runLocal(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*client.Result, error) {
	c, err := startLocal(ctx, g, log)
	if err != nil {
		return nil, err
	}
	return c.Wait(ctx)
}

// ExecuteAsync starts g on a local cluster and returns at once (local
// target only). The caller must Wait.
func ExecuteAsync(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*client.JobClient, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateConfig(g.Config); err != nil {
		return nil, err
	}
	if t := g.Config.String(config.Target, "local"); t != "local" {
		return nil, fmt.Errorf("%w: ExecuteAsync runs local jobs, not %q", client.ErrUnsupported, t)
	}
	return startLocal(ctx, g, log)
}

func startLocal(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*client.JobClient, error) {
	tms, slots, err := localLayout(g)
	if err != nil {
		return nil, err
	}
	procs, err := g.Config.Bool(config.LocalProcesses, false)
	if err != nil {
		return nil, err
	}
	if procs && g.Config.String(config.InProcessOnly, "") != "" {
		return nil, fmt.Errorf("%w: %s needs TaskManagers in the client process; unset %s", client.ErrUnsupported, g.Config.String(config.InProcessOnly, ""), config.LocalProcesses)
	}
	hbInterval, err := g.Config.Duration(config.HeartbeatInterval, time.Second)
	if err != nil {
		return nil, err
	}
	hbTimeout, err := g.Config.Duration(config.HeartbeatTimeout, 30*time.Second)
	if err != nil {
		return nil, err
	}
	restart, err := appmaster.ParseRestartStrategy(g.Config)
	if err != nil {
		return nil, err
	}
	secret := rpc.NewSecret()
	jm, err := appmaster.New(appmaster.Options{Secret: secret, Log: log, HeartbeatInterval: hbInterval, HeartbeatTimeout: hbTimeout})
	if err != nil {
		return nil, err
	}
	metricsOn, err := g.Config.Bool(config.MetricsEnabled, true)
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
	stopREST := func() {}
	if _, ok := g.Config.Lookup(config.RESTPort); ok {
		port, _ := g.Config.Int(config.RESTPort, 0)
		lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			stopJM()
			wg.Wait()
			return nil, fmt.Errorf("local run: %s=%d: %w", config.RESTPort, port, err)
		}
		rest := &http.Server{Handler: jm.Handler(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() { rest.Serve(lis) })
		jm.SetRESTAddress(lis.Addr().String())
		stopREST = func() { rest.Close() }
		// The secret is this run's only: the dashboard asks for it to cancel or take a savepoint.
		log.Warn().Str("url", "http://"+lis.Addr().String()+"/").Str("secret", secret).Msg("dashboard and REST interface of the local run")
	}
	var children []*exec.Cmd
	tmCtx, stopTMs := context.WithCancel(context.WithoutCancel(ctx))
	cleanup := func() {
		stopREST()
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
			Secret: secret, Log: log, Graph: g, HeartbeatTimeout: hbTimeout, NoMetrics: !metricsOn})
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
	return client.NewJobClient(h, cleanup), nil
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
	cmd.Env = append(os.Environ(), role.EnvRole+"="+string(role.TaskManager), role.EnvJobManager+"="+jmAddr, role.EnvSecret+"="+secret,
		role.EnvResourceID+"="+id, fmt.Sprintf("%s=%d", role.EnvSlots, slots), role.EnvConfig+"="+string(conf))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start taskmanager process: %w", err)
	}
	return cmd, nil
}

// stopTimeout is how long a TaskManager child may take to stop before it is killed.
const stopTimeout = 10 * time.Second

func waitChildren(children []*exec.Cmd, log zerolog.Logger) {
	for _, c := range children {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				log.Warn().Err(err).Int("pid", c.Process.Pid).Msg("taskmanager process exited with an error")
			}
		case <-time.After(stopTimeout):
			log.Warn().Int("pid", c.Process.Pid).Msg("taskmanager process did not stop; killing it")
			c.Process.Kill()
			<-done
		}
	}
}

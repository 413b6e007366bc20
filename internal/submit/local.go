package submit

import (
	"context"
	"encoding/json"
	"errors"
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
// A job that runs longer than floe.job.timeout (--timeout) is cancelled and fails.
func runLocal(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) (*client.Result, error) {
	timeout, err := g.Config.Duration(config.JobTimeout, 0)
	if err != nil {
		return nil, err
	}
	c, err := startLocal(ctx, g, log)
	if err != nil {
		return nil, err
	}
	if g.Batch() { // a bar per stage on a terminal, else a log line per stage now and then
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		sink := newStageSink(isTerminal(os.Stderr), os.Stderr, log, stageLogInterval)
		go func() {
			defer close(done)
			followStages(pctx, sink, c.Stages, stagePoll, c.Stages)
		}()
		defer func() { stop(); <-done }()
	}
	if timeout <= 0 {
		return c.Wait(ctx)
	}
	wctx, cancel := context.WithTimeoutCause(ctx, timeout, errRanTooLong)
	defer cancel()
	r, err := c.Wait(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), errRanTooLong) {
		if r != nil {
			r.Status = appmaster.Failed
		}
		return r, fmt.Errorf("%w: ran longer than --timeout %s; cancelled it", client.ErrJobFailed, timeout)
	}
	return r, err
}

// stagePoll is how often the client reads a BATCH job's stage counters;
// stageLogInterval how often, without a terminal, it logs a running stage.
const (
	stagePoll        = time.Second
	stageLogInterval = 10 * time.Second
)

var errRanTooLong = errors.New("job ran longer than its timeout")

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
	if err := checkStorage(ctx, g); err != nil {
		return nil, err
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
	slotTimeout, err := g.Config.Duration(config.SlotRequestTimeout, time.Minute)
	if err != nil {
		return nil, err
	}
	opts := appmaster.Options{Secret: secret, Log: log, HeartbeatInterval: hbInterval, HeartbeatTimeout: hbTimeout, SlotTimeout: slotTimeout}
	if procs { // a child's death is known at once (children.reap)
		opts.RootCauseGrace = time.Second
	}
	jm, err := appmaster.New(opts)
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
	var kids *children
	restoreRuntime := func() {}
	if !procs { // the TaskManagers run in this process: it collects as theirs would
		restoreRuntime = container.LocalRuntime(g.Config, log)
	}
	tmCtx, stopTMs := context.WithCancel(context.WithoutCancel(ctx))
	cleanup := func() {
		stopREST()
		stopJM() // asks the TaskManagers to shut down
		kids.stop()
		stopTMs()
		wg.Wait()
		restoreRuntime()
	}
	if procs {
		kids = &children{g: g, jm: jm, secret: secret, slots: slots, log: log, procs: map[string]*exec.Cmd{},
			maxReplacements: tms * (restart.Attempts + 1)}
	}
	for i := range tms {
		if procs {
			if err := kids.start(); err != nil {
				cleanup()
				return nil, err
			}
			continue
		}
		id := fmt.Sprintf("local-%d", i)
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
	kids.watchJob(h.Done())
	log.Info().Str("job", h.ID()).Int("taskmanagers", tms).Int("slots", slots).Bool("processes", procs).Msg("local job submitted")
	return client.NewJobClient(h, cleanup), nil
}

// children are the TaskManager child processes of a local run. Like YARN's
// container driver, it replaces a child that dies while the job runs (after
// telling the JobManager, which restarts the job from its checkpoint), up to
// maxReplacements times in all. A nil *children has no processes.
type children struct {
	g               *jobgraph.JobGraph
	jm              *appmaster.JobManager
	secret          string
	slots           int
	log             zerolog.Logger
	maxReplacements int

	mu           sync.Mutex
	procs        map[string]*exec.Cmd // by resource id
	next         int                  // for the next resource id
	replacements int
	done         <-chan struct{} // the job's, once submitted
	stopping     bool
	wg           sync.WaitGroup // one per process, until it is reaped
}

// start starts one more child. Call without mu held.
func (c *children) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startLocked()
}

func (c *children) startLocked() error {
	id := fmt.Sprintf("local-%d", c.next)
	c.next++
	cmd, err := startChild(c.g, id, c.jm.Address(), c.secret, c.slots)
	if err != nil {
		return err
	}
	c.procs[id] = cmd
	c.wg.Go(func() { c.reap(id, cmd) })
	return nil
}

// watchJob hands over the job's done channel: a child that dies once the
// job has ended is not replaced.
func (c *children) watchJob(done <-chan struct{}) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.done = done
	c.mu.Unlock()
}

// reap waits for a child; one that died while the job runs is reported
// lost and replaced.
func (c *children) reap(id string, cmd *exec.Cmd) {
	err := cmd.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.procs, id)
	if c.stopping {
		if err != nil {
			c.log.Warn().Err(err).Int("pid", cmd.Process.Pid).Msg("taskmanager process exited with an error")
		}
		return
	}
	select {
	case <-c.done: // nil until the job is submitted
		return
	default:
	}
	reason := fmt.Sprintf("process %d exited: %s", cmd.Process.Pid, cmd.ProcessState)
	c.log.Warn().Str("taskmanager", id).Str("reason", reason).Msg("TaskManager process died")
	c.jm.TaskManagerLost(id, reason)
	if c.replacements >= c.maxReplacements {
		c.log.Warn().Int("replacements", c.replacements).Msg("not replacing the TaskManager: too many have died")
		return
	}
	c.replacements++
	if err := c.startLocked(); err != nil {
		c.log.Error().Err(err).Msg("cannot replace the TaskManager process")
		return
	}
	c.log.Info().Str("taskmanager", fmt.Sprintf("local-%d", c.next-1)).Msg("started a replacement TaskManager process")
}

// stopGrace is how long children may take to stop after the JobManager
// asked them to, before they are sent SIGTERM (one that never registered
// was not asked); stopTimeout is how long they then have before SIGKILL.
const (
	stopGrace   = 2 * time.Second
	stopTimeout = 10 * time.Second
)

// stop waits for every child to end, signalling those that do not.
func (c *children) stop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	reaped := make(chan struct{})
	go func() { c.wg.Wait(); close(reaped) }()
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{0, stopGrace}, {syscall.SIGTERM, stopTimeout}, {syscall.SIGKILL, time.Hour}} {
		if step.sig != 0 {
			c.mu.Lock()
			for _, cmd := range c.procs {
				if step.sig == syscall.SIGKILL {
					c.log.Warn().Int("pid", cmd.Process.Pid).Msg("taskmanager process did not stop; killing it")
				}
				cmd.Process.Signal(step.sig)
			}
			c.mu.Unlock()
		}
		select {
		case <-reaped:
			return
		case <-time.After(step.wait):
		}
	}
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

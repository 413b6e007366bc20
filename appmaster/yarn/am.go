package yarn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"floe/appmaster"
	"floe/config"
	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	yarnrpc "floe/internal/hadoop/yarn"
	"floe/internal/hdfsutil"
	"floe/internal/jobgraph"
	"floe/internal/mailbox"
	"floe/internal/role"
	"floe/internal/rpc/floepb"
)

// DefaultSlotRequestTimeout is how long a per-job application waits for its
// TaskManager containers unless slot.request.timeout says otherwise (Flink's
// default).
const DefaultSlotRequestTimeout = 5 * time.Minute

// Run is the life of the ApplicationMaster container: the
// JobManager, its REST interface (the tracking URL), and the YARN driver that
// keeps enough TaskManager containers running. It returns the exit code.
func Run(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) int {
	log = log.With().Str("role", "jobmanager").Logger()
	if err := runApplicationMaster(ctx, g, log); err != nil {
		log.Error().Err(err).Msg("application master failed")
		fmt.Fprintln(os.Stderr, "floe jobmanager:", err)
		return 1
	}
	return 0
}

func runApplicationMaster(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger) error {
	host := os.Getenv("NM_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	secret := os.Getenv(role.EnvSecret)
	att, container := Attempt()
	log = log.With().Int32("attempt", att).Logger()
	st, err := OpenStaging(att)
	if err != nil {
		return err
	}
	hbTimeout, _ := g.Config.Duration(config.HeartbeatTimeout, 30*time.Second)
	app, _, logFile := ContainerIdentity()
	opts := appmaster.Options{Listen: net.JoinHostPort(host, "0"), Secret: secret, Log: log,
		HeartbeatTimeout: hbTimeout, SlotTimeout: g.Config.DurationOr(config.SlotRequestTimeout, DefaultSlotRequestTimeout),
		// the ResourceManager reports a container's end a few seconds after a
		// consumer of its partitions has failed
		RootCauseGrace: 5 * time.Second,
		Attempt:        att,
		Application:    app, Container: container, LogFile: logFile,
		Services: func(jm *appmaster.JobManager, s *grpc.Server) {
			floepb.RegisterDispatcherServer(s, appmaster.NewDispatcher(jm, appmaster.InScope("application")))
		}}
	if st != nil {
		opts.Fence = st.Fence
		opts.OnEnd = st.RecordEnd
	}
	jm, err := appmaster.New(opts)
	if err != nil {
		return err
	}
	jmCtx, stopJM := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		stopJM()
		wg.Wait()
	}()
	wg.Go(func() { jm.Run(jmCtx) })

	c, am, stopAM, err := StartApplicationMaster(ctx, jm, host, &wg, log)
	if err != nil {
		return err
	}
	defer stopAM()

	jobID := os.Getenv(role.EnvJobID)
	if st != nil {
		// Before the job starts: what a successor needs, and where
		// TaskManagers find this attempt's JobManager.
		m, err := st.prepare(ctx, g, jobID, log)
		var ended appmaster.Settled
		var wasEnded bool
		if err == nil {
			jobID = m.JobID
			// Read before this attempt publishes itself: a record counts
			// when the latest published attempt wrote it.
			ended, wasEnded, err = st.SettleEnded(ctx, jobID, log)
		}
		if err == nil {
			err = st.Publish(ctx, jm.Address(), container)
		}
		if err != nil {
			return Finish(ctx, am, hadooppb.FinalApplicationStatusProto_APP_FAILED, err.Error(), log)
		}
		if wasEnded { // the job ended under an earlier attempt, which died before the application did
			status, diag := finalStatus(appmaster.JobResult{ID: jobID, Status: ended.Status, Failure: ended.Failure})
			CleanStaging(c, log)
			return Finish(context.WithoutCancel(ctx), am, status, diag, log)
		}
	}

	restart, err := appmaster.ParseRestartStrategy(g.Config)
	if err != nil {
		return Finish(ctx, am, hadooppb.FinalApplicationStatusProto_APP_FAILED, err.Error(), log)
	}
	h, err := jm.Submit(g, appmaster.SubmitOptions{ID: jobID, Restart: restart})
	if err != nil {
		return Finish(ctx, am, hadooppb.FinalApplicationStatusProto_APP_FAILED, err.Error(), log)
	}

	d, err := newJobDriver(g, am, jm, secret, log)
	if err != nil {
		h.Cancel()
		return Finish(ctx, am, hadooppb.FinalApplicationStatusProto_APP_FAILED, err.Error(), log)
	}
	if st != nil {
		d.launch.Env[role.EnvStaging] = st.dir
		d.SetFence(st.Fence)
	}
	dctx, stopDriver := context.WithCancel(ctx)
	driverDone := make(chan error, 1)
	go func() { driverDone <- d.Run(dctx) }()

	var res appmaster.JobResult
	select {
	case <-h.Done():
		res, _ = h.Wait(ctx)
	case derr := <-driverDone:
		if errors.Is(derr, ErrSuperseded) {
			// A newer attempt runs the job: leave the TaskManagers (they
			// refuse this attempt's commands now), the staging directory and
			// the application's status to it.
			stopDriver()
			return derr
		}
		driverDone <- derr
		res, err = h.Wait(ctx)
		if err != nil {
			res = killed(h)
		}
	case <-ctx.Done(): // killed by YARN (SIGTERM): stop what runs, say KILLED
		res = killed(h)
	}
	// An attached client polls the Dispatcher for a BATCH job's stages:
	// let it read the final ones before the application ends (bounded).
	if g.Batch() {
		h.WaitReported(ctx, 2*time.Second)
	}
	if st != nil {
		if err := st.Fence(context.WithoutCancel(ctx)); errors.Is(err, ErrSuperseded) {
			stopDriver()
			return err
		}
	}
	stopJM() // shuts the TaskManagers down
	stopDriver()
	if derr := <-driverDone; derr != nil && !errors.Is(derr, context.Canceled) {
		log.Warn().Err(derr).Msg("container driver")
	}
	status, diag := finalStatus(res)
	CleanStaging(c, log)
	return Finish(context.WithoutCancel(ctx), am, status, diag, log)
}

// finalStatus is the application's final status and diagnostics for a per-job
// application whose job ended as res says.
func finalStatus(res appmaster.JobResult) (hadooppb.FinalApplicationStatusProto, string) {
	switch res.Status {
	case appmaster.Failed:
		return hadooppb.FinalApplicationStatusProto_APP_FAILED, fmt.Sprintf("job %s failed: %s", res.ID, res.Failure)
	case appmaster.Canceled:
		return hadooppb.FinalApplicationStatusProto_APP_KILLED, fmt.Sprintf("job %s cancelled", res.ID)
	}
	return hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED, fmt.Sprintf("job %s finished", res.ID)
}

// killed cancels the job and waits a little for it to stop.
func killed(h *appmaster.JobHandle) appmaster.JobResult {
	h.Cancel()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	res, _ := h.Wait(wctx)
	cancel()
	res.Status = appmaster.Canceled
	return res
}

// ContainerIdentity returns the YARN application and container ids of this
// ApplicationMaster's container and its log file (its stderr, as
// role.ContainerCommand redirects it), from the container's environment.
func ContainerIdentity() (app, container, logFile string) {
	container = os.Getenv("CONTAINER_ID")
	if id, err := yarnrpc.ParseContainerID(container); err == nil {
		app = id.Attempt.App.String()
	}
	if dirs := os.Getenv("LOG_DIRS"); dirs != "" {
		logFile = filepath.Join(strings.Split(dirs, ",")[0], "jobmanager.log")
	}
	return app, container, logFile
}

// StartApplicationMaster serves the JobManager's REST interface (the
// tracking URL) and registers with the ResourceManager. stop closes both.
func StartApplicationMaster(ctx context.Context, jm *appmaster.JobManager, host string, wg *sync.WaitGroup, log zerolog.Logger) (*conf.Conf, *yarnrpc.AM, func(), error) {
	restLis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rest: %w", err)
	}
	rest := &http.Server{Handler: jm.Handler(), ReadHeaderTimeout: 10 * time.Second}
	wg.Go(func() { rest.Serve(restLis) })
	jm.SetRESTAddress(restLis.Addr().String())
	fail := func(err error) (*conf.Conf, *yarnrpc.AM, func(), error) {
		rest.Close()
		return nil, nil, nil, err
	}
	trackingURL := "http://" + restLis.Addr().String() + "/"
	c, err := conf.Load()
	if err != nil {
		return fail(err)
	}
	tok, err := yarnrpc.AMRMTokenFromEnvironment()
	if err != nil {
		return fail(err)
	}
	rm, err := yarnrpc.NewAMRMClient(c, tok, ipc.WithLogger(log))
	if err != nil {
		return fail(err)
	}
	am := yarnrpc.NewAM(rm, yarnrpc.NewNMClient(ipc.WithLogger(log)))
	_, portStr, _ := net.SplitHostPort(jm.Address())
	port, _ := strconv.Atoi(portStr)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	reg, err := am.Register(rctx, host, int32(port), trackingURL)
	cancel()
	if err != nil {
		am.Close()
		return fail(fmt.Errorf("register with the ResourceManager: %w", err))
	}
	log.Info().Str("tracking_url", trackingURL).Str("queue", reg.GetQueue()).Msg("registered with the ResourceManager")
	return c, am, func() { am.Close(); rest.Close() }, nil
}

func Finish(ctx context.Context, am *yarnrpc.AM, status hadooppb.FinalApplicationStatusProto, diag string, log zerolog.Logger) error {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	log.Info().Str("status", status.String()).Str("diagnostics", diag).Msg("unregistering")
	before := am.Reregistrations()
	err := am.Finish(fctx, status, diag)
	if am.Reregistrations() > before {
		log.Warn().Err(err).Msg("the ResourceManager did not know this attempt's registration at its finish (an RM failover): registered again to unregister")
	}
	if err != nil {
		return fmt.Errorf("unregister: %w", err)
	}
	return nil
}

func CleanStaging(c *conf.Conf, log zerolog.Logger) {
	dir := os.Getenv(role.EnvStaging)
	if dir == "" {
		return
	}
	fs, err := hdfsutil.Connect(c, ipc.DefaultUser(), 10*time.Second)
	if err != nil {
		log.Warn().Err(err).Msg("cannot clean the staging directory")
		return
	}
	defer fs.Close()
	if err := fs.RemoveAll(context.Background(), dir); err != nil {
		log.Warn().Err(err).Str("dir", dir).Msg("cannot clean the staging directory")
	}
}

// ContainerDriver keeps the wanted number of TaskManager containers running:
// it requests them, starts the TaskManager in each, and replaces those that
// end while the job runs. It is driven by one goroutine (run).
type ContainerDriver struct {
	am     *yarnrpc.AM
	jm     *appmaster.JobManager
	log    zerolog.Logger
	want   int
	res    yarnrpc.Resource
	launch yarnrpc.Launch
	slots  int
	live   map[string]string // node by container id
	// lost, when set, is told about containers that ended (a session's
	// pool), instead of the JobManager being told and a replacement asked for.
	lost func(container, reason string)
	// fence, when set, tells whether a newer attempt has taken over; asked
	// when the ResourceManager refuses a heartbeat.
	fence func(ctx context.Context) error
	// adopting are the containers of previous attempts whose TaskManagers
	// have until adoptBy to register with this attempt's JobManager
	// (adopted tells whether one did).
	adopting map[string]bool
	adoptBy  time.Time
	adopted  func(container string) bool

	ops mailbox.Mailbox[func()] // from other goroutines, run by the driver's goroutine
}

// Request asks YARN for n more containers.
func (d *ContainerDriver) Request(n int) {
	d.ops.Post(func() {
		for range n {
			d.am.Alloc.Add(yarnrpc.ContainerRequest{Resource: d.res, Priority: 1})
		}
	})
}

// Release gives a container back to YARN.
func (d *ContainerDriver) Release(container string) {
	d.ops.Post(func() {
		if id, err := yarnrpc.ParseContainerID(container); err == nil {
			delete(d.live, container)
			d.am.Alloc.Release(id)
		}
	})
}

func newJobDriver(g *jobgraph.JobGraph, am *yarnrpc.AM, jm *appmaster.JobManager, secret string, log zerolog.Logger) (*ContainerDriver, error) {
	tms, slots, err := yarnLayout(g.Config, g.SlotsNeeded())
	if err != nil {
		return nil, err
	}
	mb, err := g.Config.MemoryMB(config.TaskManagerMemory, 512)
	if err != nil {
		return nil, err
	}
	cores, err := g.Config.TaskManagerCores(slots)
	if err != nil {
		return nil, err
	}
	launch, err := TaskManagerLaunch(jm.Address(), secret, slots, cores)
	if err != nil {
		return nil, err
	}
	d := &ContainerDriver{am: am, jm: jm, log: log, want: tms, slots: slots, launch: launch,
		res: yarnrpc.Resource{MemoryMB: mb, VCores: int32(cores)}, live: map[string]string{}}
	// A new attempt holds the TaskManager containers of the previous ones
	// (keep_containers_across_application_attempts): their TaskManagers
	// re-register with this JobManager, and only the missing are asked for.
	hb, _ := g.Config.Duration(config.HeartbeatTimeout, 30*time.Second)
	tms -= d.Adopt(hb, jm.HasTaskManager)
	for range tms {
		if err := am.Alloc.Add(yarnrpc.ContainerRequest{Resource: d.res, Priority: 1}); err != nil {
			return nil, err
		}
	}
	log.Info().Int("taskmanagers", max(tms, 0)).Int("slots", slots).Int("vcores", cores).Int64("memory_mb", mb).Msg("requesting TaskManager containers")
	return d, nil
}

// TaskManagerLaunch is the launch context of a TaskManager container of
// slots slots and cores virtual cores. GOMAXPROCS is the container's cores:
// the Go runtime otherwise runs a scheduler processor, and a share of the
// collector's workers, per core of the whole host, where YARN gave the
// container cores of them (docs/configuration.md, taskmanager.cpu.cores).
func TaskManagerLaunch(jmAddr, secret string, slots, cores int) (yarnrpc.Launch, error) {
	l := yarnrpc.Launch{LocalResources: map[string]*hadooppb.LocalResourceProto{}, Env: map[string]string{
		role.EnvRole: string(role.TaskManager), role.EnvJobManager: jmAddr, role.EnvSecret: secret, role.EnvSlots: strconv.Itoa(slots),
		"GOMAXPROCS":   strconv.Itoa(cores),
		role.EnvConfig: os.Getenv(role.EnvConfig), conf.EnvHadoopConfDir: ".", role.EnvHadoopUser: os.Getenv(role.EnvHadoopUser),
	}, Command: []string{role.ContainerCommand(role.TaskManager, true)}}
	bin, err := decodeResource(os.Getenv(role.EnvBinary))
	if err != nil {
		return l, fmt.Errorf("%s: %w", role.EnvBinary, err)
	}
	l.LocalResources[role.BinaryName] = bin
	var files map[string]string
	fj, err := base64.StdEncoding.DecodeString(os.Getenv(role.EnvConfFiles))
	if err != nil {
		return l, fmt.Errorf("%s: %w", role.EnvConfFiles, err)
	}
	if err := json.Unmarshal(fj, &files); err != nil {
		return l, fmt.Errorf("%s: %w", role.EnvConfFiles, err)
	}
	for name, b64 := range files {
		lr, err := decodeResource(b64)
		if err != nil {
			return l, fmt.Errorf("%s %s: %w", role.EnvConfFiles, name, err)
		}
		l.LocalResources[name] = lr
	}
	return l, nil
}

func decodeResource(b64 string) (*hadooppb.LocalResourceProto, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	lr := &hadooppb.LocalResourceProto{}
	return lr, proto.Unmarshal(raw, lr)
}

func (d *ContainerDriver) Run(ctx context.Context) error {
	interval := 200 * time.Millisecond
	for {
		mailbox.Drain(&d.ops)
		u, err := d.am.Heartbeat(ctx, 0.5)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.fence != nil {
				if ferr := d.fence(ctx); errors.Is(ferr, ErrSuperseded) {
					d.log.Warn().Err(ferr).Msg("the ResourceManager refuses this attempt, and a newer one runs: stopping")
					return ferr
				}
			}
			d.log.Warn().Err(err).Msg("allocate failed; retrying")
		}
		if u.Reregistered {
			d.log.Warn().Strs("running", containerIDs(d.am.Alloc.Running())).Int("pending", d.am.Alloc.Pending()).
				Msg("the ResourceManager did not know this attempt's registration (an RM failover): registered again, resent the outstanding requests, kept the running containers")
		}
		d.checkAdopted()
		for _, a := range u.Allocated {
			id := a.ID().String()
			launch := d.launch
			launch.Env = map[string]string{role.EnvResourceID: id}
			for k, v := range d.launch.Env {
				launch.Env[k] = v
			}
			if err := d.am.Start(ctx, a, launch); err != nil {
				d.log.Error().Err(err).Str("container", id).Msg("starting a TaskManager failed; asking for another container")
				d.am.Alloc.Release(a.ID())
				d.am.Alloc.Add(yarnrpc.ContainerRequest{Resource: d.res, Priority: 1})
				continue
			}
			d.live[id] = a.Node()
			d.log.Info().Str("container", id).Str("node", a.Node()).Msg("TaskManager container started")
		}
		for _, s := range u.Completed {
			id := yarnrpc.ContainerIDFromProto(s.GetContainerId()).String()
			node, ok := d.live[id]
			if !ok {
				continue
			}
			delete(d.live, id)
			reason := fmt.Sprintf("container %s on node %s exited with status %d: %s", id, node, s.GetExitStatus(), firstLine(s.GetDiagnostics()))
			if d.lost != nil {
				d.lost(id, reason)
				continue
			}
			d.jm.TaskManagerLost(id, reason)
			if ctx.Err() == nil {
				d.log.Warn().Str("reason", reason).Msg("TaskManager container ended; asking for a replacement")
				d.am.Alloc.Add(yarnrpc.ContainerRequest{Resource: d.res, Priority: 1})
			}
		}
		if u.Shutdown {
			return errors.New("the ResourceManager ordered a shutdown")
		}
		if d.am.Alloc.Pending() == 0 {
			interval = time.Second
		} else {
			interval = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// Adopt takes the containers YARN kept from previous attempts (the
// ResourceManager's registration answer, with their NMTokens): they count as
// live, and those for which adopted is still false after within are
// released and, unless the driver is a session's pool, replaced. Call before
// Run. It returns how many containers it adopted.
func (d *ContainerDriver) Adopt(within time.Duration, adopted func(container string) bool) int {
	prev := d.am.Alloc.Running()
	if len(prev) == 0 {
		return 0
	}
	d.adopting, d.adoptBy, d.adopted = map[string]bool{}, time.Now().Add(within), adopted
	var ids []string
	for _, id := range prev {
		d.live[id.String()], d.adopting[id.String()] = "", true // node unknown: from the previous attempt
		ids = append(ids, id.String())
	}
	d.log.Warn().Strs("containers", ids).Dur("within", within).Msg("adopting the TaskManager containers of previous attempts")
	return len(prev)
}

// SetFence makes Run stop with ErrSuperseded when the ResourceManager
// refuses a heartbeat and fence says a newer attempt runs.
func (d *ContainerDriver) SetFence(fence func(ctx context.Context) error) { d.fence = fence }

// checkAdopted releases, once the adoption time is up, the containers of
// previous attempts whose TaskManagers did not register, and asks for
// replacements (a session's pool asks when a job needs them).
func (d *ContainerDriver) checkAdopted() {
	if len(d.adopting) == 0 || time.Now().Before(d.adoptBy) {
		return
	}
	for id := range d.adopting {
		if d.adopted(id) {
			d.log.Info().Str("container", id).Msg("TaskManager of a previous attempt re-registered")
			continue
		}
		cid, err := yarnrpc.ParseContainerID(id)
		if err != nil {
			continue
		}
		d.log.Warn().Str("container", id).Msg("the TaskManager of a previous attempt did not re-register: releasing its container")
		delete(d.live, id)
		d.am.Alloc.Release(cid)
		if d.lost == nil {
			d.am.Alloc.Add(yarnrpc.ContainerRequest{Resource: d.res, Priority: 1})
		}
	}
	d.adopting = nil
}

// yarnLayout is the number of TaskManager containers a job needs and their slots.
func yarnLayout(c config.Config, slotsNeeded int) (tms, slots int, err error) {
	slots, err = c.Int(config.Slots, 1)
	if err != nil {
		return 0, 0, err
	}
	if slots < 1 {
		return 0, 0, fmt.Errorf("%w: -s %d: slots must be at least 1", config.ErrInvalid, slots)
	}
	return (slotsNeeded + slots - 1) / slots, slots, nil
}

func containerIDs(ids []yarnrpc.ContainerID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// NewPoolDriver returns the driver of a session's container pool: it asks
// for no container up front (Request does), and tells lost about containers
// that end instead of replacing them.
func NewPoolDriver(am *yarnrpc.AM, jm *appmaster.JobManager, res yarnrpc.Resource, launch yarnrpc.Launch, slots int,
	lost func(container, reason string), log zerolog.Logger) *ContainerDriver {
	return &ContainerDriver{am: am, jm: jm, log: log, res: res, launch: launch, slots: slots, live: map[string]string{}, lost: lost}
}

// Slots is the number of slots of each container.
func (d *ContainerDriver) Slots() int { return d.slots }

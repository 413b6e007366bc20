package submit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"floe/appmaster"
	"floe/checkpoint"
	"floe/client"
	"floe/config"
	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/yarn"
	"floe/internal/hdfsutil"
	"floe/internal/jobbin"
	"floe/internal/jobgraph"
	"floe/internal/role"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// ErrNoResources fails a submission that waited too long in ACCEPTED.
var ErrNoResources = errors.New("not enough resources")

// ErrNoAnswer fails a call to the ResourceManager that got no answer within
// yarn.client.rpc-timeout.
var ErrNoAnswer = errors.New("no answer")

// DefaultRPCTimeout bounds each call to the ResourceManager unless
// yarn.client.rpc-timeout says otherwise; progressEvery is how often a
// terminal is told that a call still waits.
const (
	DefaultRPCTimeout = 30 * time.Second
	progressEvery     = 5 * time.Second
)

// Out is where the client prints what a user follows (application id,
// tracking URL, state changes). Execute's callers may replace it.
type Out interface {
	Printf(format string, args ...any)
}

type printer struct{ w io.Writer }

func (p printer) Printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }

// yarnClient submits a job as a YARN application and follows it.
type yarnClient struct {
	g    *jobgraph.JobGraph
	log  zerolog.Logger
	out  Out
	conf *conf.Conf
	rm   *yarn.Client
	fs   *hdfsutil.FS
	user string
	tty  bool // out is a terminal
	// rpcTimeout bounds each call to the ResourceManager; progress is how
	// often a terminal hears that one still waits.
	rpcTimeout, progress time.Duration
	secret               string // the application's, to reach its JobManager
}

// runYarnPerJob submits g as its own YARN application. Progress goes to
// stdout, or to stderr when stdout carries the JSON summary.
func runYarnPerJob(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger, quiet bool) (*client.Result, error) {
	outFile := os.Stdout
	if quiet {
		outFile = os.Stderr
	}
	out := printer{outFile}
	c, err := conf.Load()
	if err != nil {
		return nil, fmt.Errorf("yarn: %w (set HADOOP_CONF_DIR to the cluster's client configuration)", err)
	}
	rm, err := yarn.NewClient(c, ipc.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("yarn: %w", err)
	}
	defer rm.Close()
	user := ipc.DefaultUser()
	fs, err := hdfsutil.Connect(c, user, 15*time.Second)
	if err != nil {
		return nil, err // hdfsutil.Connect says what it could not reach
	}
	defer fs.Close()
	yc := &yarnClient{g: g, log: log, out: out, conf: c, rm: rm, fs: fs, user: user, tty: isTerminal(outFile),
		rpcTimeout: g.Config.DurationOr(config.YarnClientRPCTimeout, DefaultRPCTimeout), progress: progressEvery}
	return yc.run(ctx)
}

func (yc *yarnClient) run(ctx context.Context) (*client.Result, error) {
	g := yc.g
	jmMB, err := g.Config.MemoryMB(config.JobManagerMemory, 512)
	if err != nil {
		return nil, err
	}
	tmMB, err := g.Config.MemoryMB(config.TaskManagerMemory, 512)
	if err != nil {
		return nil, err
	}
	attached, err := g.Config.Bool(config.Attached, true)
	if err != nil {
		return nil, err
	}
	attempts, err := g.Config.Int(config.YarnAttempts, 2)
	if err != nil {
		return nil, err
	}
	if attempts < 1 {
		return nil, fmt.Errorf("%w: %s=%d: want at least 1", config.ErrInvalid, config.YarnAttempts, attempts)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var appID yarn.ApplicationID
	var maxRes *hadooppb.ResourceProto
	err = yc.rmCall(sctx, "a new application", func(ctx context.Context) (err error) {
		appID, maxRes, err = yc.rm.NewApplication(ctx)
		return err
	})
	if errors.Is(err, ErrNoAnswer) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("yarn: new application at %s: %w", strings.Join(yc.rm.Addrs(), ","), err)
	}
	if jmMB > maxRes.GetMemory() || tmMB > maxRes.GetMemory() {
		return nil, fmt.Errorf("%w: -jm %d MB / -tm %d MB: the cluster's largest container is %d MB", config.ErrInvalid, jmMB, tmMB, maxRes.GetMemory())
	}
	staging := path.Join("/user", yc.user, ".floe", appID.String())
	launch, err := yc.stage(sctx, staging)
	if err != nil {
		return nil, err
	}
	jobID := appmaster.NewJobID()
	secret := rpc.NewSecret()
	yc.secret = secret
	confJSON, err := json.Marshal(g.Config)
	if err != nil {
		return nil, err
	}
	launch.Env[role.EnvRole] = string(role.JobManager)
	launch.Env[role.EnvSecret] = secret
	launch.Env[role.EnvConfig] = base64.StdEncoding.EncodeToString(confJSON)
	launch.Env[role.EnvJobID] = jobID
	launch.Env[role.EnvStaging] = staging
	launch.Command = []string{role.ContainerCommand(role.JobManager, true)}
	name := g.Config.String(config.YarnName, "floe: "+g.Name)
	spec := yarn.AppSpec{Name: name, Queue: g.Config.String(config.YarnQueue, ""), Type: "FLOE",
		// Later attempts keep the TaskManager containers and recover the job (appmaster/yarn).
		MaxAttempts: int32(attempts), KeepContainers: true,
		Tags: []string{"floe", "floe-job-" + jobID}, AMResource: yarn.Resource{MemoryMB: jmMB, VCores: 1}, AM: launch}
	if err := yc.rmCall(sctx, "the submission of "+appID.String(), func(ctx context.Context) error { return yc.rm.Submit(ctx, spec.Proto(appID)) }); err != nil {
		yc.fs.RemoveAll(context.WithoutCancel(ctx), staging)
		return nil, fmt.Errorf("yarn: submit: %w", err)
	}
	// Remember the application's secret for this user, so that floe list,
	// cancel, savepoint and stop can reach it (-yid).
	if err := saveApplication(sessionRecord{Application: appID.String(), Secret: secret, Started: time.Now()}); err != nil {
		yc.log.Warn().Err(err).Msg("cannot remember the application's secret; floe savepoint will not reach it")
	}
	// Meanwhile, clean up after this user's applications that have ended.
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		sweep(context.WithoutCancel(ctx), yc.rm, yc.fs, yc.user, appID.String(), yc.log)
	}()
	defer func() { <-swept }()
	yc.out.Printf("Submitted application %s\n", appID)
	yc.out.Printf("Job has been submitted with JobID %s\n", jobID)
	if !attached {
		return &client.Result{ID: jobID, Status: appmaster.Running, Application: appID.String()}, nil
	}
	return yc.follow(ctx, appID, jobID)
}

// stage uploads the job binary (once per content hash) and the Hadoop client
// configuration, and returns the launch context's resources and environment.
func (yc *yarnClient) stage(ctx context.Context, staging string) (yarn.Launch, error) {
	ref, err := jobbin.Upload(ctx, yc.fs, yc.user, yc.log)
	if err != nil {
		return yarn.Launch{}, err
	}
	binPath := strings.TrimPrefix(ref.GetUri(), yc.fs.URI.String())
	bin, err := yc.fs.LocalResource(ctx, binPath, hadooppb.LocalResourceTypeProto_FILE, hadooppb.LocalResourceVisibilityProto_APPLICATION)
	if err != nil {
		return yarn.Launch{}, err
	}
	l := yarn.Launch{LocalResources: map[string]*hadooppb.LocalResourceProto{role.BinaryName: bin}, Env: map[string]string{}}
	files := map[string]string{}
	for _, dir := range []string{os.Getenv(conf.EnvHadoopConfDir), os.Getenv("YARN_CONF_DIR")} {
		for _, name := range []string{"core-site.xml", "hdfs-site.xml", "yarn-site.xml"} {
			local := filepath.Join(dir, name)
			if dir == "" || fileMissing(local) {
				continue
			}
			lr, err := yc.fs.Upload(ctx, local, path.Join(staging, "conf", name), hadooppb.LocalResourceVisibilityProto_APPLICATION)
			if err != nil {
				return yarn.Launch{}, fmt.Errorf("upload %s: %w", local, err)
			}
			l.LocalResources[name] = lr
			b, _ := proto.Marshal(lr)
			files[name] = base64.StdEncoding.EncodeToString(b)
		}
	}
	b, _ := proto.Marshal(bin)
	l.Env[role.EnvBinary] = base64.StdEncoding.EncodeToString(b)
	fj, _ := json.Marshal(files)
	l.Env[role.EnvConfFiles] = base64.StdEncoding.EncodeToString(fj)
	l.Env[conf.EnvHadoopConfDir] = "."
	l.Env[role.EnvHadoopUser] = yc.user
	return l, nil
}

// rmCall runs one call to the ResourceManager, bounded by yc.rpcTimeout. On
// a terminal it says every yc.progress that the call still waits.
func (yc *yarnClient) rmCall(ctx context.Context, what string, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, yc.rpcTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(cctx) }()
	t := time.NewTicker(yc.progress)
	defer t.Stop()
	start := time.Now()
	addrs := strings.Join(yc.rm.Addrs(), ",")
	for {
		select {
		case err := <-done:
			if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("yarn: %w from the ResourceManager at %s for %s within %s (%s): %w",
					ErrNoAnswer, addrs, what, yc.rpcTimeout, config.YarnClientRPCTimeout, err)
			}
			return err
		case <-t.C:
			if yc.tty {
				yc.out.Printf("Waiting for the ResourceManager at %s to answer (%s so far, at most %s)\n",
					addrs, time.Since(start).Round(time.Second), yc.rpcTimeout)
			}
		}
	}
}

func fileMissing(p string) bool {
	_, err := os.Stat(p)
	return err != nil
}

// follow prints state changes until the application ends; Ctrl-C kills it.
// Once the application has ended (or was killed), its staging directory and
// the record of its secret are removed.
func (yc *yarnClient) follow(ctx context.Context, appID yarn.ApplicationID, jobID string) (res *client.Result, _ error) {
	ended := false
	stages := newStageWatch(yc.g.Batch(), yc.log)
	var jm jmLink
	defer func() {
		jm.close()
		stages.end(res)
	}()
	defer func() {
		if ended {
			forget(context.WithoutCancel(ctx), yc.fs, yc.user, appID.String(), yc.log)
		}
	}()
	acceptTimeout := yc.g.Config.DurationOr(config.YarnAcceptTimeout, 2*time.Minute)
	jobTimeout := yc.g.Config.DurationOr(config.JobTimeout, 0)
	start := time.Now()
	var last hadooppb.YarnApplicationStateProto = -1
	trackingShown := false
	wait := yc.containerWait()
	var attempts attemptWatch
	ckptDir := ""
	if cfg, err := checkpoint.ParseConfig(yc.g.Config); err == nil {
		ckptDir = cfg.Dir
	}
	kill := func(why string) {
		kctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := yc.rm.Kill(kctx, appID, why); err != nil {
			yc.log.Warn().Err(err).Str("application", appID.String()).Msg("kill failed")
			return
		}
		ended = true
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		var rep *hadooppb.ApplicationReportProto
		err := yc.rmCall(ctx, "the report of "+appID.String(), func(ctx context.Context) (err error) {
			rep, err = yc.rm.Report(ctx, appID)
			return err
		})
		if ctx.Err() != nil {
			yc.out.Printf("Interrupted: killing application %s\n", appID)
			kill("floe client interrupted")
			return &client.Result{ID: jobID, Status: appmaster.Canceled, Application: appID.String()}, fmt.Errorf("%w: application %s killed", client.ErrJobCanceled, appID)
		}
		if errors.Is(err, ErrNoAnswer) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("yarn: report of %s: %w", appID, err)
		}
		st := rep.GetYarnApplicationState()
		if st != last {
			yc.out.Printf("Application %s is %s\n", appID, st)
			last = st
		}
		// Every report comes from the ResourceManager, so a new attempt's
		// JobManager is followed as the first one was.
		if a, ok := attempts.next(rep); ok && !yarn.Terminal(st) {
			from := recoveryPoint(ctx, ckptDir, yc.g.Config.String(appmaster.KeySavepointPath, ""), jobID)
			yc.out.Printf("%s\n", failoverLine(a, appID.String(), jobID, from))
		}
		if !trackingShown && st == hadooppb.YarnApplicationStateProto_RUNNING && rep.GetTrackingUrl() != "" {
			yc.out.Printf("Found Web Interface %s\n", strings.TrimPrefix(rep.GetOriginalTrackingUrl(), "http://"))
			trackingShown = true
		}
		if yc.g.Batch() && st == hadooppb.YarnApplicationStateProto_RUNNING {
			stages.see(jm.stages(ctx, rep, yc.secret, jobID, yc.log))
		}
		if yarn.Terminal(st) {
			ended = true
			r, err := yc.finalResult(rep, jobID, time.Since(start))
			if err != nil && wait.last != "" && strings.Contains(r.Failure, appmaster.ErrNotEnoughSlots.Error()) {
				err = fmt.Errorf("%w; %s", err, wait.last)
			}
			return r, err
		}
		if st == hadooppb.YarnApplicationStateProto_RUNNING && wait.due(time.Now(), grantedTaskManagers(rep)) {
			nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			nodes, err := yc.rm.Nodes(nctx)
			cancel()
			if err == nil {
				yc.out.Printf("%s\n", wait.line(time.Now(), grantedTaskManagers(rep), nodes))
			}
		}
		if st == hadooppb.YarnApplicationStateProto_ACCEPTED && time.Since(start) > acceptTimeout {
			kill("no resources")
			return nil, fmt.Errorf("%w in queue %q: application %s stayed ACCEPTED for %s (%s); killed it",
				ErrNoResources, rep.GetQueue(), appID, acceptTimeout, rep.GetDiagnostics())
		}
		if jobTimeout > 0 && time.Since(start) > jobTimeout {
			kill("floe run --timeout")
			return &client.Result{ID: jobID, Status: appmaster.Failed, Application: appID.String()},
				fmt.Errorf("%w: ran longer than --timeout %s; application %s killed", client.ErrJobFailed, jobTimeout, appID)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// containerWait is what follow says while the application waits for its
// TaskManager containers: as many as appmaster/yarn asks for, of -tm memory
// and a vcore per slot.
func (yc *yarnClient) containerWait() *containerWait {
	slots, _ := yc.g.Config.Int(config.Slots, 1) // checked by ValidateConfig
	slots = max(slots, 1)
	mb, _ := yc.g.Config.MemoryMB(config.TaskManagerMemory, 512)
	tms := (yc.g.SlotsNeeded() + slots - 1) / slots
	return newContainerWait(tms, mb, int32(slots), yc.tty)
}

func (yc *yarnClient) finalResult(rep *hadooppb.ApplicationReportProto, jobID string, d time.Duration) (*client.Result, error) {
	r := &client.Result{ID: jobID, Duration: d, Application: rep.GetApplicationId().String()}
	appID := yarn.AppIDFromProto(rep.GetApplicationId())
	r.Application = appID.String()
	diag := strings.TrimSpace(rep.GetDiagnostics())
	switch rep.GetFinalApplicationStatus() {
	case hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED:
		r.Status = appmaster.Finished
		return r, nil
	case hadooppb.FinalApplicationStatusProto_APP_KILLED:
		r.Status = appmaster.Canceled
		return r, fmt.Errorf("%w: application %s was killed: %s", client.ErrJobCanceled, appID, firstLine(diag))
	default:
		r.Status = appmaster.Failed
		if err := refused(rep, appID.String()); err != nil { // never ran: no logs to point to
			r.Failure = err.Error()
			return r, err
		}
		r.Failure = firstLine(diag)
		return r, fmt.Errorf("%w (logs: yarn logs -applicationId %s)", client.FailedError(r.Failure), appID)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// jmLink is the client's connection to a per-job application's JobManager,
// for a BATCH job's stages: the ResourceManager's report names the current
// attempt's address, so a new attempt gets a new connection.
type jmLink struct {
	attempt int32
	link    sessionLink
}

// stages asks the JobManager of rep's attempt for jobID's stages (nil when
// it does not answer).
func (l *jmLink) stages(ctx context.Context, rep *hadooppb.ApplicationReportProto, secret, jobID string, log zerolog.Logger) []appmaster.StageResult {
	att := rep.GetCurrentApplicationAttemptId().GetAttemptId()
	if l.link.client == nil || att != l.attempt {
		l.close()
		if rep.GetRpcPort() <= 0 {
			return nil
		}
		conn, err := grpc.NewClient(fmt.Sprintf("%s:%d", rep.GetHost(), rep.GetRpcPort()), rpc.DialOptions(secret)...)
		if err != nil {
			log.Debug().Err(err).Msg("cannot reach the JobManager for the job's stages")
			return nil
		}
		l.attempt, l.link = att, sessionLink{client: floepb.NewDispatcherClient(conn), close: func() { conn.Close() }, attempt: att}
	}
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := l.link.client.GetJob(gctx, &floepb.JobRef{JobId: jobID})
	if err != nil {
		log.Debug().Err(err).Msg("the JobManager did not say the job's stages")
		return nil
	}
	return appmaster.StagesOf(info)
}

func (l *jmLink) close() {
	if l.link.close != nil {
		l.link.close()
	}
	l.link = sessionLink{}
}

package submit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"

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

// config.SessionID names the session a job goes to (-yid); empty: the last one started.
const SessionID = "yarn.application.id"

// ErrNoSession is returned when no session is known or it does not run.
var ErrNoSession = errors.New("no yarn-session")

// sessionRecord is what the client keeps of a session it started, like
// Flink's .yarn-properties file: readable only by the user, since it holds
// the session's secret.
type sessionRecord struct {
	Application string    `json:"application"`
	Secret      string    `json:"secret"`
	Started     time.Time `json:"started"`
}

func sessionDir() string {
	if d := os.Getenv("FLOE_HOME"); d != "" {
		return filepath.Join(d, "yarn-sessions")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".floe", "yarn-sessions")
}

// saveApplication remembers an application's secret for this user.
func saveApplication(r sessionRecord) error {
	dir := sessionDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(r)
	return os.WriteFile(filepath.Join(dir, r.Application+".json"), b, 0o600)
}

// saveSession remembers a session and makes it the default for -t yarn-session.
func saveSession(r sessionRecord) error {
	if err := saveApplication(r); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(sessionDir(), "last"), []byte(r.Application), 0o600)
}

func loadSession(id string) (sessionRecord, error) {
	dir := sessionDir()
	if id == "" {
		b, err := os.ReadFile(filepath.Join(dir, "last"))
		if err != nil {
			return sessionRecord{}, fmt.Errorf("%w: start one with 'floe yarn-session' or name one with -yid", ErrNoSession)
		}
		id = strings.TrimSpace(string(b))
	}
	b, err := os.ReadFile(filepath.Join(dir, id+".json"))
	if err != nil {
		return sessionRecord{}, fmt.Errorf("%w: %s was not started by this user on this host (%s)", ErrNoSession, id, dir)
	}
	var r sessionRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return sessionRecord{}, fmt.Errorf("%w: %s: %w", ErrNoSession, filepath.Join(dir, id+".json"), err)
	}
	return r, nil
}

// StartSession submits a session cluster. config.Attached, it waits until ctx ends
// (then stops the session) or the application ends; detached, it returns
// once the application is submitted.
func StartSession(ctx context.Context, c config.Config, log zerolog.Logger, detached bool) error {
	hc, err := conf.Load()
	if err != nil {
		return fmt.Errorf("yarn: %w (set HADOOP_CONF_DIR)", err)
	}
	rm, err := yarn.NewClient(hc, ipc.WithLogger(log))
	if err != nil {
		return err
	}
	defer rm.Close()
	user := ipc.DefaultUser()
	fs, err := hdfsutil.Connect(hc, user, 15*time.Second)
	if err != nil {
		return err // hdfsutil.Connect says what it could not reach
	}
	defer fs.Close()
	yc := &yarnClient{log: log, out: printer{os.Stdout}, conf: hc, rm: rm, fs: fs, user: user,
		g: &jobgraph.JobGraph{Name: "session", Config: c}}
	jmMB, err := c.MemoryMB(config.JobManagerMemory, 512)
	if err != nil {
		return err
	}
	if _, err := c.MemoryMB(config.TaskManagerMemory, 512); err != nil {
		return err
	}
	attempts, err := c.Int(config.YarnAttempts, 2)
	if err != nil {
		return err
	}
	if attempts < 1 {
		return fmt.Errorf("%w: %s=%d: want at least 1", config.ErrInvalid, config.YarnAttempts, attempts)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	appID, _, err := rm.NewApplication(sctx)
	if err != nil {
		return fmt.Errorf("yarn: new application: %w", err)
	}
	staging := path.Join("/user", user, ".floe", appID.String())
	launch, err := yc.stage(sctx, staging)
	if err != nil {
		return err
	}
	secret := rpc.NewSecret()
	confJSON, _ := json.Marshal(c)
	launch.Env[role.EnvRole] = string(role.Session)
	launch.Env[role.EnvSecret] = secret
	launch.Env[role.EnvConfig] = base64.StdEncoding.EncodeToString(confJSON)
	launch.Env[role.EnvStaging] = staging
	launch.Command = []string{role.ContainerCommand(role.Session, false)}
	spec := yarn.AppSpec{Name: c.String(config.YarnName, "floe session"), Queue: c.String(config.YarnQueue, ""), Type: "FLOE",
		// A later attempt keeps the TaskManager containers and recovers the
		// session's running jobs (appmaster/session).
		MaxAttempts: int32(attempts), KeepContainers: true, Tags: []string{"floe", "floe-session"}, AMResource: yarn.Resource{MemoryMB: jmMB, VCores: 1}, AM: launch}
	if err := rm.Submit(sctx, spec.Proto(appID)); err != nil {
		return fmt.Errorf("yarn: submit: %w", err)
	}
	if err := saveSession(sessionRecord{Application: appID.String(), Secret: secret, Started: time.Now()}); err != nil {
		return fmt.Errorf("remember the session: %w", err)
	}
	fmt.Printf("Submitted application %s\n", appID)
	sweep(ctx, rm, fs, user, appID.String(), log)
	rep, err := rm.WaitFor(ctx, appID, 300*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool {
		return r.GetYarnApplicationState() == hadooppb.YarnApplicationStateProto_RUNNING || yarn.Terminal(r.GetYarnApplicationState())
	})
	if err != nil {
		return err
	}
	if yarn.Terminal(rep.GetYarnApplicationState()) {
		return fmt.Errorf("session %s ended: %s", appID, firstLine(rep.GetDiagnostics()))
	}
	fmt.Printf("Found Web Interface %s\n", strings.TrimPrefix(rep.GetOriginalTrackingUrl(), "http://"))
	fmt.Printf("YARN session %s is running; submit jobs with: floe run -t yarn-session [-yid %s] <job>\n", appID, appID)
	if detached {
		return nil
	}
	rep, err = rm.WaitFor(ctx, appID, time.Second, func(r *hadooppb.ApplicationReportProto) bool {
		return yarn.Terminal(r.GetYarnApplicationState())
	})
	if ctx.Err() != nil { // Ctrl-C: stop the session
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := StopSession(sctx, appID.String(), log); err != nil {
			rm.Kill(sctx, appID, "floe yarn-session interrupted")
		}
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Printf("Session %s ended: %s\n", appID, rep.GetFinalApplicationStatus())
	return nil
}

// dispatcher connects to a running session, at the address the
// ResourceManager reports for its current attempt.
func dispatcher(ctx context.Context, id string, log zerolog.Logger) (floepb.DispatcherClient, func(), string, error) {
	rec, err := loadSession(id)
	if err != nil {
		return nil, nil, "", err
	}
	hc, err := conf.Load()
	if err != nil {
		return nil, nil, "", err
	}
	rm, err := yarn.NewClient(hc, ipc.WithLogger(log))
	if err != nil {
		return nil, nil, "", err
	}
	defer rm.Close()
	l, err := dialSession(ctx, rm, rec)
	if err != nil {
		return nil, nil, "", err
	}
	return l.client, l.close, rec.Application, nil
}

// sessionLink is a connection to one attempt of a session's ApplicationMaster.
type sessionLink struct {
	client  floepb.DispatcherClient
	close   func()
	attempt int32
}

// dialSession connects to the session's current ApplicationMaster attempt:
// its address comes from the ResourceManager's report, never from a cache,
// so a session file stays valid across a failover.
func dialSession(ctx context.Context, rm *yarn.Client, rec sessionRecord) (sessionLink, error) {
	appID, err := yarn.ParseApplicationID(rec.Application)
	if err != nil {
		return sessionLink{}, err
	}
	rep, err := rm.Report(ctx, appID)
	if err != nil {
		return sessionLink{}, fmt.Errorf("yarn: report of %s: %w", appID, err)
	}
	if rep.GetYarnApplicationState() != hadooppb.YarnApplicationStateProto_RUNNING || rep.GetRpcPort() <= 0 {
		return sessionLink{}, fmt.Errorf("%w: %s is %s", ErrNoSession, appID, rep.GetYarnApplicationState())
	}
	addr := fmt.Sprintf("%s:%d", rep.GetHost(), rep.GetRpcPort())
	conn, err := grpc.NewClient(addr, rpc.DialOptions(rec.Secret)...)
	if err != nil {
		return sessionLink{}, err
	}
	return sessionLink{client: floepb.NewDispatcherClient(conn), close: func() { conn.Close() },
		attempt: rep.GetCurrentApplicationAttemptId().GetAttemptId()}, nil
}

// sessionFailoverWait bounds how long an attached client waits for a
// session's JobManager that stopped answering (a new ApplicationMaster
// attempt takes seconds to start; YARN's AM liveness expiry decides for a
// stuck one).
const sessionFailoverWait = 3 * time.Minute

// StopSession stops a session cleanly (its jobs are cancelled).
func StopSession(ctx context.Context, id string, log zerolog.Logger) error {
	d, closeFn, _, err := dispatcher(ctx, id, log)
	if err != nil {
		return err
	}
	defer closeFn()
	_, err = d.StopSession(ctx, &floepb.StopSessionRequest{})
	return err
}

// CancelJob cancels a job of a session.
func CancelJob(ctx context.Context, session, job string, log zerolog.Logger) (JobInfo, error) {
	d, closeFn, _, err := dispatcher(ctx, session, log)
	if err != nil {
		return JobInfo{}, err
	}
	defer closeFn()
	info, err := d.CancelJob(ctx, &floepb.JobRef{JobId: job})
	if err != nil {
		return JobInfo{}, err
	}
	return jobInfoOf(info), nil
}

// SessionJobs lists a session's jobs.
func SessionJobs(ctx context.Context, session string, log zerolog.Logger) ([]JobInfo, string, error) {
	d, closeFn, app, err := dispatcher(ctx, session, log)
	if err != nil {
		return nil, "", err
	}
	defer closeFn()
	resp, err := d.ListJobs(ctx, &floepb.ListJobsRequest{})
	if err != nil {
		return nil, app, err
	}
	var jobs []JobInfo
	for _, j := range resp.GetJobs() {
		jobs = append(jobs, jobInfoOf(j))
	}
	return jobs, app, nil
}

// runInSession submits g's binary and arguments to a running session and,
// attached, follows the job to its end, across failovers of the session's
// ApplicationMaster.
func runInSession(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger, quiet bool) (*client.Result, error) {
	out := printer{os.Stdout}
	if quiet {
		out = printer{os.Stderr}
	}
	attached, err := g.Config.Bool(config.Attached, true)
	if err != nil {
		return nil, err
	}
	rec, err := loadSession(g.Config.String(config.SessionID, ""))
	if err != nil {
		return nil, err
	}
	hc, err := conf.Load()
	if err != nil {
		return nil, err
	}
	rm, err := yarn.NewClient(hc, ipc.WithLogger(log))
	if err != nil {
		return nil, err
	}
	defer rm.Close()
	link, err := dialSession(ctx, rm, rec)
	if err != nil {
		return nil, err
	}
	defer func() { link.close() }()
	app := rec.Application
	user := ipc.DefaultUser()
	fs, err := hdfsutil.Connect(hc, user, 15*time.Second)
	if err != nil {
		return nil, err // hdfsutil.Connect says what it could not reach
	}
	defer fs.Close()
	ref, err := jobbin.Upload(ctx, fs, user, log)
	if err != nil {
		return nil, err
	}
	confJSON, _ := json.Marshal(g.Config)
	jobID := appmaster.NewJobID()
	start := time.Now()
	if _, err := link.client.SubmitJob(ctx, &floepb.SubmitJobRequest{Binary: ref, Args: os.Args[1:], ConfigJson: string(confJSON), JobId: jobID}); err != nil {
		return nil, fmt.Errorf("submit to session %s: %w", app, err)
	}
	out.Printf("Job has been submitted with JobID %s to session %s\n", jobID, app)
	r := &client.Result{ID: jobID, Application: app, Status: appmaster.Created}
	if !attached {
		return r, nil
	}
	ckptDir := ""
	if cfg, err := checkpoint.ParseConfig(g.Config); err == nil {
		ckptDir = cfg.Dir
	}
	last := ""
	var lost time.Time // since when the session's JobManager has not answered
	lastReport := time.Now()
	stages := newStageWatch(g.Batch(), log)
	defer stages.end(r)
	for {
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		info, err := link.client.GetJob(gctx, &floepb.JobRef{JobId: jobID})
		cancel()
		if err == nil {
			lost = time.Time{}
			stages.see(appmaster.StagesOf(info))
			if info.GetStatus() != last {
				out.Printf("Job %s is %s\n", jobID, info.GetStatus())
				last = info.GetStatus()
			}
			r.Status, r.Failure = appmaster.JobStatus(info.GetStatus()), info.GetFailure()
			if r.Status.Terminal() {
				r.Duration = time.Since(start)
				stages.end(r)
				return client.Outcome(*r)
			}
		} else if lost.IsZero() {
			lost = time.Now()
		}
		// Every second, and whenever the JobManager does not answer: the
		// ResourceManager's report says which attempt runs the session.
		if err != nil || time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			next, rerr := dialSession(rctx, rm, rec)
			cancel()
			switch {
			case rerr == nil && next.attempt > link.attempt:
				link.close()
				link = next
				from := recoveryPoint(ctx, ckptDir, g.Config.String(appmaster.KeySavepointPath, ""), jobID)
				out.Printf("%s\n", failoverLine(next.attempt, app, jobID, from))
				continue
			case rerr == nil:
				next.close()
			}
			if err != nil && time.Since(lost) > sessionFailoverWait {
				return r, fmt.Errorf("follow job %s: the session's JobManager has not answered for %s: %w", jobID, sessionFailoverWait, err)
			}
		}
		select {
		case <-ctx.Done():
			out.Printf("Interrupted: cancelling job %s\n", jobID)
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			link.client.CancelJob(cctx, &floepb.JobRef{JobId: jobID})
			cancel()
			return r, fmt.Errorf("%w (job %s)", client.ErrJobCanceled, jobID)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Savepoint takes a savepoint of a session's job (and stops it, with stop).
func Savepoint(ctx context.Context, session, job, dir string, stop bool, log zerolog.Logger) (string, error) {
	d, closeFn, _, err := dispatcher(ctx, session, log)
	if err != nil {
		return "", err
	}
	defer closeFn()
	resp, err := d.TriggerSavepoint(ctx, &floepb.SavepointRequest{JobId: job, Dir: dir, Stop: stop})
	if err != nil {
		return "", err
	}
	return resp.GetPath(), nil
}

// JobInfo is what a session or application says about one of its jobs.
type JobInfo struct {
	ID      string
	Name    string
	Status  appmaster.JobStatus // Flink's job status names
	Failure string
	Start   time.Time
	End     time.Time // zero while the job runs
	// ReusedContainers: the job started without asking YARN for new containers.
	ReusedContainers bool
}

func jobInfoOf(p *floepb.JobInfo) JobInfo {
	j := JobInfo{ID: p.GetJobId(), Name: p.GetName(), Status: appmaster.JobStatus(p.GetStatus()), Failure: p.GetFailure(),
		ReusedContainers: p.GetReusedContainers()}
	if ms := p.GetStartTimeMs(); ms > 0 {
		j.Start = time.UnixMilli(ms)
	}
	if ms := p.GetEndTimeMs(); ms > 0 {
		j.End = time.UnixMilli(ms)
	}
	return j
}

package executor

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	"google.golang.org/protobuf/proto"

	"floe/appmaster"
	"floe/internal/config"
	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hdfsutil"
	"floe/internal/jobgraph"
	"floe/internal/rpc"
	"floe/internal/yarn"
)

// Environment of the ApplicationMaster and TaskManager containers.
const (
	EnvJobID      = "FLOE_JOB_ID"
	EnvBinary     = "FLOE_BINARY"       // base64 LocalResourceProto of the job binary
	EnvConfFiles  = "FLOE_HADOOP_FILES" // JSON: file name -> base64 LocalResourceProto
	EnvStaging    = "FLOE_STAGING"      // HDFS staging directory of the application
	EnvHadoopUser = "HADOOP_USER_NAME"
	binaryName    = "floe-job"
)

// ErrNoResources fails a submission that waited too long in ACCEPTED.
var ErrNoResources = errors.New("not enough resources")

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
}

// runYarnPerJob submits g as its own YARN application. Progress goes to
// stdout, or to stderr when stdout carries the JSON summary.
func runYarnPerJob(ctx context.Context, g *jobgraph.JobGraph, log zerolog.Logger, quiet bool) (*Result, error) {
	out := printer{os.Stdout}
	if quiet {
		out = printer{os.Stderr}
	}
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
		return nil, fmt.Errorf("hdfs: %w", err)
	}
	defer fs.Close()
	yc := &yarnClient{g: g, log: log, out: out, conf: c, rm: rm, fs: fs, user: user}
	return yc.run(ctx)
}

func (yc *yarnClient) run(ctx context.Context) (*Result, error) {
	g := yc.g
	jmMB, err := MemoryMB(g.Config, JobManagerMemory, 512)
	if err != nil {
		return nil, err
	}
	tmMB, err := MemoryMB(g.Config, TaskManagerMemory, 512)
	if err != nil {
		return nil, err
	}
	attached, err := g.Config.Bool(Attached, true)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	appID, maxRes, err := yc.rm.NewApplication(sctx)
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
	confJSON, err := json.Marshal(g.Config)
	if err != nil {
		return nil, err
	}
	launch.Env[EnvRole] = "jobmanager"
	launch.Env[EnvSecret] = secret
	launch.Env[EnvConfig] = base64.StdEncoding.EncodeToString(confJSON)
	launch.Env[EnvJobID] = jobID
	launch.Env[EnvStaging] = staging
	launch.Command = []string{containerCommand("jobmanager")}
	name := g.Config.String(YarnName, "floe: "+g.Name)
	spec := yarn.AppSpec{Name: name, Queue: g.Config.String(YarnQueue, ""), Type: "FLOE", MaxAttempts: 1,
		Tags: []string{"floe", "floe-job-" + jobID}, AMResource: yarn.Resource{MemoryMB: jmMB, VCores: 1}, AM: launch}
	if err := yc.rm.Submit(sctx, spec.Proto(appID)); err != nil {
		yc.fs.RemoveAll(staging)
		return nil, fmt.Errorf("yarn: submit: %w", err)
	}
	// Remember the application's secret for this user, so that floe list,
	// cancel, savepoint and stop can reach it (-yid).
	if err := saveApplication(sessionRecord{Application: appID.String(), Secret: secret, Started: time.Now()}); err != nil {
		yc.log.Warn().Err(err).Msg("cannot remember the application's secret; floe savepoint will not reach it")
	}
	yc.out.Printf("Submitted application %s\n", appID)
	yc.out.Printf("Job has been submitted with JobID %s\n", jobID)
	if !attached {
		return &Result{ID: jobID, Status: appmaster.Running, Application: appID.String()}, nil
	}
	return yc.follow(ctx, appID, jobID)
}

// stage uploads the job binary (once per content hash) and the Hadoop client
// configuration, and returns the launch context's resources and environment.
func (yc *yarnClient) stage(ctx context.Context, staging string) (yarn.Launch, error) {
	ref, err := uploadBinary(ctx, yc.fs, yc.user, yc.log)
	if err != nil {
		return yarn.Launch{}, err
	}
	binPath := strings.TrimPrefix(ref.GetUri(), yc.fs.URI.String())
	bin, err := yc.fs.LocalResource(binPath, hadooppb.LocalResourceTypeProto_FILE, hadooppb.LocalResourceVisibilityProto_APPLICATION)
	if err != nil {
		return yarn.Launch{}, err
	}
	l := yarn.Launch{LocalResources: map[string]*hadooppb.LocalResourceProto{binaryName: bin}, Env: map[string]string{}}
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
	l.Env[EnvBinary] = base64.StdEncoding.EncodeToString(b)
	fj, _ := json.Marshal(files)
	l.Env[EnvConfFiles] = base64.StdEncoding.EncodeToString(fj)
	l.Env[conf.EnvHadoopConfDir] = "."
	l.Env[EnvHadoopUser] = yc.user
	return l, nil
}

// containerCommand runs the binary with this process's arguments in a
// container, its output in the container's log directory.
func containerCommand(role string) string {
	var b strings.Builder
	b.WriteString("./" + binaryName)
	for _, a := range os.Args[1:] {
		b.WriteString(" " + shellQuote(a))
	}
	fmt.Fprintf(&b, " 1><LOG_DIR>/%s.out 2><LOG_DIR>/%s.log", role, role)
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func fileHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileMissing(p string) bool {
	_, err := os.Stat(p)
	return err != nil
}

// follow prints state changes until the application ends; Ctrl-C kills it.
func (yc *yarnClient) follow(ctx context.Context, appID yarn.ApplicationID, jobID string) (*Result, error) {
	acceptTimeout := durationOr(yc.g.Config, YarnAcceptTimeout, 2*time.Minute)
	jobTimeout := durationOr(yc.g.Config, JobTimeout, 0)
	start := time.Now()
	var last hadooppb.YarnApplicationStateProto = -1
	trackingShown := false
	kill := func(why string) {
		kctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := yc.rm.Kill(kctx, appID, why); err != nil {
			yc.log.Warn().Err(err).Str("application", appID.String()).Msg("kill failed")
		}
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		rep, err := yc.rm.Report(rctx, appID)
		cancel()
		if ctx.Err() != nil {
			yc.out.Printf("Interrupted: killing application %s\n", appID)
			kill("floe client interrupted")
			return &Result{ID: jobID, Status: appmaster.Canceled, Application: appID.String()}, fmt.Errorf("%w: application %s killed", ErrJobCanceled, appID)
		}
		if err != nil {
			return nil, fmt.Errorf("yarn: report of %s: %w", appID, err)
		}
		st := rep.GetYarnApplicationState()
		if st != last {
			yc.out.Printf("Application %s is %s\n", appID, st)
			last = st
		}
		if !trackingShown && st == hadooppb.YarnApplicationStateProto_RUNNING && rep.GetTrackingUrl() != "" {
			yc.out.Printf("Found Web Interface %s\n", strings.TrimPrefix(rep.GetOriginalTrackingUrl(), "http://"))
			trackingShown = true
		}
		if yarn.Terminal(st) {
			return yc.finalResult(rep, jobID, time.Since(start))
		}
		if st == hadooppb.YarnApplicationStateProto_ACCEPTED && time.Since(start) > acceptTimeout {
			kill("no resources")
			return nil, fmt.Errorf("%w in queue %q: application %s stayed ACCEPTED for %s (%s); killed it",
				ErrNoResources, rep.GetQueue(), appID, acceptTimeout, rep.GetDiagnostics())
		}
		if jobTimeout > 0 && time.Since(start) > jobTimeout {
			kill("floe run --timeout")
			return &Result{ID: jobID, Status: appmaster.Failed, Application: appID.String()},
				fmt.Errorf("%w: ran longer than --timeout %s; application %s killed", ErrJobFailed, jobTimeout, appID)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

func (yc *yarnClient) finalResult(rep *hadooppb.ApplicationReportProto, jobID string, d time.Duration) (*Result, error) {
	r := &Result{ID: jobID, Duration: d, Application: rep.GetApplicationId().String()}
	appID := yarn.AppIDFromProto(rep.GetApplicationId())
	r.Application = appID.String()
	diag := strings.TrimSpace(rep.GetDiagnostics())
	switch rep.GetFinalApplicationStatus() {
	case hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED:
		r.Status = appmaster.Finished
		return r, nil
	case hadooppb.FinalApplicationStatusProto_APP_KILLED:
		r.Status = appmaster.Canceled
		return r, fmt.Errorf("%w: application %s was killed: %s", ErrJobCanceled, appID, firstLine(diag))
	default:
		r.Status = appmaster.Failed
		r.Failure = firstLine(diag)
		return r, fmt.Errorf("%w: %s (logs: yarn logs -applicationId %s)", ErrJobFailed, r.Failure, appID)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

package yarn_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/token"
	"floe/internal/hadoop/yarn"
	"floe/internal/hadoop/yarn/itest"
	"floe/internal/hdfsutil"
	"floe/internal/testenv"
)

type cluster struct {
	confDir string
	conf    *conf.Conf
	rm      *yarn.Client
	fs      *hdfsutil.FS
	user    string
	bins    map[string]string
}

func setup(t *testing.T) *cluster {
	t.Helper()
	dir := testenv.HadoopConfDir(t)
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := yarn.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	user := ipc.DefaultUser()
	hfs, err := hdfsutil.Connect(c, user, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hfs.Close() })
	cl := &cluster{confDir: dir, conf: c, rm: rm, fs: hfs, user: user, bins: map[string]string{}}
	bin := t.TempDir()
	for _, prog := range []string{"am", "worker"} {
		out := filepath.Join(bin, prog)
		cmd := exec.Command("go", "build", "-o", out, "./itest/"+prog)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", prog, err, b)
		}
		cl.bins[prog] = out
	}
	return cl
}

// submit stages the binaries and submits an application running am in mode.
func (cl *cluster) submit(t *testing.T, ctx context.Context, name, mode string) (yarn.ApplicationID, string) {
	t.Helper()
	id, maxRes, err := cl.rm.NewApplication(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s (max container %d MB)", name, id, maxRes.GetMemory())
	staging := path.Join("/tmp/floe-itest", cl.user, id.String())
	amRes, err := cl.fs.Upload(ctx, cl.bins["am"], path.Join(staging, "am"), hadooppb.LocalResourceVisibilityProto_APPLICATION)
	if err != nil {
		t.Fatal(err)
	}
	workerRes, err := cl.fs.Upload(ctx, cl.bins["worker"], path.Join(staging, "worker"), hadooppb.LocalResourceVisibilityProto_APPLICATION)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.fs.Stat(ctx, path.Join(staging, "am"))
	if err != nil {
		t.Fatal(err)
	}
	if amRes.GetSize() != st.Size || amRes.GetTimestamp() != st.ModTime.UnixMilli() {
		t.Fatalf("LocalResource %v does not match HDFS status %d %v", amRes, st.Size, st.ModTime)
	}
	raw, err := proto.Marshal(workerRes)
	if err != nil {
		t.Fatal(err)
	}
	out := path.Join(staging, "out")
	spec := yarn.AppSpec{
		Name: name, Type: "FLOE-ITEST", Tags: []string{"floe-itest"}, MaxAttempts: 1,
		AMResource: yarn.Resource{MemoryMB: 128, VCores: 1},
		AM: yarn.Launch{
			LocalResources: map[string]*hadooppb.LocalResourceProto{"am": amRes},
			Env: map[string]string{
				conf.EnvHadoopConfDir:   cl.confDir,
				"HADOOP_USER_NAME":      cl.user,
				itest.EnvMode:           mode,
				itest.EnvWorkers:        "2",
				itest.EnvWorkerResource: base64.StdEncoding.EncodeToString(raw),
				itest.EnvOut:            out,
			},
			Command: []string{"./am 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr"},
		},
	}
	if err := cl.rm.Submit(ctx, spec.Proto(id)); err != nil {
		t.Fatal(err)
	}
	return id, out
}

// dumpLogs prints the application's container logs the minicluster kept,
// to explain a failure.
func (cl *cluster) dumpLogs(t *testing.T, id yarn.ApplicationID) {
	root := filepath.Dir(cl.confDir)
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(p, id.String()) || (d.Name() != "stderr" && d.Name() != "stdout") {
			return nil
		}
		b, _ := os.ReadFile(p)
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		t.Logf("==> %s\n%s", p, b)
		return nil
	})
}

func TestIntegrationGoAMRunsTwoWorkers(t *testing.T) {
	cl := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, out := cl.submit(t, ctx, "floe-itest-workers", "work")
	rep, err := cl.rm.WaitFor(ctx, id, 500*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool {
		return yarn.Terminal(r.GetYarnApplicationState())
	})
	if err != nil {
		cl.dumpLogs(t, id)
		t.Fatal(err)
	}
	t.Logf("%s: %v/%v: %s", id, rep.GetYarnApplicationState(), rep.GetFinalApplicationStatus(), rep.GetDiagnostics())
	if rep.GetYarnApplicationState() != hadooppb.YarnApplicationStateProto_FINISHED ||
		rep.GetFinalApplicationStatus() != hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED {
		cl.dumpLogs(t, id)
		t.Fatalf("%s ended %v/%v: %s", id, rep.GetYarnApplicationState(), rep.GetFinalApplicationStatus(), rep.GetDiagnostics())
	}
	names, err := cl.fs.Names(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		cl.dumpLogs(t, id)
		t.Fatalf("workers wrote %v, want 2 files", names)
	}
	for _, n := range names {
		cid, err := yarn.ParseContainerID(n)
		if err != nil || cid.Attempt.App != id {
			t.Errorf("file %q is not named after a container of %s: %v", n, id, err)
		}
		var b []byte
		r, err := cl.fs.Open(ctx, path.Join(out, n))
		if err == nil {
			b, err = io.ReadAll(r)
			r.Close()
		}
		if err != nil || !strings.HasPrefix(string(b), "hello from "+n) {
			t.Errorf("%s: %q %v", n, b, err)
		}
	}
	// The application is listed with its name and final status.
	apps, err := cl.rm.Applications(ctx, yarn.AppFilter{Types: []string{"FLOE-ITEST"}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range apps {
		if yarn.AppIDFromProto(a.GetApplicationId()) == id {
			found = a.GetName() == "floe-itest-workers" && a.GetFinalApplicationStatus() == hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED
		}
	}
	if !found {
		t.Errorf("%s not listed as floe-itest-workers/SUCCEEDED in %d applications", id, len(apps))
	}
	_ = cl.fs.RemoveAll(context.Background(), path.Dir(out))
}

func TestIntegrationKill(t *testing.T) {
	cl := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, out := cl.submit(t, ctx, "floe-itest-kill", "sleep")
	if _, err := cl.rm.WaitFor(ctx, id, 300*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool {
		s := r.GetYarnApplicationState()
		if yarn.Terminal(s) {
			t.Fatalf("%s ended before the kill: %v %s", id, s, r.GetDiagnostics())
		}
		return s == hadooppb.YarnApplicationStateProto_RUNNING
	}); err != nil {
		cl.dumpLogs(t, id)
		t.Fatal(err)
	}
	if _, err := cl.rm.Kill(ctx, id, "killed by floe's integration test"); err != nil {
		t.Fatal(err)
	}
	rep, err := cl.rm.WaitFor(ctx, id, 300*time.Millisecond, func(r *hadooppb.ApplicationReportProto) bool {
		return yarn.Terminal(r.GetYarnApplicationState())
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetYarnApplicationState() != hadooppb.YarnApplicationStateProto_KILLED ||
		rep.GetFinalApplicationStatus() != hadooppb.FinalApplicationStatusProto_APP_KILLED {
		t.Fatalf("%s ended %v/%v: %s", id, rep.GetYarnApplicationState(), rep.GetFinalApplicationStatus(), rep.GetDiagnostics())
	}
	t.Logf("%s: %v: %s", id, rep.GetYarnApplicationState(), rep.GetDiagnostics())
	// Killing it again is harmless and reports completion.
	if done, err := cl.rm.Kill(ctx, id, ""); err != nil || !done {
		t.Errorf("second kill: %v %v", done, err)
	}
	_ = cl.fs.RemoveAll(context.Background(), path.Dir(out))
	// An unknown application is ErrUnknownApplication, with the RM's message
	// (not its Java exception).
	_, err = cl.rm.Report(ctx, yarn.ApplicationID{ClusterTimestamp: 1, ID: 1})
	if !errors.Is(err, yarn.ErrUnknownApplication) || strings.Contains(err.Error(), "Exception") {
		t.Errorf("report of an unknown application: %v", err)
	}
}

func TestIntegrationWrongAMRMToken(t *testing.T) {
	cl := setup(t)
	addrs, err := cl.conf.RMSchedulerAddresses()
	if err != nil {
		t.Fatal(err)
	}
	bogus := &token.Token{Identifier: []byte("not an AMRMToken identifier"), Password: []byte("guess"), Kind: token.KindAMRMToken}
	rm, err := yarn.NewAMRMClientAt(addrs, bogus, ipc.WithConnectTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = rm.Register(ctx, "localhost", 0, "")
	if !errors.Is(err, ipc.ErrAuth) {
		t.Fatalf("register with a bogus AMRMToken: %v, want ErrAuth", err)
	}
	t.Logf("bogus token: %v", err)
}

func TestIntegrationClusterInfo(t *testing.T) {
	cl := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := cl.rm.ClusterMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cl.rm.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(m.GetNumActiveNms()) != len(nodes) || len(nodes) == 0 {
		t.Fatalf("metrics say %d active NMs, nodes %d", m.GetNumActiveNms(), len(nodes))
	}
	for _, n := range nodes {
		if n.GetCapability().GetMemory() <= 0 || n.GetNodeState() != hadooppb.NodeStateProto_NS_RUNNING {
			t.Errorf("node %s: %v", yarn.NodeID(n.GetNodeId()), n)
		}
	}
	fmt.Fprintf(os.Stderr, "cluster: %d nodes\n", len(nodes))
}

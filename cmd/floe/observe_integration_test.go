package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"floe/appmaster"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/yarn"
	"floe/internal/metrics"
	"floe/internal/testenv"
)

// observedApp is a per-job application started detached for a test, with
// what the observability tests need: the JobManager's own address (the
// original tracking URL), the ResourceManager's proxy URL, the job id and
// the application's secret.
type observedApp struct {
	app, job        string
	jmURL, proxyURL string
	secret          string
	appID           yarn.ApplicationID
	rm              *yarn.Client
}

func startObservedApp(t *testing.T, extra ...string) *observedApp {
	t.Helper()
	dir := testenv.HadoopConfDir(t)
	home := t.TempDir()
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + home}
	args := append([]string{"run", "-t", "yarn-per-job", "-d", "-p", "2", "-jm", "256m", "-tm", "256m"}, extra...)
	r := floe(t, env, args...)
	if r.code != 0 {
		t.Fatalf("floe run: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	a := &observedApp{app: appIDRe.FindString(r.stdout), rm: rmClient(t, dir)}
	m := regexp.MustCompile(`JobID ([0-9a-f]{32})`).FindStringSubmatch(r.stdout)
	if a.app == "" || m == nil {
		t.Fatalf("no application or job id in %q", r.stdout)
	}
	a.job = m[1]
	a.appID, _ = yarn.ParseApplicationID(a.app)
	t.Cleanup(func() { a.rm.Kill(context.Background(), a.appID, "test done") })
	var rec struct {
		Secret string `json:"secret"`
	}
	b, err := os.ReadFile(filepath.Join(home, "yarn-sessions", a.app+".json"))
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.Secret == "" {
		t.Fatalf("the application's secret: %v %s", err, b)
	}
	a.secret = rec.Secret
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rep, err := a.rm.Report(context.Background(), a.appID)
		if err == nil && strings.HasPrefix(rep.GetOriginalTrackingUrl(), "http") {
			a.jmURL, a.proxyURL = strings.TrimSuffix(rep.GetOriginalTrackingUrl(), "/"), rep.GetTrackingUrl()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tracking URL for %s: %v %v", a.app, rep, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	a.waitJob(t, "RUNNING")
	return a
}

func getBody(url string) ([]byte, int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

func (a *observedApp) details(t *testing.T) (appmaster.JobDetails, error) {
	var d appmaster.JobDetails
	b, code, err := getBody(a.jmURL + "/jobs/" + a.job)
	if err != nil {
		return d, err
	}
	if code != http.StatusOK {
		return d, fmt.Errorf("GET /jobs/%s: %d %s", a.job, code, b)
	}
	return d, json.Unmarshal(b, &d)
}

func (a *observedApp) waitJob(t *testing.T, state appmaster.JobStatus) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, err := a.details(t)
		if err == nil && d.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never %s: %+v %v", a.job, state, d, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// A real Prometheus, told only the JobManager's /metrics/targets, scrapes a
// running Nexmark job on YARN: its query API returns numRecordsIn for every
// subtask of every vertex. promtool accepts each endpoint's output. A cancel
// through the REST interface needs the secret: refused without, CANCELED with.
func TestIntegrationPrometheusScrapesPerJob(t *testing.T) {
	testenv.HadoopConfDir(t)
	promBin := testenv.Tool(t, "prometheus")
	a := startObservedApp(t, "nexmark", "--query", "q5", "--events", "0", "--event-rate", "2000", "--rate", "2000")
	jm := strings.TrimPrefix(a.jmURL, "http://")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: floe
    http_sd_configs:
      - url: http://%s/metrics/targets
        refresh_interval: 1s
`, jm)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prom := exec.CommandContext(ctx, promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	prom.Stdout, prom.Stderr = logf, logf
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); prom.Wait() }()

	d, err := a.details(t)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, v := range d.Vertices {
		for s := range v.Parallelism {
			want[fmt.Sprintf("%d/%d", v.ID, s)] = true
		}
	}
	q := "http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(metrics.NameNumRecordsIn+`{job_id="`+a.job+`"}`)
	deadline := time.Now().Add(2 * time.Minute)
	var got map[string]bool
	for {
		got = map[string]bool{}
		if b, code, err := getBody(q); err == nil && code == http.StatusOK {
			var r struct {
				Data struct {
					Result []struct {
						Metric map[string]string `json:"metric"`
					} `json:"result"`
				} `json:"data"`
			}
			json.Unmarshal(b, &r)
			for _, s := range r.Data.Result {
				got[s.Metric["task_id"]+"/"+s.Metric["subtask_index"]] = true
			}
		}
		complete := true
		for k := range want {
			complete = complete && got[k]
		}
		if complete {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Fatalf("Prometheus has numRecordsIn for %v, want every subtask %v\n%s", got, want, log)
		}
		time.Sleep(time.Second)
	}
	t.Logf("Prometheus scraped numRecordsIn of %d subtasks through %s/metrics/targets", len(got), a.jmURL)

	var targets []metrics.Target
	b, _, err := getBody(a.jmURL + "/metrics/targets")
	if err != nil || json.Unmarshal(b, &targets) != nil || len(targets) < 2 {
		t.Fatalf("targets %s %v", b, err)
	}
	for _, tg := range targets {
		b, code, err := getBody("http://" + tg.Targets[0] + "/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("scrape %v: %d %v", tg, code, err)
		}
		testenv.Promtool(t, tg.Labels["floe_role"]+" "+tg.Targets[0], b)
	}

	post := func(secret string) int {
		req, _ := http.NewRequest(http.MethodPost, a.jmURL+"/jobs/"+a.job+"/cancel", nil)
		if secret != "" {
			req.Header.Set(appmaster.SecretHeader, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusForbidden {
		t.Fatalf("cancel without the secret: %d, want 403", code)
	}
	if d, err := a.details(t); err != nil || d.State != appmaster.Running {
		t.Fatalf("after a refused cancel the job is %s (%v), want RUNNING", d.State, err)
	}
	if code := post(a.secret); code != http.StatusAccepted {
		t.Fatalf("cancel with the secret: %d, want 202", code)
	}
	// The per-job JobManager ends with its job: CANCELED is what it tells
	// YARN (KILLED, "job <id> cancelled") as it goes.
	deadline = time.Now().Add(2 * time.Minute)
	for {
		rep, err := a.rm.Report(context.Background(), a.appID)
		if err == nil && rep.GetFinalApplicationStatus() == hadooppb.FinalApplicationStatusProto_APP_KILLED && strings.Contains(rep.GetDiagnostics(), "cancelled") {
			break
		}
		if err == nil && rep.GetFinalApplicationStatus() != hadooppb.FinalApplicationStatusProto_APP_UNDEFINED && rep.GetFinalApplicationStatus() != hadooppb.FinalApplicationStatusProto_APP_KILLED {
			t.Fatalf("after the cancel the application ended %s: %s", rep.GetFinalApplicationStatus(), rep.GetDiagnostics())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the application did not end cancelled: %v %v", rep, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// chromium opens a headless browser for the dashboard tests; the machine's
// network is closed, so everything that would call out is off.
func chromium(t *testing.T) (context.Context, context.CancelFunc) {
	bin := testenv.Tool(t, "chromium", "chromium-browser")
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1600, 1000)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	return ctx, func() { cancelT(); cancelC(); cancelA() }
}

// artifactDir is where the dashboard's screenshots are kept: bin/test-artifacts/dashboard.
func artifactDir(t *testing.T) string {
	d, err := filepath.Abs(filepath.Join("..", "..", "bin", "test-artifacts", "dashboard"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitJS evaluates a JavaScript condition in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, what, js string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML("body"))
			t.Fatalf("dashboard: %s: not within %s\n%.3000s", what, within, html)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// show opens a page of the dashboard already loaded: a change of its hash route.
func show(t *testing.T, ctx context.Context, hash string) {
	t.Helper()
	b, _ := json.Marshal(hash)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("location.hash = "+string(b)+"; true")); err != nil {
		t.Fatalf("show %s: %v", hash, err)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifactDir(t), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Headless Chromium opens the dashboard through the ResourceManager's proxy
// URL (the tracking URL YARN reports) for a Nexmark job with a throttled sink
// and checkpoints on HDFS: every vertex of the graph, a back-pressured vertex
// marked as such, two completed checkpoints with their sizes, a TaskManager's
// log; after a TaskManager is killed, the exceptions page shows the cause.
func TestIntegrationDashboardThroughProxy(t *testing.T) {
	testenv.HadoopConfDir(t)
	ctx, stop := chromium(t)
	defer stop()
	base := toHDFS(t, nil)
	a := startObservedApp(t, "--log-level", "debug", "-D", "execution.checkpointing.interval=1s", "-D", "execution.checkpointing.dir="+base+"/checkpoints",
		"-D", "restart-strategy.fixed-delay.attempts=3", "-D", "restart-strategy.fixed-delay.delay=1s", // the JobManager outlives the kill
		"nexmark", "--query", "q0", "--events", "0", "--event-rate", "2000", "--rate", "2000", "--sink-delay", "5ms")
	if !strings.Contains(a.proxyURL, "/proxy/"+a.app) {
		t.Fatalf("tracking URL %q is not the ResourceManager's proxy", a.proxyURL)
	}
	root := strings.TrimSuffix(a.proxyURL, "/") + "/"
	d, err := a.details(t)
	if err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, root)
	waitJS(t, ctx, "the job in the overview", `document.querySelector('tr.job[data-job="`+a.job+`"]') !== null`, time.Minute)
	screenshot(t, ctx, "overview")

	show(t, ctx, "#/job/"+a.job)
	waitJS(t, ctx, "every vertex in the graph", fmt.Sprintf(`document.querySelectorAll('#graph g.vertex').length === %d`, len(d.Vertices)), time.Minute)
	for _, v := range d.Vertices {
		waitJS(t, ctx, "vertex "+v.Name, fmt.Sprintf(`document.querySelector('#graph g.vertex[data-vertex="%d"]') !== null`, v.ID), 10*time.Second)
	}
	waitJS(t, ctx, "a back-pressured vertex", `document.querySelector('#graph g.vertex[data-backpressure="HIGH"], #graph g.vertex[data-backpressure="LOW"]') !== null`, 2*time.Minute)
	screenshot(t, ctx, "job")

	show(t, ctx, "#/job/"+a.job+"/vertex/0")
	waitJS(t, ctx, "the source's subtasks", `document.querySelectorAll('tr.subtask').length === 2`, 30*time.Second)
	screenshot(t, ctx, "vertex")

	show(t, ctx, "#/job/"+a.job+"/checkpoints")
	waitJS(t, ctx, "two completed checkpoints with sizes",
		`[...document.querySelectorAll('tr.checkpoint[data-status="COMPLETED"]')].filter(r => Number(r.dataset.size) > 0 && r.querySelector('td.size').textContent !== '0 B').length >= 2`, 2*time.Minute)
	screenshot(t, ctx, "checkpoints")

	show(t, ctx, "#/taskmanagers")
	waitJS(t, ctx, "the TaskManagers", `document.querySelectorAll('tr.taskmanager').length >= 2`, 30*time.Second)
	screenshot(t, ctx, "taskmanagers")
	tm, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('tr.taskmanager').dataset.tm`))
	if err != nil {
		t.Fatal(err)
	}
	show(t, ctx, "#/taskmanager/"+url.PathEscape(tm))
	waitJS(t, ctx, "a TaskManager's log", `(document.getElementById('tm-log') || {}).textContent.includes('"level"')`, 30*time.Second)
	screenshot(t, ctx, "taskmanager-log")

	show(t, ctx, "#/jobmanager")
	waitJS(t, ctx, "the JobManager's config and log", `document.querySelectorAll('table.jm-config tr').length > 2 && (document.getElementById('jm-log') || {}).textContent.length > 0`, 30*time.Second)
	screenshot(t, ctx, "jobmanager")

	pids := appTaskManagerPIDs(a.app)
	if len(pids) == 0 {
		t.Fatalf("no TaskManager process of %s found", a.app)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed TaskManager process %d", pids[0])
	show(t, ctx, "#/job/"+a.job+"/exceptions")
	waitJS(t, ctx, "the cause of the failure", `(document.getElementById('root-exception') || {textContent: ''}).textContent.includes('TaskManager') &&
		[...document.querySelectorAll('tr.exception')].some(r => r.textContent.includes('lost'))`, 2*time.Minute)
	screenshot(t, ctx, "exceptions")
}

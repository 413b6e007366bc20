package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/config"
	"floe/datastream"
	"floe/internal/metrics"
	"floe/internal/role"
	"floe/internal/testenv"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return b
}

// recordsIn parses a /metrics answer: numRecordsIn by vertex and subtask.
func recordsIn(t *testing.T, text []byte) map[[2]int]int64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[[2]int]int64{}
	f, ok := fams[metrics.NameNumRecordsIn]
	if !ok {
		return out
	}
	for _, m := range f.GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		v, _ := strconv.Atoi(l["task_id"])
		s, _ := strconv.Atoi(l["subtask_index"])
		if l["job_id"] == "" || l["task_name"] == "" || l["tm_id"] == "" {
			t.Errorf("%s lacks its job, task or TaskManager label: %v", metrics.NameNumRecordsIn, l)
		}
		out[[2]int{v, s}] = int64(m.GetCounter().GetValue())
	}
	return out
}

// TestMetricsOfLocalJob scrapes every process of a local job, found through
// the JobManager's service discovery, while the source holds its last
// record: numRecordsIn is there for every subtask, and the totals are the
// job's own (the JobManager's per-subtask counts from the heartbeats, and
// the vertex total it reports when the job ends). promtool accepts every
// endpoint's output.
func TestMetricsOfLocalJob(t *testing.T) {
	testenv.Tool(t, "promtool") // skips here, before the job starts, where promtool is not installed
	t.Setenv(role.EnvRole, string(role.Client))
	t.Setenv(role.EnvConfig, "")
	const n = 1000
	port := freePort(t)
	conf := config.New(map[string]string{config.Parallelism: "2", config.LocalTaskManagers: "2",
		config.BufferTimeout: "0", config.HeartbeatInterval: "100ms", config.RESTPort: strconv.Itoa(port)})
	env := datastream.NewEnvironment(datastream.WithConfig(conf), datastream.WithLogger(zerolog.Nop()))
	var calls atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	src := datastream.Generate(env, func(i int64) int64 {
		if calls.Add(1) == n { // the last record waits for the test
			<-release
		}
		return i
	}, datastream.GeneratorOptions{Count: n})
	datastream.Discard(datastream.Map(src.Rebalance(), func(v int64) int64 { return v + 1 }))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "metrics")
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	var scraped map[[2]int]int64
	var exposition [][]byte
	deadline := time.Now().Add(time.Minute)
	for ; ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no scrape of the TaskManagers showed %d records into the map while the source holds its last: %v", n-1, scraped)
		}
		var targets []metrics.Target
		if err := json.Unmarshal(httpGet(t, base+"/metrics/targets"), &targets); err != nil {
			t.Fatal(err)
		}
		scraped, exposition = map[[2]int]int64{}, nil
		for _, tg := range targets {
			if tg.Labels["floe_role"] != "taskmanager" {
				continue
			}
			b := httpGet(t, "http://"+tg.Targets[0]+"/metrics")
			exposition = append(exposition, b)
			for k, v := range recordsIn(t, b) {
				scraped[k] = v
			}
		}
		// The source subtask that does not emit the last record finishes
		// and leaves; the one holding it, and both map subtasks, stay.
		_, m0 := scraped[[2]int{1, 0}]
		_, m1 := scraped[[2]int{1, 1}]
		if len(exposition) == 2 && m0 && m1 && len(scraped) >= 3 && scraped[[2]int{1, 0}]+scraped[[2]int{1, 1}] == n-1 {
			break
		}
	}
	for k, v := range scraped {
		if k[0] == 0 && v != 0 {
			t.Errorf("source subtask %d: %d records in, want 0", k[1], v)
		}
		if k[0] == 1 && v == 0 {
			t.Errorf("map subtask %d received nothing through the rebalance", k[1])
		}
	}
	// The JobManager's view (heartbeats) catches up with the same counts.
	for ; ; time.Sleep(100 * time.Millisecond) {
		var vi appmaster.VertexInfo
		if err := json.Unmarshal(httpGet(t, base+"/jobs/"+jc.ID()+"/vertices/1"), &vi); err != nil {
			t.Fatal(err)
		}
		same := len(vi.Subtasks) == 2
		for _, s := range vi.Subtasks {
			same = same && s.Metrics.RecordsIn == scraped[[2]int{1, s.Subtask}]
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the JobManager's subtask counts %+v never matched the scraped %v", vi.Subtasks, scraped)
		}
	}
	for i, b := range exposition {
		testenv.Promtool(t, fmt.Sprintf("TaskManager %d", i), b)
	}
	jmText := httpGet(t, base+"/metrics")
	testenv.Promtool(t, "JobManager", jmText)
	if !bytes.Contains(jmText, []byte("floe_jobmanager_job_uptime_seconds{")) {
		t.Errorf("the JobManager's /metrics has no job uptime:\n%s", jmText)
	}

	var tms struct {
		TaskManagers []appmaster.TaskManagerInfo `json:"taskmanagers"`
	}
	if err := json.Unmarshal(httpGet(t, base+"/taskmanagers"), &tms); err != nil {
		t.Fatal(err)
	}
	if len(tms.TaskManagers) != 2 {
		t.Fatalf("/taskmanagers lists %d, want 2", len(tms.TaskManagers))
	}
	for _, tm := range tms.TaskManagers {
		if tm.HeapBytes <= 0 || tm.RSSBytes <= 0 || tm.Goroutines <= 0 || tm.MetricsAddress == "" {
			t.Errorf("TaskManager %s: heap %d, resident %d, %d goroutines, metrics at %q; want them all", tm.ID, tm.HeapBytes, tm.RSSBytes, tm.Goroutines, tm.MetricsAddress)
		}
	}

	unblock()
	r, err := jc.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Vertices[1].RecordsIn != n || r.Vertices[0].RecordsOut != n {
		t.Errorf("the job counted %+v, want %d records out of the source and into the map", r.Vertices, n)
	}
}

package submit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"floe/appmaster"
	"floe/client"
	"floe/config"
	"floe/internal/jobgraph"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// graph is a job graph with vertices of these parallelisms, all in one slot sharing group.
func graph(c config.Config, pars ...int) *jobgraph.JobGraph {
	g := &jobgraph.JobGraph{Name: "job", Config: c}
	for i, p := range pars {
		g.Vertices = append(g.Vertices, &jobgraph.Vertex{ID: i, Name: fmt.Sprintf("v%d", i), Parallelism: p})
	}
	return g
}

func TestLocalLayout(t *testing.T) {
	kv := func(pairs ...string) config.Config {
		m := map[string]string{}
		for i := 0; i < len(pairs); i += 2 {
			m[pairs[i]] = pairs[i+1]
		}
		return config.New(m)
	}
	for _, tc := range []struct {
		name       string
		g          *jobgraph.JobGraph
		tms, slots int
		invalid    bool // config.ErrInvalid, else no error
	}{
		{name: "parallelism 1", g: graph(config.Config{}, 1, 1), tms: 1, slots: 1},
		{name: "parallelism 2: two TaskManagers of one slot", g: graph(config.Config{}, 2, 1), tms: 2, slots: 1},
		{name: "parallelism 5: two TaskManagers, slots rounded up", g: graph(config.Config{}, 5), tms: 2, slots: 3},
		{name: "TaskManagers set", g: graph(kv(config.LocalTaskManagers, "3"), 4), tms: 3, slots: 2},
		{name: "TaskManagers and slots set", g: graph(kv(config.LocalTaskManagers, "1", config.Slots, "8"), 4), tms: 1, slots: 8},
		{name: "too few slots", g: graph(kv(config.LocalTaskManagers, "1", config.Slots, "2"), 4), invalid: true},
		{name: "no TaskManagers", g: graph(kv(config.LocalTaskManagers, "0"), 1), invalid: true},
		{name: "TaskManagers not a number", g: graph(kv(config.LocalTaskManagers, "two"), 1), invalid: true},
		{name: "slots not a number", g: graph(kv(config.Slots, "x"), 1), invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tms, slots, err := localLayout(tc.g)
			if tc.invalid {
				if !errors.Is(err, config.ErrInvalid) {
					t.Fatalf("got %d x %d, %v; want config.ErrInvalid", tms, slots, err)
				}
				return
			}
			if err != nil || tms != tc.tms || slots != tc.slots {
				t.Fatalf("got %d TaskManagers x %d slots, %v; want %d x %d", tms, slots, err, tc.tms, tc.slots)
			}
		})
	}
}

func TestValidateConfig(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		ok         bool
	}{
		{config.BufferTimeout, "10 ms", true},
		{config.BufferTimeout, "soon", false},
		{config.HeartbeatInterval, "2s", true},
		{config.HeartbeatTimeout, "-", false},
		{config.BatchSize, "1024", true},
		{config.BatchSize, "0", false},
		{config.Credits, "-1", false},
		{config.QueueCapacity, "lots", false},
		{config.Slots, "4", true},
		{config.LocalTaskManagers, "0", false},
		{config.Parallelism, "0", false},
		{config.MaxParallelism, "128", true},
		{config.LocalProcesses, "true", true},
		{config.LocalProcesses, "sometimes", false},
		{config.RestartType, "none", true},
		{config.RestartType, "fixed-delay", true},
		{config.RestartType, "whenever", false},
		{config.TaskManagerCPUCores, "2", true},
		{config.TaskManagerCPUCores, "2.0", true},
		{config.TaskManagerCPUCores, "1.5", false},
		{config.TaskManagerCPUCores, "0", false},
		{config.TaskManagerCPUCores, "many", false},
		{config.TaskManagerGCPercent, "400", true},
		{config.TaskManagerGCPercent, "off", true},
		{config.TaskManagerGCPercent, "0", false},
		{config.TaskManagerGCPercent, "lots", false},
		{config.TaskManagerDataTransport, "grpc", true},
		{config.TaskManagerDataTransport, "udp", false},
		{"some.key.of.the.job", "anything", true},
	} {
		err := ValidateConfig(config.New(map[string]string{tc.key: tc.value}))
		if (err == nil) != tc.ok {
			t.Errorf("%s=%q: err %v, want ok=%v", tc.key, tc.value, err, tc.ok)
		}
	}
	if err := ValidateConfig(config.Config{}); err != nil {
		t.Errorf("empty configuration: %v", err)
	}
}

func TestPrintSummary(t *testing.T) {
	g := graph(config.Config{}, 1)
	g.Name = "wordcount"
	for _, tc := range []struct {
		name string
		r    *client.Result
		err  error
		want Summary
	}{
		{
			name: "finished",
			r: &client.Result{ID: "j1", Application: "application_1_0001", Status: appmaster.Finished,
				Vertices: []appmaster.VertexResult{{Name: "Source", Parallelism: 2, RecordsOut: 10}}},
			want: Summary{JobID: "j1", Name: "wordcount", Application: "application_1_0001", Status: "FINISHED", DurationMS: 1500,
				Vertices: []appmaster.VertexResult{{Name: "Source", Parallelism: 2, RecordsOut: 10}}},
		},
		{
			name: "failed with a result",
			r:    &client.Result{ID: "j2", Status: appmaster.Failed},
			err:  fmt.Errorf("%w: boom", client.ErrJobFailed),
			want: Summary{JobID: "j2", Name: "wordcount", Status: "FAILED", Error: "job failed: boom", DurationMS: 1500},
		},
		{
			name: "no result",
			err:  errors.New("cannot reach the ResourceManager"),
			want: Summary{Name: "wordcount", Status: "FAILED", Error: "cannot reach the ResourceManager", DurationMS: 1500},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			printSummary(&buf, g, tc.r, tc.err, 1500*time.Millisecond)
			if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 || buf.Bytes()[buf.Len()-1] != '\n' {
				t.Fatalf("want one line, got %q", buf.String())
			}
			var got Summary
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tc.want)
			if !bytes.Equal(gb, wb) {
				t.Errorf("got  %s\nwant %s", gb, wb)
			}
		})
	}
}

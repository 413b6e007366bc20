package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/client"
	"floe/config"
	"floe/datastream"
	"floe/internal/role"
	"floe/internal/submit"
)

// squares runs FromSlice -> rebalance -> map -> collect through Execute, which
// in the client role with the default target is the local run of this package.
func squares(t *testing.T, conf map[string]string) ([]int64, *client.Result, error) {
	t.Helper()
	t.Setenv(role.EnvRole, string(role.Client))
	t.Setenv(role.EnvConfig, "")
	env := datastream.NewEnvironment(datastream.WithConfig(config.New(conf)), datastream.WithLogger(zerolog.Nop()))
	src := datastream.FromSlice(env, []int64{1, 2, 3, 4, 5, 6, 7, 8})
	out, _ := datastream.Collect(datastream.Map(src.Rebalance(), func(v int64) int64 { return v * v }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := env.Execute(ctx, "squares")
	got := out.Items()
	slices.Sort(got)
	return got, r, err
}

func TestRunLocal(t *testing.T) {
	got, r, err := squares(t, map[string]string{config.Parallelism: "2", config.LocalTaskManagers: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 4, 9, 16, 25, 36, 49, 64}; !slices.Equal(got, want) {
		t.Errorf("collected %v, want %v", got, want)
	}
	if r == nil || r.Status != appmaster.Finished || r.ID == "" {
		t.Fatalf("result %+v, want a finished job with an id", r)
	}
	var out int64
	for _, v := range r.Vertices {
		if v.Parallelism != 2 && v.Parallelism != 1 {
			t.Errorf("vertex %s has parallelism %d", v.Name, v.Parallelism)
		}
		out = max(out, v.RecordsOut)
	}
	if out != 8 {
		t.Errorf("no vertex counted the 8 records out: %+v", r.Vertices)
	}
}

func TestRunLocalRefusesLayout(t *testing.T) {
	_, _, err := squares(t, map[string]string{config.Parallelism: "4", config.LocalTaskManagers: "1", config.Slots: "2"})
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("err %v, want config.ErrInvalid (4 subtasks, 2 slots)", err)
	}
}

func TestSubmitUnknownTarget(t *testing.T) {
	_, r, err := squares(t, map[string]string{config.Target: "kubernetes"})
	if !errors.Is(err, client.ErrUnsupported) || r != nil {
		t.Fatalf("%v, %v; want client.ErrUnsupported", r, err)
	}
}

// TestRunLocalBatchStages runs a BATCH job with --json: its summary lists
// the stages, each finished once, with the records the job's input has;
// without a terminal the client logs a line per stage.
func TestRunLocalBatchStages(t *testing.T) {
	t.Setenv(role.EnvRole, string(role.Client))
	t.Setenv(role.EnvConfig, "")
	const n = 1000
	in := make([]int64, n)
	for i := range in {
		in[i] = int64(i)
	}
	var logs syncBuffer
	conf := config.New(map[string]string{config.Parallelism: "2", config.LocalTaskManagers: "2",
		"execution.runtime-mode": "BATCH", config.JSONSummary: "true"})
	env := datastream.NewEnvironment(datastream.WithConfig(conf), datastream.WithLogger(zerolog.New(&logs)))
	out, _ := datastream.Collect(datastream.Map(datastream.FromSlice(env, in).Rebalance(), func(v int64) int64 { return v * 3 }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, restore := captureStdout(t)
	_, err := env.Execute(ctx, "batch-stages")
	summary := restore()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(out.Items()); got != n {
		t.Fatalf("collected %d records, want %d", got, n)
	}
	var s submit.Summary
	if err := json.Unmarshal(summary, &s); err != nil {
		t.Fatalf("--json printed %q: %v", summary, err)
	}
	t.Logf("stages: %+v", s.Stages)
	if len(s.Stages) < 2 {
		t.Fatalf("stages %+v: want at least 2 (a blocking exchange after the source)", s.Stages)
	}
	for i, st := range s.Stages {
		if st.Status != "FINISHED" || st.Runs != 1 || st.Finished != st.Subtasks || st.Subtasks < 1 {
			t.Errorf("stage %d: %+v, want finished in one run", i, st)
		}
		if i > 0 && st.RecordsIn != n {
			t.Errorf("stage %d read %d records, want %d", i, st.RecordsIn, n)
		}
		if i < len(s.Stages)-1 && (st.RecordsOut != n || st.BytesOut < 8*n) {
			t.Errorf("stage %d wrote %d records, %d bytes; want %d records, at least %d bytes (int64s)", i, st.RecordsOut, st.BytesOut, n, 8*n)
		}
	}
	for _, st := range s.Stages {
		line := `"message":"` + appmaster.StageLine(st) + `"`
		if !strings.Contains(logs.String(), line) {
			t.Errorf("no log line %s in\n%s", line, logs.String())
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureStdout points os.Stdout at a pipe until restore, which returns
// what was written.
func captureStdout(t *testing.T) (*os.File, func() []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	return w, func() []byte {
		os.Stdout = old
		w.Close()
		b := <-got
		r.Close()
		return bytes.TrimSpace(b)
	}
}

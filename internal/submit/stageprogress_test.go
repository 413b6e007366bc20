package submit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
)

func TestStageProgressLines(t *testing.T) {
	p := newStageProgress(5 * time.Second)
	t0 := time.Unix(1000, 0)
	st := func(s0, s1 string, runs1 int) []appmaster.StageResult {
		return []appmaster.StageResult{{ID: 0, Status: s0, Runs: 1, Vertices: []string{"src"}}, {ID: 1, Status: s1, Runs: runs1, Vertices: []string{"sum"}}}
	}
	steps := []struct {
		at     time.Duration
		stages []appmaster.StageResult
		want   []string // stage ids said, as "stage N"
	}{
		{0, st("RUNNING", "WAITING", 0), []string{"stage 0"}},
		{time.Second, st("RUNNING", "WAITING", 0), nil},
		{6 * time.Second, st("RUNNING", "WAITING", 0), []string{"stage 0"}}, // every interval while running
		{7 * time.Second, st("FINISHED", "RUNNING", 1), []string{"stage 0", "stage 1"}},
		{8 * time.Second, st("FINISHED", "RUNNING", 1), nil},
		{9 * time.Second, st("FINISHED", "RUNNING", 2), []string{"stage 1"}}, // a rerun
		{10 * time.Second, st("FINISHED", "FINISHED", 2), []string{"stage 1"}},
		{20 * time.Second, st("FINISHED", "FINISHED", 2), nil},
	}
	for i, s := range steps {
		got := p.lines(t0.Add(s.at), s.stages)
		if len(got) != len(s.want) {
			t.Fatalf("step %d: said %q, want %v", i, got, s.want)
		}
		for j, w := range s.want {
			if !strings.HasPrefix(got[j], w+" ") {
				t.Fatalf("step %d: line %d = %q, want %s", i, j, got[j], w)
			}
		}
	}
}

// fakeStages is a BATCH job of two stages, src (2 subtasks) then sum (1),
// moving one subtask on per call: what a JobManager would report.
type fakeStages struct {
	mu   sync.Mutex
	step int
}

func (f *fakeStages) stages() []appmaster.StageResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeAt(f.step)
}

func (f *fakeStages) next() {
	f.mu.Lock()
	f.step++
	f.mu.Unlock()
}

// fakeAt is the job after step subtasks finished (3: all); every finished
// subtask of src wrote 50 records of 8 bytes, sum read them all.
func fakeAt(step int) []appmaster.StageResult {
	src := appmaster.StageResult{ID: 0, Vertices: []string{"src"}, Runs: 1, Subtasks: 2, Status: "RUNNING"}
	sum := appmaster.StageResult{ID: 1, Vertices: []string{"sum"}, Subtasks: 1, Status: "WAITING"}
	src.Finished = min(step, 2)
	src.RecordsOut, src.BytesOut = int64(50*src.Finished), int64(400*src.Finished)
	if step >= 2 {
		src.Status, sum.Status, sum.Runs = "FINISHED", "RUNNING", 1
		sum.RecordsIn, sum.BytesIn = 100, 800
	}
	if step >= 3 {
		sum.Status, sum.Finished, sum.RecordsOut = "FINISHED", 1, 1
	}
	return []appmaster.StageResult{src, sum}
}

func TestStageBarsRender(t *testing.T) {
	var out bytes.Buffer
	bars := newStageBars(&out)
	f := &fakeStages{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followStages(ctx, bars, f.stages, time.Millisecond, f.stages)
	}()
	for range 3 {
		time.Sleep(5 * time.Millisecond)
		f.next()
	}
	cancel()
	<-done
	final := fakeAt(3)
	text := out.String()
	for _, s := range final {
		want := []string{fmt.Sprintf("stage %d (%s)", s.ID, strings.Join(s.Vertices, ", ")),
			fmt.Sprintf("%d/%d subtasks", s.Subtasks, s.Subtasks), stageStats(s)}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("bars say\n%s\nwithout %q", text, w)
			}
		}
	}
}

func TestStageBarsStopUnfinished(t *testing.T) {
	// A job that failed (or Ctrl-C) in its first stage: the bar stops where it was.
	var out bytes.Buffer
	bars := newStageBars(&out)
	bars.update(time.Now(), fakeAt(1))
	bars.stop(time.Now(), fakeAt(1))
	if text := out.String(); !strings.Contains(text, "1/2 subtasks") || strings.Contains(text, "stage 1 (") {
		t.Errorf("bars say\n%s\nwant stage 0 at 1/2 and no bar for stage 1, which never ran", text)
	}
}

func TestStageBarsRerun(t *testing.T) {
	var out bytes.Buffer
	bars := newStageBars(&out)
	s := fakeAt(3)
	bars.update(time.Now(), s)
	// stage 0's output was lost: it runs again
	s[0].Status, s[0].Runs, s[0].Finished = "RUNNING", 2, 0
	s[1].Status, s[1].Finished = "WAITING", 0
	bars.update(time.Now(), s)
	s = fakeAt(3)
	s[0].Runs = 2
	bars.stop(time.Now(), s)
	if text := out.String(); !strings.Contains(text, stageStats(s[0])) {
		t.Errorf("bars say\n%s\nwithout %q", text, stageStats(s[0]))
	}
	if n := len(bars.bars); n != 2 {
		t.Errorf("%d bars, want 2", n)
	}
}

func TestStageLinesWithoutTerminal(t *testing.T) {
	var logs bytes.Buffer
	sink := newStageSink(false, io.Discard, zerolog.New(&logs), 10*time.Second)
	t0 := time.Unix(1000, 0)
	for step := range 4 {
		sink.update(t0.Add(time.Duration(step)*time.Second), fakeAt(step))
	}
	sink.stop(t0.Add(5*time.Second), fakeAt(3))
	var got []string
	for line := range strings.Lines(logs.String()) {
		var m struct{ Level, Message string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		got = append(got, m.Message)
	}
	// A line when a stage first runs and when it finishes, none per
	// finished subtask (the interval is not due).
	final := fakeAt(3)
	want := []string{appmaster.StageLine(fakeAt(0)[0]), appmaster.StageLine(fakeAt(2)[0]), appmaster.StageLine(fakeAt(2)[1]), appmaster.StageLine(final[1])}
	if !slices.Equal(got, want) {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A stage that reads files counts its splits done, not its subtasks.
func TestStageBarsCountSplits(t *testing.T) {
	var out bytes.Buffer
	bars := newStageBars(&out)
	st := appmaster.StageResult{ID: 0, Vertices: []string{"Source: CSV in"}, Runs: 1, Subtasks: 2, Status: "RUNNING",
		Splits: 40, SplitsAssigned: 2, SplitsDone: 13}
	bars.update(time.Now(), []appmaster.StageResult{st})
	bars.stop(time.Now(), []appmaster.StageResult{st})
	if text := out.String(); !strings.Contains(text, "13/40 splits") || strings.Contains(text, "subtasks [") {
		t.Errorf("bars say\n%s\nwant 13/40 splits", text)
	}
	if l := appmaster.StageLine(st); !strings.Contains(l, "13/40 splits (2 reading)") {
		t.Errorf("stage line %q without its splits", l)
	}
}

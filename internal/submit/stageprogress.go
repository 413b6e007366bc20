package submit

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"floe/appmaster"
	"floe/client"
)

// logWriter writes each line as an info message of log.
type logWriter struct{ log zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info().Msg(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// stageProgress decides the lines `floe run` prints about a BATCH job's
// stages: a line for a stage when it starts running and when it finishes,
// and every interval while it runs. It does no I/O: the caller feeds it the
// JobManager's stage counters.
type stageProgress struct {
	interval time.Duration
	status   map[int]string    // last status said per stage
	runs     map[int]int       // last run said per stage
	printed  map[int]time.Time // when a running stage was last said
}

func newStageProgress(interval time.Duration) *stageProgress {
	return &stageProgress{interval: interval, status: map[int]string{}, runs: map[int]int{}, printed: map[int]time.Time{}}
}

// lines returns what to say at now about stages.
func (p *stageProgress) lines(now time.Time, stages []appmaster.StageResult) []string {
	var out []string
	for _, s := range stages {
		changed := p.status[s.ID] != s.Status || p.runs[s.ID] != s.Runs
		due := s.Status == "RUNNING" && now.Sub(p.printed[s.ID]) >= p.interval
		if s.Status == "WAITING" && p.status[s.ID] == "" {
			changed = false // nothing to say before it first runs
		}
		if !changed && !due {
			continue
		}
		p.status[s.ID], p.runs[s.ID], p.printed[s.ID] = s.Status, s.Runs, now
		out = append(out, appmaster.StageLine(s))
	}
	return out
}

// stageSink is what the client does with the stage counters it polls: log
// lines (stageLines) or a bar per stage on a terminal (stageBars).
type stageSink interface {
	// update shows stages as they are at now.
	update(now time.Time, stages []appmaster.StageResult)
	// stop shows the last counters known (nil: none) and stops for good.
	stop(now time.Time, last []appmaster.StageResult)
}

// stageLines writes stageProgress's lines to w.
type stageLines struct {
	w io.Writer
	p *stageProgress
}

func (s *stageLines) update(now time.Time, stages []appmaster.StageResult) {
	for _, l := range s.p.lines(now, stages) {
		fmt.Fprintln(s.w, l)
	}
}

func (s *stageLines) stop(now time.Time, last []appmaster.StageResult) {
	if last != nil {
		s.update(now, last)
	}
}

// stageBars draws a bar per stage on a terminal: splits done of the stage's
// input splits (subtasks finished of the stage's subtasks when it reads no
// files), then its run, records and bytes. A stage gets its bar
// when it first runs; a stage that runs again after it finished gets a new
// one.
type stageBars struct {
	p    *mpb.Progress
	mu   sync.Mutex // held by update and stop, never by a decorator
	bars map[int]*mpb.Bar
	runs map[int]int // the run each bar shows
	// statsMu guards last, what the bars' decorators show; mpb calls them
	// while update sets a bar's count.
	statsMu sync.Mutex
	last    map[int]appmaster.StageResult
}

func newStageBars(w io.Writer, opts ...mpb.ContainerOption) *stageBars {
	opts = append([]mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(100), mpb.WithRefreshRate(200 * time.Millisecond), mpb.WithAutoRefresh()}, opts...)
	return &stageBars{p: mpb.New(opts...), bars: map[int]*mpb.Bar{}, runs: map[int]int{}, last: map[int]appmaster.StageResult{}}
}

// stageStats is the text after a stage's bar.
func stageStats(s appmaster.StageResult) string {
	t := fmt.Sprintf("%s run %d, %d records in, %d out, %s in, %s out", s.Status, s.Runs, s.RecordsIn, s.RecordsOut, byteSize(s.BytesIn), byteSize(s.BytesOut))
	if s.SpilledBytes > 0 {
		t += fmt.Sprintf(", %s spilled", byteSize(s.SpilledBytes))
	}
	return t
}

// byteSize is n in B, KiB, MiB or GiB.
func byteSize(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%d B", n)
	case n < k*k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	default:
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	}
}

func (s *stageBars) update(_ time.Time, stages []appmaster.StageResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range stages {
		b := s.bars[st.ID]
		if st.Status == "WAITING" && b == nil {
			continue
		}
		s.statsMu.Lock()
		s.last[st.ID] = st
		s.statsMu.Unlock()
		if st.Status == "WAITING" {
			continue // to run again: its bar stays until then
		}
		if b != nil && st.Runs != s.runs[st.ID] {
			if !b.Completed() {
				b.Abort(false)
			}
			b = nil // a rerun gets a bar of its own
		}
		// A stage that reads files counts its splits done, else its subtasks.
		total, unit, n := st.Subtasks, "subtasks", st.Finished
		if st.Splits > 0 {
			total, unit, n = st.Splits, "splits", st.SplitsDone
		}
		if b == nil {
			id := st.ID
			b = s.p.AddBar(int64(max(total, 1)),
				mpb.PrependDecorators(decor.Name(fmt.Sprintf("stage %d (%s) ", st.ID, strings.Join(st.Vertices, ", "))),
					decor.CountersNoUnit("%d/%d "+unit+" ")),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
					s.statsMu.Lock()
					defer s.statsMu.Unlock()
					return stageStats(s.last[id])
				})))
			s.bars[st.ID], s.runs[st.ID] = b, st.Runs
		}
		if st.Status == "FINISHED" {
			n = max(total, 1)
		}
		b.SetCurrent(int64(n))
	}
}

// stop completes the bars of finished stages, leaves the others where they
// stopped, and waits until the last frame is drawn.
func (s *stageBars) stop(now time.Time, last []appmaster.StageResult) {
	if last != nil {
		s.update(now, last)
	}
	s.mu.Lock()
	for _, b := range s.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	s.mu.Unlock()
	s.p.Wait()
}

// newStageSink returns bars on w for a terminal, log lines elsewhere.
func newStageSink(tty bool, w io.Writer, log zerolog.Logger, interval time.Duration) stageSink {
	if tty {
		return newStageBars(w)
	}
	return &stageLines{w: logWriter{log}, p: newStageProgress(interval)}
}

// followStages feeds sink the stages until ctx ends, polling stages every
// poll, then stops sink with final's stages (nil: none).
func followStages(ctx context.Context, sink stageSink, stages func() []appmaster.StageResult, poll time.Duration, final func() []appmaster.StageResult) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			var last []appmaster.StageResult
			if final != nil {
				last = final()
			}
			sink.stop(time.Now(), last)
			return
		case now := <-t.C:
			sink.update(now, stages())
		}
	}
}

// stageWatch shows the stages a YARN client reads from the JobManager as it
// follows a job, and keeps the last ones for the job's result. Its zero
// value (a STREAMING job) does nothing.
type stageWatch struct {
	sink stageSink
	last []appmaster.StageResult
}

// newStageWatch returns the stageWatch of a BATCH job (batch), nil else.
func newStageWatch(batch bool, log zerolog.Logger) *stageWatch {
	if !batch {
		return &stageWatch{}
	}
	return &stageWatch{sink: newStageSink(isTerminal(os.Stderr), os.Stderr, log, stageLogInterval)}
}

// see shows stages (nil: nothing new).
func (w *stageWatch) see(stages []appmaster.StageResult) {
	if w.sink == nil || stages == nil {
		return
	}
	w.last = stages
	w.sink.update(time.Now(), stages)
}

// end stops the display and sets r's stages to the last ones seen.
func (w *stageWatch) end(r *client.Result) {
	if w.sink == nil {
		return
	}
	w.sink.stop(time.Now(), w.last)
	w.sink = nil
	if r != nil && r.Stages == nil {
		r.Stages = w.last
	}
}

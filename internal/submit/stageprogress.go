package submit

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
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

// followStages prints stage lines to w until ctx ends, polling stages.
func followStages(ctx context.Context, w io.Writer, stages func() []appmaster.StageResult, poll, interval time.Duration) {
	p := newStageProgress(interval)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, l := range p.lines(now, stages()) {
				fmt.Fprintln(w, l)
			}
		}
	}
}

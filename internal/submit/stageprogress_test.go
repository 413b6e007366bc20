package submit

import (
	"strings"
	"testing"
	"time"

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

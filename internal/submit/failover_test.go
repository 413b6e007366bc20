package submit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"floe/checkpoint"
	"floe/internal/fsys"
	"floe/internal/hadoop/hadooppb"
)

func report(attempt int32) *hadooppb.ApplicationReportProto {
	if attempt == 0 {
		return &hadooppb.ApplicationReportProto{}
	}
	return &hadooppb.ApplicationReportProto{CurrentApplicationAttemptId: &hadooppb.ApplicationAttemptIdProto{AttemptId: &attempt}}
}

// The first attempt seen is no failover; every newer one is, once.
func TestAttemptWatch(t *testing.T) {
	var w attemptWatch
	steps := []struct {
		attempt int32
		want    bool
	}{{0, false}, {1, false}, {1, false}, {2, true}, {2, false}, {1, false}, {3, true}}
	for i, s := range steps {
		if _, got := w.next(report(s.attempt)); got != s.want {
			t.Errorf("step %d (attempt %d): failed over %v, want %v", i, s.attempt, got, s.want)
		}
	}
	var late attemptWatch // a client that first sees attempt 2
	if _, got := late.next(report(2)); got {
		t.Error("the first report seen was taken for a failover")
	}
}

func TestRecoveryPoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if got := recoveryPoint(ctx, dir, "", "j1"); got != "its start (no checkpoint)" {
		t.Errorf("no checkpoint yet: %q", got)
	}
	if got := recoveryPoint(ctx, "", "hdfs://nn/sp/savepoint-1", "j1"); !strings.Contains(got, "hdfs://nn/sp/savepoint-1") {
		t.Errorf("started from a savepoint: %q", got)
	}
	store, _, err := fsys.Resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{3, 4} {
		m := &checkpoint.Metadata{ID: id, JobID: "j1", Timestamp: time.Now(), Kind: checkpoint.KindCheckpoint}
		if err := checkpoint.StoreMetadata(ctx, store, checkpoint.CheckpointDir(filepath.Join(dir, "j1"), id), m); err != nil {
			t.Fatal(err)
		}
	}
	if got := recoveryPoint(ctx, dir, "", "j1"); got != "checkpoint 4" {
		t.Errorf("with checkpoints 3 and 4: %q, want checkpoint 4", got)
	}
	if got, want := failoverLine(2, "application_1_0001", "j1", "checkpoint 4"),
		"JobManager failed over: attempt 2 of application_1_0001 is recovering job j1 from checkpoint 4"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

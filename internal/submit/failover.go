package submit

import (
	"context"
	"errors"
	"fmt"

	"floe/checkpoint"
	"floe/internal/fsys"
	"floe/internal/hadoop/hadooppb"
)

// attemptWatch notices, in the application reports follow reads from the
// ResourceManager, that YARN started a new ApplicationMaster attempt: the
// JobManager failed over. It does no I/O.
type attemptWatch struct{ last int32 }

// next returns the report's current attempt and whether it is newer than
// the one seen before (the first attempt seen is not a failover).
func (w *attemptWatch) next(rep *hadooppb.ApplicationReportProto) (int32, bool) {
	a := rep.GetCurrentApplicationAttemptId().GetAttemptId()
	if a <= w.last {
		return a, false
	}
	failedOver := w.last > 0
	w.last = a
	return a, failedOver
}

// failoverLine is what follow says when the JobManager failed over; from
// says where the new attempt restores the job from.
func failoverLine(attempt int32, app, jobID, from string) string {
	return fmt.Sprintf("JobManager failed over: attempt %d of %s is recovering job %s from %s", attempt, app, jobID, from)
}

// recoveryPoint says where a new attempt restores job jobID from: the latest
// usable checkpoint in its checkpoint directory (what appmaster restores, as
// a restart does), else the savepoint it started from, else its start.
func recoveryPoint(ctx context.Context, checkpointDir, savepoint, jobID string) string {
	start := "its start (no checkpoint)"
	if savepoint != "" {
		start = "the savepoint it started from, " + savepoint
	}
	if checkpointDir == "" {
		return start
	}
	store, root, err := fsys.Resolve(checkpoint.JobDir(checkpointDir, jobID))
	if err != nil {
		return "its latest checkpoint"
	}
	m, _, _, err := checkpoint.LatestUsable(ctx, store, root)
	switch {
	case err == nil:
		return fmt.Sprintf("checkpoint %d", m.ID)
	case errors.Is(err, checkpoint.ErrNoCheckpoint):
		return start
	default:
		return "its latest checkpoint"
	}
}

package container

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc/floepb"
)

// splitRequester asks the JobManager that deployed a task for its source's
// next input split (operator.SplitRequester). Requests are numbered, so a
// retry after a lost answer gets the same split, not a second one.
type splitRequester struct {
	jm     *jmLink
	task   *floepb.TaskRef
	host   string // the TaskManager's host, for locality
	splits int    // the task's own count of its source's splits
	seq    int64
}

func newSplitRequester(t *task) *splitRequester {
	host, _, err := net.SplitHostPort(t.tm.Address())
	if err != nil {
		host = ""
	}
	return &splitRequester{jm: t.jm, task: t.ref(), host: host, splits: t.vertex.Splits.N}
}

// splitRetries is how often a request is sent before the task fails.
const splitRetries = 5

func (r *splitRequester) NextSplit(ctx context.Context, finished []int, lastCheckpoint int64) (int, bool, error) {
	r.seq++
	req := &floepb.SplitRequest{Task: r.task, Seq: r.seq, Host: r.host, LastCheckpoint: lastCheckpoint, Splits: int32(r.splits)}
	for _, k := range finished {
		req.Finished = append(req.Finished, int32(k))
	}
	var err error
	for range splitRetries {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var resp *floepb.SplitResponse
		resp, err = r.jm.client.NextSplit(cctx, req)
		cancel()
		if err == nil {
			return int(resp.GetSplit()), !resp.GetNone(), nil
		}
		if c := status.Code(err); ctx.Err() != nil || r.jm.ctx.Err() != nil || c == codes.FailedPrecondition || c == codes.InvalidArgument {
			break // cancelled, moved to another JobManager, or refused: no retry helps
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return 0, false, fmt.Errorf("ask the JobManager at %s for a split: %w", r.jm.addr, err)
}

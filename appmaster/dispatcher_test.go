package appmaster

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/config"
	"floe/internal/jobgraph"
	"floe/internal/rpc/floepb"
)

// A JobManager with jobs but no TaskManager: nothing is deployed, so no RPC
// goroutine starts.
func idleJobManager(ids ...string) *JobManager {
	jm := &JobManager{tms: map[string]*tmInfo{}, jobs: map[string]*jobEntry{}, rpcCtx: context.Background()}
	for i, id := range ids {
		e := newExecution(id, testGraph(), now.Add(time.Duration(i)*time.Second))
		jm.jobs[id] = &jobEntry{exec: e, done: make(chan struct{})}
	}
	return jm
}

func TestDispatcherResolvesIDs(t *testing.T) {
	a, b := "abcdef0100000000", "abcdef0200000000"
	d := NewDispatcher(idleJobManager(a, b), InScope("session"))
	ctx := context.Background()
	for _, tc := range []struct {
		id   string
		want string
		code codes.Code
	}{
		{id: a, want: a},
		{id: "abcdef02", want: b},
		{id: "abcdef0", code: codes.InvalidArgument}, // too short
		{id: "abcdef0000", code: codes.NotFound},
	} {
		ji, err := d.GetJob(ctx, &floepb.JobRef{JobId: tc.id})
		if status.Code(err) != tc.code || ji.GetJobId() != tc.want {
			t.Errorf("GetJob(%q) = %q, %v; want %q, %v", tc.id, ji.GetJobId(), err, tc.want, tc.code)
		}
	}
	_, e1 := d.GetJob(ctx, &floepb.JobRef{JobId: "abcdef00"})
	if status.Code(e1) != codes.NotFound || !strings.Contains(e1.Error(), "in this session") {
		t.Errorf("unknown id: %v", e1)
	}
	// Two jobs start with "abcdef01": refused, naming both, by every RPC.
	d = NewDispatcher(idleJobManager(a, "abcdef01ffffffff"))
	_, e2 := d.CancelJob(ctx, &floepb.JobRef{JobId: "abcdef01"})
	_, e3 := d.TriggerSavepoint(ctx, &floepb.SavepointRequest{JobId: "abcdef01"})
	for _, err := range []error{e2, e3} {
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), "abcdef01ffffffff") {
			t.Errorf("ambiguous prefix: %v", err)
		}
	}
}

// A session's accepted jobs are listed with the JobManager's: the
// JobManager's status wins for a job both know, the session's start time and
// container reuse are kept, and a job only the session knows can be read but
// not cancelled.
func TestDispatcherMergesAcceptedJobs(t *testing.T) {
	jm := idleJobManager("running0", "older000")
	accepted := func() []*floepb.JobInfo {
		return []*floepb.JobInfo{
			{JobId: "running0", Name: "t", Status: string(Created), StartTimeMs: 5, ReusedContainers: true},
			{JobId: "placing0", Name: "p", Status: string(Created), StartTimeMs: now.Add(time.Hour).UnixMilli()},
		}
	}
	d := NewDispatcher(jm, InScope("session"), WithAccepted(accepted))
	ctx := context.Background()
	resp, err := d.ListJobs(ctx, &floepb.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, j := range resp.GetJobs() {
		order = append(order, j.GetJobId())
	}
	if strings.Join(order, " ") != "placing0 older000 running0" { // newest first
		t.Fatalf("jobs listed %v", order)
	}
	r := resp.GetJobs()[2]
	if r.GetStatus() != string(Created) || r.GetStartTimeMs() != 5 || !r.GetReusedContainers() {
		t.Fatalf("merged job %v", r)
	}

	ji, err := d.CancelJob(ctx, &floepb.JobRef{JobId: "running0"})
	if err != nil || ji.GetStatus() != string(Canceled) {
		t.Fatalf("cancel: %v, %v", ji, err)
	}
	if _, err := d.CancelJob(ctx, &floepb.JobRef{JobId: "placing0"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cancel of a job the JobManager does not have: %v", err)
	}
	if ji, err := d.GetJob(ctx, &floepb.JobRef{JobId: "placing0"}); err != nil || ji.GetName() != "p" {
		t.Fatalf("get accepted job: %v, %v", ji, err)
	}
}

// GetJob carries a BATCH job's stages, as the JobManager's handle has them.
func TestDispatcherGetJobStages(t *testing.T) {
	id := "abcdef0300000000"
	g := testGraph()
	g.Config = config.New(map[string]string{jobgraph.RuntimeModeKey: "BATCH"})
	e := newExecution(id, g, now)
	e.subtasks[0][1].spilled = [2]int64{3, 4096}
	jm := &JobManager{tms: map[string]*tmInfo{}, jobs: map[string]*jobEntry{id: {exec: e, done: make(chan struct{})}}, rpcCtx: context.Background()}
	ji, err := NewDispatcher(jm).GetJob(context.Background(), &floepb.JobRef{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := jm.Job(id)
	want := h.Stages()
	if len(want) != 2 || want[0].SpilledBytes != 4096 || want[1].Subtasks != 2 {
		t.Fatalf("handle's stages %+v: want src (spilled 4096 bytes) and sink, 2 subtasks each", want)
	}
	if got := StagesOf(ji); !reflect.DeepEqual(got, want) {
		t.Errorf("GetJob's stages %+v, want %+v", got, want)
	}
	ji, _ = NewDispatcher(idleJobManager(id)).GetJob(context.Background(), &floepb.JobRef{JobId: id})
	if s := StagesOf(ji); s != nil {
		t.Errorf("a STREAMING job has stages %+v", s)
	}
}

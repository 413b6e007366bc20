package yarn

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

var testAttempt = AttemptID{App: ApplicationID{ClusterTimestamp: 1700, ID: 1}, Attempt: 1}

func container(id int64, host string, prio int32) *hadooppb.ContainerProto {
	return &hadooppb.ContainerProto{
		Id:       ContainerID{Attempt: testAttempt, ID: id}.Proto(),
		NodeId:   &hadooppb.NodeIdProto{Host: proto.String(host), Port: proto.Int32(4545)},
		Resource: Resource{MemoryMB: 256, VCores: 1}.Proto(),
		Priority: &hadooppb.PriorityProto{Priority: proto.Int32(prio)},
	}
}

func completed(id int64, exit int32) *hadooppb.ContainerStatusProto {
	return &hadooppb.ContainerStatusProto{
		ContainerId: ContainerID{Attempt: testAttempt, ID: id}.Proto(),
		State:       hadooppb.ContainerStateProto_C_COMPLETE.Enum(), ExitStatus: proto.Int32(exit),
	}
}

// asks renders a request's asks as "prio/name=count" and releases as "-id".
func asks(req *hadooppb.AllocateRequestProto) string {
	var parts []string
	for _, a := range req.GetAsk() {
		s := fmt.Sprintf("%d/%s=%d", a.GetPriority().GetPriority(), a.GetResourceName(), a.GetNumContainers())
		if !a.GetRelaxLocality() {
			s += "!"
		}
		parts = append(parts, s)
	}
	for _, r := range req.GetRelease() {
		parts = append(parts, fmt.Sprintf("-%d", r.GetId()))
	}
	return fmt.Sprintf("rid=%d %s", req.GetResponseId(), strings.Join(parts, " "))
}

func TestAllocatorScript(t *testing.T) {
	a := NewAllocator()
	r := ContainerRequest{Resource: Resource{MemoryMB: 256, VCores: 1}, Priority: 1}
	for i := range 2 {
		r.Tag = i
		if err := a.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		resp     *hadooppb.AllocateResponseProto // answer to the request built before it
		wantReq  string
		check    func(Update)
		noHandle bool // the allocate call failed
	}{
		{wantReq: "rid=0 1/*=2", resp: &hadooppb.AllocateResponseProto{ResponseId: proto.Int32(1)}},
		{wantReq: "rid=1 ", resp: &hadooppb.AllocateResponseProto{ResponseId: proto.Int32(2),
			AllocatedContainers: []*hadooppb.ContainerProto{container(2, "h1", 1)}},
			check: func(u Update) {
				if len(u.Allocated) != 1 || u.Allocated[0].Request.Tag != 0 || u.Allocated[0].Node() != "h1:4545" {
					t.Fatalf("allocated %v", u.Allocated)
				}
			}},
		{wantReq: "rid=2 1/*=1", noHandle: true},
		{wantReq: "rid=2 1/*=1", resp: &hadooppb.AllocateResponseProto{ResponseId: proto.Int32(3),
			AllocatedContainers: []*hadooppb.ContainerProto{container(3, "h2", 1), container(4, "h2", 1)}},
			check: func(u Update) {
				if len(u.Allocated) != 1 || len(u.Excess) != 1 || u.Excess[0].GetId().GetId() != 4 {
					t.Fatalf("allocated %v excess %v", u.Allocated, u.Excess)
				}
			}},
		{wantReq: "rid=3 1/*=0 -4", resp: &hadooppb.AllocateResponseProto{ResponseId: proto.Int32(4),
			CompletedContainerStatuses: []*hadooppb.ContainerStatusProto{completed(2, 0)}},
			check: func(u Update) {
				if len(u.Completed) != 1 {
					t.Fatalf("completed %v", u.Completed)
				}
			}},
		{wantReq: "rid=4 ", resp: &hadooppb.AllocateResponseProto{ResponseId: proto.Int32(5),
			CompletedContainerStatuses: []*hadooppb.ContainerStatusProto{completed(3, 0)}}},
	}
	for i, s := range steps {
		req := a.BuildRequest(0.5)
		if got := asks(req); got != s.wantReq {
			t.Fatalf("step %d: request %q, want %q", i, got, s.wantReq)
		}
		if s.noHandle {
			continue
		}
		u := a.HandleResponse(s.resp)
		if s.check != nil {
			s.check(u)
		}
	}
	if a.Pending() != 0 || len(a.Running()) != 0 {
		t.Fatalf("pending %d running %v", a.Pending(), a.Running())
	}
}

func TestAllocatorLocality(t *testing.T) {
	a := NewAllocator()
	res := Resource{MemoryMB: 128, VCores: 1}
	if err := a.Add(ContainerRequest{Resource: res, Priority: 2, Nodes: []string{"h1", "h1"}, Racks: []string{"/r1"}, Strict: true, Tag: "local"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(ContainerRequest{Resource: res, Priority: 2, Tag: "loose"}); !errors.Is(err, ErrRequest) {
		t.Fatalf("strict and relaxed at one priority: %v", err)
	}
	if err := a.Add(ContainerRequest{Resource: res, Priority: 3, Tag: "any"}); err != nil {
		t.Fatal(err)
	}
	if got := asks(a.BuildRequest(0)); got != "rid=0 2/*=1! 2//r1=1! 2/h1=1 3/*=1" {
		t.Fatalf("request %q", got)
	}
	u := a.HandleResponse(&hadooppb.AllocateResponseProto{ResponseId: proto.Int32(1),
		AllocatedContainers: []*hadooppb.ContainerProto{container(7, "h9", 3), container(8, "h1", 2)}})
	if len(u.Allocated) != 2 || u.Allocated[0].Request.Tag != "any" || u.Allocated[1].Request.Tag != "local" {
		t.Fatalf("matched %v", u.Allocated)
	}
	if got := asks(a.BuildRequest(0)); got != "rid=1 2/*=0! 2//r1=0! 2/h1=0 3/*=0" {
		t.Fatalf("request %q", got)
	}
	if err := a.Add(ContainerRequest{Resource: Resource{MemoryMB: 512, VCores: 1}, Priority: 2}); err != nil {
		t.Fatalf("a new size once the priority has nothing pending: %v", err)
	}
	if err := a.Add(ContainerRequest{Resource: res, Priority: 2}); !errors.Is(err, ErrRequest) {
		t.Fatalf("two sizes at one priority: %v", err)
	}
	if err := a.Add(ContainerRequest{Priority: 3}); !errors.Is(err, ErrRequest) {
		t.Fatalf("empty resource: %v", err)
	}
}

func TestAllocatorResyncTokensShutdown(t *testing.T) {
	a := NewAllocator()
	_ = a.Add(ContainerRequest{Resource: Resource{MemoryMB: 64, VCores: 1}, Priority: 0})
	a.BuildRequest(0)
	u := a.HandleResponse(&hadooppb.AllocateResponseProto{ResponseId: proto.Int32(9),
		NmTokens: []*hadooppb.NMTokenProto{{NodeId: &hadooppb.NodeIdProto{Host: proto.String("h"), Port: proto.Int32(1)},
			Token: &hadooppb.TokenProto{Identifier: []byte("i"), Password: []byte("p"), Kind: proto.String("NMToken"), Service: proto.String("h:1")}}},
		AmRmToken: &hadooppb.TokenProto{Identifier: []byte("new"), Password: []byte("pw"), Kind: proto.String("YARN_AM_RM_TOKEN"), Service: proto.String("")},
	})
	if u.NMTokens["h:1"] == nil || string(u.AMRMToken.Identifier) != "new" {
		t.Fatalf("tokens %v %v", u.NMTokens, u.AMRMToken)
	}
	if got := asks(a.BuildRequest(0)); got != "rid=9 " {
		t.Fatalf("request %q", got)
	}
	u = a.HandleResponse(&hadooppb.AllocateResponseProto{AMCommand: hadooppb.AMCommandProto_AM_RESYNC.Enum()})
	if !u.Resync {
		t.Fatal("no resync")
	}
	if got := asks(a.BuildRequest(0)); got != "rid=0 0/*=1" {
		t.Fatalf("after resync %q: must resend everything from response id 0", got)
	}
	u = a.HandleResponse(&hadooppb.AllocateResponseProto{ResponseId: proto.Int32(1), AMCommand: hadooppb.AMCommandProto_AM_SHUTDOWN.Enum()})
	if !u.Shutdown {
		t.Fatal("no shutdown")
	}
	a.CancelPending(-1)
	if a.Pending() != 0 || asks(a.BuildRequest(0)) != "rid=1 0/*=0" {
		t.Fatalf("cancel: pending %d", a.Pending())
	}
}

// TestAllocatorResyncReleases: after Resync (a ResourceManager failover) the
// next request starts from response id 0 and carries every outstanding ask
// and every release the RM has not reported completed, confirmed or not;
// running containers stay.
func TestAllocatorResyncReleases(t *testing.T) {
	a := NewAllocator()
	r := ContainerRequest{Resource: Resource{MemoryMB: 64, VCores: 1}, Priority: 1}
	for range 3 {
		_ = a.Add(r)
	}
	a.BuildRequest(0)
	a.HandleResponse(&hadooppb.AllocateResponseProto{ResponseId: proto.Int32(1),
		AllocatedContainers: []*hadooppb.ContainerProto{container(2, "h", 1), container(3, "h", 1)}})
	a.Release(ContainerIDFromProto(container(3, "h", 1).GetId()))
	if got := asks(a.BuildRequest(0)); got != "rid=1 1/*=1 -3" {
		t.Fatalf("request %q", got)
	}
	a.HandleResponse(&hadooppb.AllocateResponseProto{ResponseId: proto.Int32(2)})
	if got := asks(a.BuildRequest(0)); got != "rid=2 " {
		t.Fatalf("release confirmed, request %q", got)
	}
	a.HandleResponse(&hadooppb.AllocateResponseProto{ResponseId: proto.Int32(3)})

	a.Resync()
	if got := asks(a.BuildRequest(0)); got != "rid=0 1/*=1 -3" {
		t.Fatalf("after resync %q: want the ask in full and the release again from response id 0", got)
	}
	if run := a.Running(); len(run) != 1 || run[0].ID != 2 {
		t.Fatalf("running after resync %v", run)
	}
	a.HandleResponse(&hadooppb.AllocateResponseProto{ResponseId: proto.Int32(1),
		CompletedContainerStatuses: []*hadooppb.ContainerStatusProto{completed(3, -100)}})
	a.Resync()
	if got := asks(a.BuildRequest(0)); got != "rid=0 1/*=1" {
		t.Fatalf("released container completed, after resync %q", got)
	}
}

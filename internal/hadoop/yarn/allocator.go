package yarn

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/token"
)

// AnyResource is the resource name that asks for a container anywhere.
const AnyResource = "*"

// ContainerRequest asks for one container.
type ContainerRequest struct {
	Resource Resource
	// Priority groups requests; all requests at one priority must ask for
	// the same Resource (the RM normalizes sizes, so allocated containers
	// are matched to requests by priority and node alone).
	Priority int32
	// Nodes and Racks, when given, are where the container should run.
	Nodes []string
	Racks []string
	// Strict forbids YARN to place the container off Nodes/Racks. Strict
	// node locality needs the nodes' racks listed too.
	Strict bool
	// Tag is the caller's, handed back with the allocated container.
	Tag any
}

// Allocated is a container the RM granted, with the request it filled.
type Allocated struct {
	Container *hadooppb.ContainerProto
	Request   ContainerRequest
}

// ID returns the container's id.
func (a Allocated) ID() ContainerID { return ContainerIDFromProto(a.Container.GetId()) }

// Node returns the container's node id (host:port of its NodeManager).
func (a Allocated) Node() string { return NodeID(a.Container.GetNodeId()) }

// Update is what one allocate response means for the AM.
type Update struct {
	Allocated []Allocated
	// Excess are containers no pending request wanted; the allocator has
	// queued them for release.
	Excess    []*hadooppb.ContainerProto
	Completed []*hadooppb.ContainerStatusProto
	// NMTokens are new NodeManager tokens by node id.
	NMTokens map[string]*token.Token
	// AMRMToken is set when the RM rolled the AMRMToken over.
	AMRMToken *token.Token
	// Resync means the RM lost the AM's state (it restarted): the AM must
	// register again; the allocator has reset its response id and will
	// resend every outstanding request.
	Resync bool
	// Reregistered means the heartbeat found the RM without this attempt's
	// registration (an RM failover or restart) and registered again.
	Reregistered bool
	// Shutdown means the RM wants the AM to exit.
	Shutdown     bool
	Headroom     Resource
	ClusterNodes int32
}

type askKey struct {
	priority int32
	name     string
}

type pendingReq struct {
	req   ContainerRequest
	names []string // table entries it counts in
}

// Allocator is the AM-side bookkeeping of YARN's allocate protocol, a
// state machine without I/O: BuildRequest makes the next
// AllocateRequestProto, HandleResponse digests the answer. Outstanding
// requests are kept as YARN wants them, a table of absolute counts per
// (priority, resource name), of which only changed entries are sent.
//
// Not safe for concurrent use: one owner (the AM's heartbeat loop) drives
// it.
type Allocator struct {
	responseID int32

	pending    map[int32][]*pendingReq
	capability map[int32]Resource
	table      map[askKey]int32
	relax      map[askKey]bool

	version int64
	changed map[askKey]int64 // entry -> version of its last change
	sent    map[askKey]int64 // what the last built request carried
	release map[ContainerID]int64
	relSent map[ContainerID]int64
	// released are containers given back and not yet reported completed: a
	// ResourceManager that takes over recovers them from the NodeManagers,
	// so Resync releases them again.
	released map[ContainerID]bool

	running map[ContainerID]*hadooppb.ContainerProto
}

// NewAllocator returns an empty allocator.
func NewAllocator() *Allocator {
	return &Allocator{
		pending: map[int32][]*pendingReq{}, capability: map[int32]Resource{},
		table: map[askKey]int32{}, relax: map[askKey]bool{},
		changed: map[askKey]int64{}, release: map[ContainerID]int64{}, released: map[ContainerID]bool{},
		running: map[ContainerID]*hadooppb.ContainerProto{},
	}
}

// Add queues a container request.
func (a *Allocator) Add(r ContainerRequest) error {
	if r.Resource.MemoryMB <= 0 || r.Resource.VCores <= 0 {
		return fmt.Errorf("resource %+v: %w", r.Resource, ErrRequest)
	}
	if c, ok := a.capability[r.Priority]; ok && c != r.Resource && len(a.pending[r.Priority]) > 0 {
		return fmt.Errorf("priority %d already asks for %+v, not %+v: %w", r.Priority, c, r.Resource, ErrRequest)
	}
	nodes, racks := dedupe(r.Nodes), dedupe(r.Racks)
	anyRelax := !r.Strict || len(nodes)+len(racks) == 0
	conflict := func(k askKey, relax bool) bool { return a.table[k] > 0 && a.relax[k] != relax }
	for _, n := range racks {
		if conflict(askKey{r.Priority, n}, !r.Strict) {
			return fmt.Errorf("rack %s at priority %d asked for with and without strict locality: %w", n, r.Priority, ErrRequest)
		}
	}
	if conflict(askKey{r.Priority, AnyResource}, anyRelax) {
		return fmt.Errorf("priority %d mixes strict and relaxed locality: %w", r.Priority, ErrRequest)
	}
	a.capability[r.Priority] = r.Resource
	p := &pendingReq{req: r}
	for _, n := range nodes {
		p.names = append(p.names, n)
		a.bump(askKey{r.Priority, n}, 1, true)
	}
	for _, n := range racks {
		p.names = append(p.names, n)
		a.bump(askKey{r.Priority, n}, 1, !r.Strict)
	}
	p.names = append(p.names, AnyResource)
	a.bump(askKey{r.Priority, AnyResource}, 1, anyRelax)
	a.pending[r.Priority] = append(a.pending[r.Priority], p)
	return nil
}

// Pending returns how many requests wait for a container.
func (a *Allocator) Pending() int {
	n := 0
	for _, ps := range a.pending {
		n += len(ps)
	}
	return n
}

// Running returns the ids of containers allocated and not yet completed or
// released, sorted.
func (a *Allocator) Running() []ContainerID {
	out := make([]ContainerID, 0, len(a.running))
	for id := range a.running {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// CancelPending drops every pending request at priority (or all, for a
// negative priority): the next request asks for zero.
func (a *Allocator) CancelPending(priority int32) {
	for p, ps := range a.pending {
		if priority >= 0 && p != priority {
			continue
		}
		for _, pr := range ps {
			a.unpend(pr)
		}
		delete(a.pending, p)
	}
}

// Release gives a container back to the RM with the next request.
func (a *Allocator) Release(id ContainerID) {
	delete(a.running, id)
	a.version++
	a.release[id] = a.version
	a.released[id] = true
}

// Resync prepares the allocator for a ResourceManager that does not know
// this attempt's registration (after an RM failover or restart, allocate
// fails with ApplicationMasterNotRegisteredException, or the RM answers
// AM_RESYNC): the response id starts again at 0, and the next request
// carries every outstanding ask in full and every release not yet reported
// completed. Running containers stay: the new RM recovers them from the
// NodeManagers.
func (a *Allocator) Resync() {
	a.responseID = 0
	for k := range a.table {
		a.version++
		a.changed[k] = a.version
	}
	for id := range a.released {
		a.version++
		a.release[id] = a.version
	}
}

// AddRunning records containers the AM already holds, such as those
// reported from a previous attempt at registration.
func (a *Allocator) AddRunning(cs ...*hadooppb.ContainerProto) {
	for _, c := range cs {
		a.running[ContainerIDFromProto(c.GetId())] = c
	}
}

func (a *Allocator) bump(k askKey, delta int32, relax bool) {
	a.table[k] += delta
	if a.table[k] < 0 {
		a.table[k] = 0
	}
	a.relax[k] = relax
	a.version++
	a.changed[k] = a.version
}

func (a *Allocator) unpend(p *pendingReq) {
	for _, n := range p.names {
		k := askKey{p.req.Priority, n}
		a.bump(k, -1, a.relax[k])
	}
}

// BuildRequest returns the next AllocateRequestProto: the response id of
// the last response, changed ask entries with their current totals, and
// queued releases. Until HandleResponse confirms them, they are sent again
// with the next request, so a failed allocate call loses nothing.
func (a *Allocator) BuildRequest(progress float32) *hadooppb.AllocateRequestProto {
	req := &hadooppb.AllocateRequestProto{ResponseId: proto.Int32(a.responseID), Progress: proto.Float32(progress)}
	a.sent = make(map[askKey]int64, len(a.changed))
	keys := make([]askKey, 0, len(a.changed))
	for k, v := range a.changed {
		a.sent[k] = v
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].priority != keys[j].priority {
			return keys[i].priority < keys[j].priority
		}
		return keys[i].name < keys[j].name
	})
	for _, k := range keys {
		req.Ask = append(req.Ask, &hadooppb.ResourceRequestProto{
			Priority:      &hadooppb.PriorityProto{Priority: proto.Int32(k.priority)},
			ResourceName:  proto.String(k.name),
			Capability:    a.capability[k.priority].Proto(),
			NumContainers: proto.Int32(a.table[k]),
			RelaxLocality: proto.Bool(a.relax[k]),
		})
	}
	a.relSent = make(map[ContainerID]int64, len(a.release))
	rel := make([]ContainerID, 0, len(a.release))
	for id, v := range a.release {
		a.relSent[id] = v
		rel = append(rel, id)
	}
	sort.Slice(rel, func(i, j int) bool { return rel[i].ID < rel[j].ID })
	for _, id := range rel {
		req.Release = append(req.Release, id.Proto())
	}
	return req
}

// HandleResponse digests an allocate response to the last built request.
func (a *Allocator) HandleResponse(resp *hadooppb.AllocateResponseProto) Update {
	u := Update{
		Headroom:     ResourceFromProto(resp.GetLimit()),
		ClusterNodes: resp.GetNumClusterNodes(),
		AMRMToken:    token.FromProto(resp.GetAmRmToken()),
	}
	// What the request carried is now with the RM.
	for k, v := range a.sent {
		if a.changed[k] == v {
			delete(a.changed, k)
		}
	}
	for id, v := range a.relSent {
		if a.release[id] == v {
			delete(a.release, id)
		}
	}
	a.sent, a.relSent = nil, nil

	// An unset enum reads as its first value, AM_RESYNC: check presence.
	switch {
	case resp.AMCommand == nil:
	case resp.GetAMCommand() == hadooppb.AMCommandProto_AM_RESYNC:
		u.Resync = true
		a.Resync()
		return u
	case resp.GetAMCommand() == hadooppb.AMCommandProto_AM_SHUTDOWN:
		u.Shutdown = true
	}
	a.responseID = resp.GetResponseId()

	for _, c := range resp.GetAllocatedContainers() {
		id := ContainerIDFromProto(c.GetId())
		if _, dup := a.running[id]; dup {
			continue
		}
		p := a.match(c)
		if p == nil {
			u.Excess = append(u.Excess, c)
			a.Release(id)
			continue
		}
		a.running[id] = c
		u.Allocated = append(u.Allocated, Allocated{Container: c, Request: p.req})
	}
	for _, s := range resp.GetCompletedContainerStatuses() {
		delete(a.running, ContainerIDFromProto(s.GetContainerId()))
		delete(a.released, ContainerIDFromProto(s.GetContainerId()))
		u.Completed = append(u.Completed, s)
	}
	for _, t := range resp.GetNmTokens() {
		if u.NMTokens == nil {
			u.NMTokens = map[string]*token.Token{}
		}
		u.NMTokens[NodeID(t.GetNodeId())] = token.FromProto(t.GetToken())
	}
	return u
}

// match takes the pending request a container fills: at its priority, one
// that names its host, else one that may run anywhere, else the oldest.
func (a *Allocator) match(c *hadooppb.ContainerProto) *pendingReq {
	prio := c.GetPriority().GetPriority()
	ps := a.pending[prio]
	if len(ps) == 0 {
		return nil
	}
	host := c.GetNodeId().GetHost()
	pick := -1
	for i, p := range ps {
		for _, n := range p.req.Nodes {
			if n == host {
				pick = i
				break
			}
		}
		if pick >= 0 {
			break
		}
	}
	if pick < 0 {
		for i, p := range ps {
			if len(p.req.Nodes)+len(p.req.Racks) == 0 {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		pick = 0
	}
	p := ps[pick]
	a.pending[prio] = append(ps[:pick:pick], ps[pick+1:]...)
	if len(a.pending[prio]) == 0 {
		delete(a.pending, prio)
	}
	a.unpend(p)
	return p
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if v != "" && v != AnyResource && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

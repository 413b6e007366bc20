package appmaster

import (
	"context"
	"fmt"
	"net"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/checkpoint"
	"floe/internal/jobgraph"
	"floe/internal/rpc/floepb"
)

// File sources take their input splits on demand (Flink's FLIP-27 model):
// the JobManager holds each source vertex's unassigned splits in a
// splitEnumerator and a subtask asks for the next one (NextSplit) whenever
// it has none, so a fast subtask reads more. A split whose data is on the
// asking subtask's host goes first.
//
// Recovery: a BATCH stage that runs again gets all its splits back; a
// STREAMING job restarting from scratch too. A STREAMING job restoring a
// checkpoint gets the splits that were unassigned at it: the enumerator's
// part is taken when the checkpoint is triggered and kept with the
// checkpoint's _metadata (checkpoint.SplitsState), the subtasks' part (the
// splits they held, with positions) is their list state. A split handed out
// after the enumerator's snapshot to a subtask that had not yet snapshotted
// that checkpoint is in the subtask's part, so it leaves the enumerator's.

// splitState is where one split is.
type splitState uint8

const (
	splitUnassigned splitState = iota
	splitAssigned
	splitDone
)

// splitEnumerator is one source vertex's splits for the current run. It is
// a state machine of the execution, with no I/O.
type splitEnumerator struct {
	hosts [][]string // per split, when known
	state []splitState
	// any is the unassigned splits in order, byHost per host; both are
	// queues consumed from the front that skip splits no longer unassigned.
	any    []int
	byHost map[string][]int
	// assigned and done count the splits in those states.
	assigned, done int
	// per subtask: its attempt's last request and answer (a retry with the
	// same seq gets the same answer)
	last map[int]splitAnswer
	// snaps are the unassigned splits at each pending checkpoint, taken
	// when it was triggered.
	snaps map[int64]map[int]bool
}

type splitAnswer struct {
	attempt int
	seq     int64
	split   int
	none    bool
}

func newSplitEnumerator(in *jobgraph.InputSplits) *splitEnumerator {
	s := &splitEnumerator{hosts: in.Hosts, state: make([]splitState, in.N)}
	s.reset(nil)
	return s
}

// reset makes unassigned every split (all: nil), the others done: a new
// run, or a restored checkpoint's enumerator state.
func (s *splitEnumerator) reset(unassigned []int) {
	if unassigned == nil {
		unassigned = make([]int, len(s.state))
		for i := range unassigned {
			unassigned[i] = i
		}
	}
	for i := range s.state {
		s.state[i] = splitDone
	}
	s.any, s.byHost = nil, map[string][]int{}
	for _, k := range unassigned {
		s.state[k] = splitUnassigned
		s.any = append(s.any, k)
		if k < len(s.hosts) {
			for _, h := range s.hosts[k] {
				s.byHost[h] = append(s.byHost[h], k)
			}
		}
	}
	s.assigned, s.done = 0, len(s.state)-len(unassigned)
	s.last = map[int]splitAnswer{}
	s.snaps = map[int64]map[int]bool{}
}

// next hands subtask (on host) a split: one whose data is on host if any is
// left, else the first unassigned; ok is false when none is left.
// lastCheckpoint is the newest checkpoint the subtask has snapshotted.
func (s *splitEnumerator) next(host string, lastCheckpoint int64) (split int, ok bool) {
	k := -1
	if q := s.byHost[host]; host != "" {
		for len(q) > 0 && s.state[q[0]] != splitUnassigned {
			q = q[1:]
		}
		if len(q) > 0 {
			k = q[0]
		}
		s.byHost[host] = q
	}
	if k < 0 {
		for len(s.any) > 0 && s.state[s.any[0]] != splitUnassigned {
			s.any = s.any[1:]
		}
		if len(s.any) == 0 {
			return 0, false
		}
		k = s.any[0]
	}
	s.state[k] = splitAssigned
	s.assigned++
	for id, snap := range s.snaps {
		if id > lastCheckpoint { // the subtask's snapshot of id will hold k
			delete(snap, k)
		}
	}
	return k, true
}

// finish records splits a subtask finished.
func (s *splitEnumerator) finish(splits []int32) {
	for _, k := range splits {
		if k >= 0 && int(k) < len(s.state) && s.state[k] == splitAssigned {
			s.state[k] = splitDone
			s.assigned--
			s.done++
		}
	}
}

// snapshot takes the enumerator's part of checkpoint id.
func (s *splitEnumerator) snapshot(id int64) {
	snap := map[int]bool{}
	for k, st := range s.state {
		if st == splitUnassigned {
			snap[k] = true
		}
	}
	s.snaps[id] = snap
}

// take returns, and forgets, the enumerator's part of checkpoint id (nil
// when it was not taken).
func (s *splitEnumerator) take(id int64) *checkpoint.SplitsState {
	snap, ok := s.snaps[id]
	if !ok {
		return nil
	}
	delete(s.snaps, id)
	st := &checkpoint.SplitsState{Total: len(s.state), Unassigned: []int{}}
	for k := range snap {
		st.Unassigned = append(st.Unassigned, k)
	}
	slices.Sort(st.Unassigned)
	return st
}

// newSplits makes the enumerators of g's file sources.
func newSplits(g *jobgraph.JobGraph) map[int]*splitEnumerator {
	m := map[int]*splitEnumerator{}
	for _, v := range g.Vertices {
		if v.Splits != nil {
			m[v.ID] = newSplitEnumerator(v.Splits)
		}
	}
	return m
}

// nextSplit answers a subtask's request for a split.
func (e *execution) nextSplit(req *floepb.SplitRequest) (*floepb.SplitResponse, error) {
	st := e.find(req.GetTask())
	if st == nil || e.status != Running || (st.state != floepb.TaskState_RUNNING && st.state != floepb.TaskState_DEPLOYING) {
		return nil, status.Errorf(codes.FailedPrecondition, "job %s: no running attempt %d of subtask %d of vertex %d",
			e.id, req.GetTask().GetAttempt(), req.GetTask().GetSubtask(), req.GetTask().GetVertex())
	}
	en := e.splits[st.vertex]
	if en == nil {
		return nil, status.Errorf(codes.InvalidArgument, "vertex %d has no input splits", st.vertex)
	}
	if int(req.GetSplits()) != len(en.state) {
		return nil, status.Errorf(codes.InvalidArgument, "the subtask planned %d splits of its input, the JobManager %d (did the files change?)",
			req.GetSplits(), len(en.state))
	}
	if a, ok := en.last[st.subtask]; ok && a.attempt == st.attempt && a.seq == req.GetSeq() {
		return &floepb.SplitResponse{Split: int32(a.split), None: a.none}, nil // a retry
	}
	en.finish(req.GetFinished())
	host := req.GetHost()
	if host == "" {
		host, _, _ = net.SplitHostPort(st.slot.addr)
	}
	k, ok := en.next(host, req.GetLastCheckpoint())
	en.last[st.subtask] = splitAnswer{attempt: st.attempt, seq: req.GetSeq(), split: k, none: !ok}
	return &floepb.SplitResponse{Split: int32(k), None: !ok}, nil
}

// resetSplits gives the vertices' enumerators all their splits back (all
// vertices: nil).
func (e *execution) resetSplits(vertices []int) {
	for id, en := range e.splits {
		if vertices == nil || slices.Contains(vertices, id) {
			en.reset(nil)
		}
	}
}

// snapshotSplits takes every enumerator's part of checkpoint id.
func (e *execution) snapshotSplits(id int64) {
	for _, en := range e.splits {
		en.snapshot(id)
	}
}

// dropSplitSnapshots forgets the enumerators' parts of checkpoint id.
func (e *execution) dropSplitSnapshots(id int64) {
	for _, en := range e.splits {
		delete(en.snaps, id)
	}
}

// addSplits puts the enumerators' parts of checkpoint id into its
// _metadata, on each source's first operator.
func (e *execution) addSplits(id int64, m *checkpoint.Metadata) *checkpoint.Metadata {
	if len(e.splits) == 0 {
		return m
	}
	mm := *m
	mm.Operators = slices.Clone(m.Operators)
	for vid, en := range e.splits {
		sp := en.take(id)
		if sp == nil {
			continue
		}
		uid := e.graph.Vertices[vid].Operators[0].UID
		if op, ok := mm.Operator(uid); ok {
			op.Splits = sp
		}
	}
	return &mm
}

// restoreSplits sets the enumerators to a checkpoint's unassigned splits.
// A source the checkpoint does not know starts from all its splits; one it
// knows without an enumerator state (written before splits were handed out
// on demand) cannot be restored.
func (e *execution) restoreSplits(m *checkpoint.Metadata) error {
	for vid, en := range e.splits {
		v := e.graph.Vertices[vid]
		op, ok := m.Operator(v.Operators[0].UID)
		switch {
		case !ok:
			en.reset(nil)
		case op.Splits == nil && op.HasState():
			return NotRecoverable(fmt.Errorf("restore %s %d: source %q has positions but no enumerator state (a checkpoint of a floe before on-demand splits)", m.Kind, m.ID, v.Name))
		case op.Splits == nil:
			en.reset(nil)
		case op.Splits.Total != len(en.state):
			return NotRecoverable(fmt.Errorf("restore %s %d: source %q has %d splits now, %d when checkpointed (did the files change?)", m.Kind, m.ID, v.Name, len(en.state), op.Splits.Total))
		default:
			en.reset(op.Splits.Unassigned)
		}
	}
	return nil
}

// splitProgress returns vertex v's splits, how many are handed out and
// unfinished, and how many are done (0, 0, 0 without splits).
func (e *execution) splitProgress(v int) (total, assigned, done int) {
	en := e.splits[v]
	if en == nil {
		return 0, 0, 0
	}
	return len(en.state), en.assigned, en.done
}

func (s jmService) NextSplit(_ context.Context, req *floepb.SplitRequest) (*floepb.SplitResponse, error) {
	jm := s.jm
	jm.mu.Lock()
	defer jm.mu.Unlock()
	e, ok := jm.jobs[req.GetTask().GetJobId()]
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "unknown job %s", req.GetTask().GetJobId())
	}
	resp, err := e.exec.nextSplit(req)
	if err == nil && !resp.GetNone() {
		jm.log.Debug().Str("job", e.exec.id).Int32("vertex", req.GetTask().GetVertex()).Int32("subtask", req.GetTask().GetSubtask()).
			Int32("split", resp.GetSplit()).Str("host", req.GetHost()).Msg("split assigned")
	}
	return resp, err
}

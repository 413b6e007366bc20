package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"floe/checkpoint"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/rpc/floepb"
)

// post runs fn on the task's goroutine: checkpoint triggers and notices
// come this way. A source task's mail goes to its source loop; posting
// under t.mu keeps mail that found no loop yet ahead of the drain that
// starts one.
func (t *task) post(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sc != nil {
		t.sc.Post(fn)
		return
	}
	t.mail.Post(fn)
}

// checkpointDir is where this task writes its files for checkpoint id.
func (t *task) checkpointDir(id int64) (string, error) {
	base := t.graph.Config.String(checkpoint.KeyDir, "")
	if base == "" {
		return "", errors.New("no checkpoint directory configured (" + checkpoint.KeyDir + ")")
	}
	return checkpoint.CheckpointDir(checkpoint.JobDir(base, t.ref().GetJobId()), id), nil
}

// takeCheckpoint snapshots the chain on the task goroutine, sends the
// barrier on, and uploads the snapshot asynchronously. An unaligned
// checkpoint's barrier overtakes the output queues; what it overtook, and
// what the task's inputs record until their barriers come (t.capture), is
// uploaded with the snapshot as the task's channel state.
func (t *task) takeCheckpoint(chain operator.Task, id int64, dir string, unaligned bool) {
	// Barriers leave a task in increasing order: a trigger that arrives after
	// a newer one (the JobManager's RPCs race) is declined, not emitted.
	if id <= t.lastBarrier {
		t.ackCheckpoint(id, nil, fmt.Errorf("%scheckpoint %d superseded by %d", operator.DeclineNotReady, id, t.lastBarrier))
		return
	}
	t.lastBarrier = id
	states, err := chain.SnapshotState(id)
	if err != nil {
		t.ackCheckpoint(id, nil, err)
		return
	}
	chain.EmitBarrier(id, dir, unaligned)
	var capture *channelCapture
	if unaligned {
		capture = &channelCapture{id: id}
		for i, p := range t.parts {
			for sub, msgs := range p.TakeOvertaken() {
				if len(msgs) > 0 {
					capture.states = append(capture.states, network.ChannelState{
						Key: network.ChannelKey{Output: true, Edge: t.partEdges[i], Index: int32(sub)}, Messages: msgs})
				}
			}
		}
		t.capture.fail(fmt.Errorf("checkpoint %d superseded by %d", t.capture.idOr0(), id))
		t.capture = nil
		if t.recordInputs != nil { // a source has no input part
			capture.in = t.recordInputs(id)
			t.capture = capture
		}
	}
	t.uploads.Add(1)
	go func() {
		defer t.uploads.Done()
		handles, err := t.upload(id, dir, states)
		if err == nil && capture != nil {
			err = t.uploadChannels(id, dir, capture, handles)
		}
		t.ackCheckpoint(id, handles, err)
	}()
}

// channelCapture is the channel state of one unaligned checkpoint of a
// task: the output part, taken when its barrier left, and the input part,
// which the gate records until every input received the barrier (nil for
// a source).
type channelCapture struct {
	id     int64
	states []network.ChannelState
	in     *network.InputRecording
}

func (c *channelCapture) idOr0() int64 {
	if c == nil {
		return 0
	}
	return c.id
}

// fail ends the input part's recording without state: its checkpoint is
// declined. A recording already complete stays so.
func (c *channelCapture) fail(err error) {
	if c != nil {
		c.in.Cancel(err)
	}
}

// uploadChannels waits for the input part's recording to end and writes
// the channel state next to the operator states, kept with the chain's
// first operator.
func (t *task) uploadChannels(id int64, dir string, c *channelCapture, handles map[string]checkpoint.SubtaskState) error {
	states := c.states
	if c.in != nil {
		in, err := c.in.Wait()
		if err != nil {
			return fmt.Errorf("checkpoint %d: channel state: %w", id, err)
		}
		states = append(slices.Clip(states), in...)
	}
	var n int
	for _, s := range states {
		n += len(s.Messages)
	}
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	store, _, err := checkpoint.OpenFS(dir)
	if err != nil {
		return err
	}
	uid := t.vertex.Operators[0].UID
	subtask := int(t.ref().GetSubtask())
	name := checkpoint.Join(dir, checkpoint.StateFileName(uid, subtask, "channels"))
	b := network.EncodeChannelState(states)
	if err := writeFile(ctx, store, name, b); err != nil {
		return fmt.Errorf("checkpoint %d: channel state: %w", id, err)
	}
	ss := handles[uid]
	ss.Subtask = subtask
	ss.Channels = &checkpoint.ChannelStateHandle{Path: name, Size: int64(len(b))}
	handles[uid] = ss
	t.log.Debug().Int64("checkpoint", id).Int("messages", n).Int("bytes", len(b)).Msg("channel state written")
	return nil
}

// unalignedFor reports whether checkpoint id, written to dir, is taken
// unaligned at once: unaligned checkpoints are on without a timeout, and
// it is a checkpoint (savepoints are always aligned, as in Flink).
func (t *task) unalignedFor(id int64, dir string) bool {
	return t.unaligned && t.alignTimeout == 0 && checkpoint.IsCheckpointDir(dir, id)
}

// upload writes each operator's state under dir and describes it for _metadata.
func (t *task) upload(id int64, dir string, states map[string]operator.OperatorState) (map[string]checkpoint.SubtaskState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	defer func() {
		for uid, st := range states {
			if st.Release != nil {
				if err := st.Release(); err != nil {
					t.log.Warn().Err(err).Int64("checkpoint", id).Str("operator", uid).Msg("releasing a state view failed")
				}
			}
		}
	}()
	store, _, err := checkpoint.OpenFS(dir)
	if err != nil {
		return nil, err
	}
	subtask := int(t.ref().GetSubtask())
	out := map[string]checkpoint.SubtaskState{}
	for uid, st := range states {
		if st.Empty() {
			continue
		}
		ss := checkpoint.SubtaskState{Subtask: subtask}
		if st.UploadIncremental != nil && checkpoint.IsCheckpointDir(dir, id) {
			// The store's new files, off the task's goroutine; savepoints stay full.
			h, err := st.UploadIncremental(ctx, store, checkpoint.Join(dir, "..", checkpoint.SharedDirName), dir, uid)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d: %s: %w", id, uid, err)
			}
			ss.Incremental = []checkpoint.IncrementalHandle{h}
			st.EncodeKeyGroups, st.KeyGroups = nil, nil
		}
		if st.EncodeKeyGroups != nil { // encoded here, off the task's goroutine
			blocks, err := st.EncodeKeyGroups()
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d: %s: %w", id, uid, err)
			}
			st.KeyGroups = blocks
		}
		if len(st.KeyGroups) > 0 {
			name := checkpoint.StateFileName(uid, subtask, "keyed")
			var buf bytes.Buffer
			offsets := []int64{0}
			for _, blk := range st.KeyGroups {
				buf.Write(blk)
				offsets = append(offsets, int64(buf.Len()))
			}
			// Handles name files by URI (dir is one), so every process opens them on the same filesystem.
			if err := writeFile(ctx, store, checkpoint.Join(dir, name), buf.Bytes()); err != nil {
				return nil, fmt.Errorf("checkpoint %d: %s: %w", id, uid, err)
			}
			ss.Keyed = append(ss.Keyed, checkpoint.KeyedHandle{Path: checkpoint.Join(dir, name), Size: int64(buf.Len()),
				Start: st.KeyGroupStart, Offsets: offsets})
		}
		if len(st.List) > 0 {
			dist := checkpoint.Split
			if st.Union {
				dist = checkpoint.Union
			}
			ls := checkpoint.ListState{Name: "state", Distribution: dist}
			for _, e := range st.List {
				ls.Entries = append(ls.Entries, checkpoint.ListEntry{Inline: e})
			}
			ss.Lists = append(ss.Lists, ls)
		}
		out[uid] = ss
	}
	return out, nil
}

func writeFile(ctx context.Context, store checkpoint.FS, name string, data []byte) error {
	w, err := store.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func (t *task) ackCheckpoint(id int64, handles map[string]checkpoint.SubtaskState, err error) {
	ack := &floepb.CheckpointAck{Task: t.ref(), Id: id, AlignmentMs: t.m.takeAlignment(id)}
	if err != nil {
		ack.Error = err.Error()
		t.log.Warn().Err(err).Int64("checkpoint", id).Msg("declining checkpoint")
	} else {
		b, _ := json.Marshal(handles)
		ack.StateJson = string(b)
	}
	ctx, cancel := context.WithTimeout(t.jm.ctx, 30*time.Second)
	defer cancel()
	if _, err := t.jm.client.AcknowledgeCheckpoint(ctx, ack); err != nil {
		t.log.Warn().Err(err).Int64("checkpoint", id).Msg("acknowledging checkpoint failed")
	}
}

// restorePlan is the state the deployment carries, by operator uid.
func (t *task) restorePlan() (map[string]checkpoint.SubtaskState, error) {
	js := t.dep.GetRestoreJson()
	if js == "" {
		return nil, nil
	}
	var plan map[string]checkpoint.SubtaskState
	if err := json.Unmarshal([]byte(js), &plan); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return plan, nil
}

// restoreChannels reads the channel state the deployment carries: the
// output part goes into the partitions at once, ahead of anything the
// task sends; the input part waits in t.recovered for the input loop.
func (t *task) restoreChannels() error {
	plan, err := t.restorePlan()
	if err != nil {
		return err
	}
	for uid, ss := range plan {
		if ss.Channels == nil {
			continue
		}
		states, err := readChannelState(*ss.Channels)
		if err != nil {
			return fmt.Errorf("restore %s: %w", uid, err)
		}
		for _, s := range states {
			if !s.Key.Output {
				t.recovered = append(t.recovered, s)
				continue
			}
			i := slices.Index(t.partEdges, s.Key.Edge)
			if i < 0 {
				return fmt.Errorf("restore %s: channel state of %s: the task has no such output", uid, s.Key)
			}
			if err := t.parts[i].Recover(int(s.Key.Index), s.Messages); err != nil {
				return fmt.Errorf("restore %s: %w", uid, err)
			}
		}
	}
	return nil
}

func readChannelState(h checkpoint.ChannelStateHandle) ([]network.ChannelState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	store, p, err := checkpoint.OpenFS(h.Path)
	if err != nil {
		return nil, err
	}
	r, err := store.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, h.Size+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Path, err)
	}
	if int64(len(data)) != h.Size {
		return nil, fmt.Errorf("%s: %d bytes, _metadata says %d", h.Path, len(data), h.Size)
	}
	states, err := network.DecodeChannelState(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Path, err)
	}
	return states, nil
}

// restore loads the state the deployment carries into the chain.
func (t *task) restore(chain operator.Task) error {
	plan, err := t.restorePlan()
	if err != nil || plan == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	states := map[string]operator.OperatorState{}
	for uid, ss := range plan {
		ss.Channels = nil // restoreChannels' part
		if ss.Empty() {
			continue
		}
		var st operator.OperatorState
		if len(ss.Keyed) > 0 {
			// Handles of several old subtasks cover disjoint ranges: lay
			// their blocks out by key group from the lowest start.
			lo, hi := ss.Keyed[0].Start, ss.Keyed[0].End()
			for _, h := range ss.Keyed {
				lo, hi = min(lo, h.Start), max(hi, h.End())
			}
			st.KeyGroupStart, st.KeyGroups = lo, make([][]byte, hi-lo)
			for _, h := range ss.Keyed {
				blocks, err := readKeyGroups(ctx, h)
				if err != nil {
					return fmt.Errorf("restore %s: %w", uid, err)
				}
				copy(st.KeyGroups[h.Start-lo:], blocks)
			}
		}
		st.Incremental = ss.Incremental
		for _, ls := range ss.Lists {
			st.Union = ls.Distribution == checkpoint.Union
			for _, e := range ls.Entries {
				st.List = append(st.List, e.Inline)
			}
		}
		states[uid] = st
	}
	return chain.RestoreState(states)
}

func readKeyGroups(ctx context.Context, h checkpoint.KeyedHandle) ([][]byte, error) {
	store, p, err := checkpoint.OpenFS(h.Path)
	if err != nil {
		return nil, err
	}
	r, err := store.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, h.Size+1))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, h.End()-h.Start)
	for g := h.Start; g < h.End(); g++ {
		off, n, ok := h.Group(g)
		if !ok || off+n > int64(len(data)) {
			return nil, fmt.Errorf("%s: key group %d out of the file's %d bytes", h.Path, g, len(data))
		}
		out[g-h.Start] = data[off : off+n]
	}
	return out, nil
}

package container

import (
	"bufio"
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
	// Emitting the barrier may panic (an output released by a cancel): the
	// views taken hold their stores open until the upload releases them.
	handedOver := false
	defer func() {
		if !handedOver {
			t.releaseStates(id, states)
		}
	}()
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
	handedOver = true
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

// releaseStates ends the views of a snapshot (a pebble store stays open
// while one holds it).
func (t *task) releaseStates(id int64, states map[string]operator.OperatorState) {
	for uid, st := range states {
		if st.Release != nil {
			if err := st.Release(); err != nil {
				t.log.Warn().Err(err).Int64("checkpoint", id).Str("operator", uid).Msg("releasing a state view failed")
			}
		}
	}
}

// upload writes each operator's state under dir and describes it for _metadata.
func (t *task) upload(id int64, dir string, states map[string]operator.OperatorState) (map[string]checkpoint.SubtaskState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	defer t.releaseStates(id, states)
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
			st.WriteKeyGroups, st.KeyGroups = nil, nil
		}
		if st.WriteKeyGroups == nil && len(st.KeyGroups) > 0 {
			blocks := st.KeyGroups
			st.WriteKeyGroups = func(emit func([]byte) error) error {
				for _, blk := range blocks {
					if err := emit(blk); err != nil {
						return err
					}
				}
				return nil
			}
		}
		if st.WriteKeyGroups != nil { // written as encoded, off the task's goroutine
			// Handles name files by URI (dir is one), so every process opens them on the same filesystem.
			name := checkpoint.StateFileName(uid, subtask, "keyed")
			h, err := writeKeyGroups(ctx, store, checkpoint.Join(dir, name), st.KeyGroupStart, st.WriteKeyGroups)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d: %s: %w", id, uid, err)
			}
			ss.Keyed = append(ss.Keyed, h)
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

// writeKeyGroups writes the blocks write emits into the file path, block
// after block, and describes it.
func writeKeyGroups(ctx context.Context, store checkpoint.FS, path string, start int, write func(func([]byte) error) error) (checkpoint.KeyedHandle, error) {
	h := checkpoint.KeyedHandle{Path: path, Start: start, Offsets: []int64{0}}
	w, err := store.Create(ctx, path)
	if err != nil {
		return h, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var n int64
	err = write(func(blk []byte) error {
		if _, err := bw.Write(blk); err != nil {
			return err
		}
		n += int64(len(blk))
		h.Offsets = append(h.Offsets, n)
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	h.Size = n
	return h, err
}

// writeFile writes data as the file name of store (channel state).
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
			// Handles of several old subtasks cover disjoint ranges: read
			// each one's key groups in turn, one block in memory at a time.
			keyed := ss.Keyed
			st.KeyGroupStart = keyed[0].Start
			for _, h := range keyed {
				st.KeyGroupStart = min(st.KeyGroupStart, h.Start)
			}
			st.ReadKeyGroups = func(fn func(int, []byte) error) error {
				for _, h := range keyed {
					if err := readKeyGroups(ctx, h, fn); err != nil {
						return fmt.Errorf("restore %s: %w", uid, err)
					}
				}
				return nil
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

// readKeyGroups hands fn the block of each of h's key groups in order,
// reading the file front to back (blocks lie in key-group order).
func readKeyGroups(ctx context.Context, h checkpoint.KeyedHandle, fn func(int, []byte) error) error {
	store, p, err := checkpoint.OpenFS(h.Path)
	if err != nil {
		return err
	}
	r, err := store.Open(ctx, p)
	if err != nil {
		return err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	var pos int64
	for g := h.Start; g < h.End(); g++ {
		off, n, ok := h.Group(g)
		if !ok || off < pos {
			return fmt.Errorf("%s: key group %d: bad offsets", h.Path, g)
		}
		if _, err := io.CopyN(io.Discard, br, off-pos); err != nil {
			return fmt.Errorf("%s: key group %d out of the file's bytes: %w", h.Path, g, err)
		}
		blk := make([]byte, n) // fn may keep it (decoded values may share it)
		if _, err := io.ReadFull(br, blk); err != nil {
			return fmt.Errorf("%s: key group %d out of the file's bytes: %w", h.Path, g, err)
		}
		pos = off + n
		if err := fn(g, blk); err != nil {
			return err
		}
	}
	return nil
}

package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"floe/checkpoint"
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
// barrier on, and uploads the snapshot asynchronously.
func (t *task) takeCheckpoint(chain operator.Task, id int64, dir string) {
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
	chain.EmitBarrier(id, dir)
	t.uploads.Add(1)
	go func() {
		defer t.uploads.Done()
		handles, err := t.upload(id, dir, states)
		t.ackCheckpoint(id, handles, err)
	}()
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

// restore loads the state the deployment carries into the chain.
func (t *task) restore(chain operator.Task) error {
	js := t.dep.GetRestoreJson()
	if js == "" {
		return nil
	}
	var plan map[string]checkpoint.SubtaskState
	if err := json.Unmarshal([]byte(js), &plan); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	states := map[string]operator.OperatorState{}
	for uid, ss := range plan {
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

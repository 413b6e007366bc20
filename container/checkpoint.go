package container

import (
	"bufio"
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
	store, _, err := checkpoint.OpenFS(dir)
	if err != nil {
		return nil, err
	}
	subtask := int(t.ref().GetSubtask())
	out := map[string]checkpoint.SubtaskState{}
	defer func() {
		for uid, st := range states {
			if st.Release != nil {
				if err := st.Release(); err != nil {
					t.log.Warn().Err(err).Int64("checkpoint", id).Str("operator", uid).Msg("releasing a state view failed")
				}
			}
		}
	}()
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

package datastream

import (
	"context"
	"fmt"
	"time"

	"floe/checkpoint"
	"floe/config"
	"floe/container/operator"
	"floe/internal/state"
)

// incrementalCheckpoints reads execution.checkpointing.incremental: on
// with the pebble backend only (the heap's checkpoints are always full).
func incrementalCheckpoints(info operator.TaskInfo) (bool, error) {
	on, err := info.Config.Bool(config.IncrementalCheckpoints, false)
	if err != nil {
		return false, err
	}
	return on && info.Config.String(config.StateBackend, "hashmap") == "pebble", nil
}

// snapshotIncremental flushes the store and links its files (the
// synchronous part); the upload sends the new ones, or for a savepoint
// encodes them into full blocks.
func (p *keyedOp[K, U]) snapshotIncremental() (operator.OperatorState, error) {
	view, err := p.ctx.backend.IncrementalView()
	if err != nil {
		return operator.OperatorState{}, fmt.Errorf("%s (subtask %d): %w", p.id.Name, p.id.Subtask, err)
	}
	start, end, subtask := p.start, p.end, p.id.Subtask
	return operator.OperatorState{
		KeyGroupStart: start,
		WriteKeyGroups: func(emit func([]byte) error) error {
			return view.EncodeTo(start, end, func(_ int, blk []byte) error { return emit(blk) })
		},
		UploadIncremental: func(ctx context.Context, store checkpoint.FS, sharedDir, dir, uid string) (checkpoint.IncrementalHandle, error) {
			h, _, err := view.Upload(ctx, state.Target{Store: store, SharedDir: sharedDir, Dir: dir, UID: uid, Subtask: subtask, Start: start, End: end})
			return h, err
		},
		Release: view.Release,
	}, nil
}

// restoreIncremental loads the subtask's key groups from the store files
// of an incremental checkpoint (into either backend).
func (p *keyedOp[K, U]) restoreIncremental(hs []checkpoint.IncrementalHandle) error {
	if len(hs) == 0 {
		return nil
	}
	ctx := p.taskCtx
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := p.ctx.backend.RestoreIncremental(ctx, hs, p.start, p.end, false); err != nil {
		return fmt.Errorf("%s (subtask %d): %w", p.id.Name, p.id.Subtask, err)
	}
	return nil
}

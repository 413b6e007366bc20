package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Incremental checkpoints. A subtask whose keyed state lives in an LSM store
// (pebble) checkpoints the store's files instead of encoding its entries:
// the SST files, immutable once written, go to <job-dir>/shared/ once and
// are referenced by every later checkpoint in which they are still live;
// the few small files that describe the store (MANIFEST, OPTIONS, markers)
// go into the checkpoint's own directory each time. The subtask's
// IncrementalHandle in _metadata lists both.
//
// A shared file is deleted when the last retained checkpoint that
// references it is discarded. The reference counts are not kept anywhere:
// they are derived from the _metadata files of the retained checkpoints
// (SharedRefs) each time a checkpoint is discarded, so a JobManager that
// restarted counts as its predecessor did. Deleting only the files the
// discarded checkpoint references, and none that a retained one does, is
// safe against checkpoints still being uploaded: an SST file that is live
// in a new checkpoint and was live in a discarded one was live in every
// checkpoint between them (files are never revived), so a retained one
// references it too. Files that only aborted checkpoints uploaded stay
// until the job directory goes.
//
// Savepoints are always full and self-contained: Validate refuses a
// savepoint with incremental handles.

// IncrementalHandle is one subtask's keyed state as the files of an LSM
// store holding key groups [Start, End). Tables names the store's tables
// by id: keys of table id i+1 belong to state Tables[i].
type IncrementalHandle struct {
	Backend string      `json:"backend"` // "pebble"
	Start   int         `json:"start"`
	End     int         `json:"end"`
	Tables  []string    `json:"tables"`
	Files   []StoreFile `json:"files"`
}

// StoreFile is one file of a store: Name in the store's directory, Path
// where the checkpoint keeps it (an absolute URI in shared/ when Shared,
// else, in _metadata, relative to the checkpoint's directory).
type StoreFile struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Shared bool   `json:"shared,omitempty"`
}

// Bytes is the total size of h's files.
func (h IncrementalHandle) Bytes() int64 {
	var n int64
	for _, f := range h.Files {
		n += f.Size
	}
	return n
}

// SharedFileName names a store file uploaded to shared/: unique per
// operator, subtask, key groups, store instance (instance: random, chosen
// when the store is created, so that two lineages of a store, before and
// after a restore, never reuse a name) and file.
func SharedFileName(uid string, subtask, start, end int, instance, file string) string {
	return fmt.Sprintf("%s-%d-kg%d-%d-%s-%s", sanitize(uid), subtask, start, end, sanitize(instance), sanitize(file))
}

// IsCheckpointDir reports whether dir is the directory of checkpoint id
// (chk-<id>), not a savepoint's: only checkpoints may be incremental.
func IsCheckpointDir(dir string, id int64) bool {
	return path.Base(strings.TrimSuffix(dir, "/")) == checkpointPrefix+strconv.FormatInt(id, 10)
}

// validateIncremental checks h, a handle of a subtask owning key groups [lo, hi).
func validateIncremental(h IncrementalHandle, lo, hi int) error {
	if h.Backend != "pebble" {
		return fmt.Errorf("incremental state of backend %q, want pebble", h.Backend)
	}
	if h.Start < lo || h.End > hi || h.Start >= h.End {
		return fmt.Errorf("incremental state: key groups %d..%d outside the subtask's %d..%d", h.Start, h.End-1, lo, hi-1)
	}
	seen := map[string]bool{}
	for _, f := range h.Files {
		if f.Name == "" || f.Name != path.Base(f.Name) || f.Name == "." || f.Name == ".." || seen[f.Name] {
			return fmt.Errorf("incremental state: store file name %q empty, repeated or not a plain name", f.Name)
		}
		seen[f.Name] = true
		if err := validPath(f.Path); err != nil {
			return err
		}
		if f.Size < 0 {
			return fmt.Errorf("incremental state: %s has size %d", f.Path, f.Size)
		}
	}
	return nil
}

// SharedFiles returns the shared files m references, resolved against dir
// (the directory of m's _metadata), sorted.
func (m *Metadata) SharedFiles(dir string) []string {
	var out []string
	for _, op := range m.Operators {
		for _, s := range op.Subtasks {
			for _, h := range s.Incremental {
				for _, f := range h.Files {
					if f.Shared {
						out = append(out, resolve(dir, f.Path))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SharedRefs counts, for every shared file, how many of the retained
// checkpoints ids of jobDir reference it, reading their _metadata: the
// reference counts of shared/, derived from what is on storage. A retained
// checkpoint whose _metadata cannot be read is an error (deleting on a
// partial count could remove a file it needs).
func SharedRefs(ctx context.Context, store FS, jobDir string, ids []int64) (map[string]int, error) {
	refs := map[string]int{}
	for _, id := range ids {
		dir := CheckpointDir(jobDir, id)
		m, err := LoadMetadata(ctx, store, dir)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: counting references to shared files: %w", err)
		}
		for _, p := range m.SharedFiles(dir) {
			refs[p]++
		}
	}
	return refs, nil
}

// ReleaseShared deletes the shared files that discarded (the metadata of a
// checkpoint being discarded, read from dir) references and none of the
// retained checkpoints does, and returns them. Files already gone are no
// error.
func ReleaseShared(ctx context.Context, store FS, jobDir string, discarded *Metadata, dir string, retained []int64) ([]string, error) {
	cands := discarded.SharedFiles(dir)
	if len(cands) == 0 {
		return nil, nil
	}
	refs, err := SharedRefs(ctx, store, jobDir, slices.DeleteFunc(slices.Clone(retained), func(id int64) bool { return id == discarded.ID }))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, p := range cands {
		if refs[p] > 0 {
			continue
		}
		if err := store.RemoveAll(ctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("checkpoint: remove shared file %s: %w", p, err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// DiscardRetained discards completed checkpoint dir of jobDir: its shared
// files that no retained checkpoint references go first, then the directory
// (remove; nil: store.RemoveAll). So a crash in between leaves a _metadata
// whose shared files may be gone, which recovery (CheckFiles) passes over,
// never a shared file nobody references. A dir without a readable _metadata
// is just removed.
func DiscardRetained(ctx context.Context, store FS, jobDir, dir string, retained []int64, remove func(context.Context) error) ([]string, error) {
	var removed []string
	m, err := LoadMetadata(ctx, store, dir)
	if err == nil {
		if removed, err = ReleaseShared(ctx, store, jobDir, m, dir, retained); err != nil {
			return removed, err
		}
	}
	if remove == nil {
		remove = func(ctx context.Context) error { return store.RemoveAll(ctx, dir) }
	}
	return removed, remove(ctx)
}

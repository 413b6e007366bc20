package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// LatestUsable returns the newest completed checkpoint of jobDir that can be
// restored: its _metadata decodes, belongs to that chk-<n>, and every file it
// refers to exists with at least the recorded size. Each newer checkpoint
// passed over is named in a warning. With no completed checkpoint at all
// the error wraps ErrNoCheckpoint (a first start); when there are some but
// none is usable it wraps ErrNoUsableCheckpoint and says why for each, so a
// job never restarts from scratch without being told.
//
// An error of the storage itself (not a missing or corrupt file) is
// returned at once: it says nothing about the checkpoint, and falling back
// past a good one would lose progress.
func LatestUsable(ctx context.Context, store FS, jobDir string) (*Metadata, string, []error, error) {
	entries, err := ListCompleted(ctx, store, jobDir)
	if err != nil {
		return nil, "", nil, fmt.Errorf("checkpoint: recovery in %s: %w", jobDir, err)
	}
	if len(entries) == 0 {
		return nil, "", nil, fmt.Errorf("%w in %s", ErrNoCheckpoint, jobDir)
	}
	var warnings []error
	for _, e := range entries {
		m, err := usable(ctx, store, e)
		if err == nil {
			return m, e.Dir, warnings, nil
		}
		if !unusable(err) {
			return nil, "", warnings, fmt.Errorf("checkpoint: recovery: checking %s: %w", e.Dir, err)
		}
		warnings = append(warnings, fmt.Errorf("checkpoint %d at %s is not usable, falling back to an older one: %w", e.ID, e.Dir, err))
	}
	return nil, "", nil, fmt.Errorf("%w in %s: %w", ErrNoUsableCheckpoint, jobDir, errors.Join(warnings...))
}

// unusable tells problems of a checkpoint from problems of the storage.
func unusable(err error) bool {
	for _, e := range []error{ErrCorrupt, ErrUnsupportedVersion, ErrInvalidMetadata, ErrInvalidPath, ErrMissingFile, ErrTooLarge, fs.ErrNotExist} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// CannotRestore reports whether err says that a snapshot cannot be
// restored into the job however often it is tried: its _metadata is
// missing, corrupt or of another version, a file it needs is gone, or it
// does not fit the job (uids, max parallelism, parallelism). Errors of the
// storage itself (a NameNode that does not answer) are not among them.
func CannotRestore(err error) bool {
	if unusable(err) {
		return true
	}
	for _, e := range []error{ErrNoUsableCheckpoint, ErrUnmatchedState, ErrMaxParallelismChanged, ErrParallelism} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func usable(ctx context.Context, store FS, e Entry) (*Metadata, error) {
	m, err := LoadMetadata(ctx, store, e.Dir)
	if err != nil {
		return nil, err
	}
	if m.ID != e.ID {
		return nil, fmt.Errorf("%w: %s holds checkpoint %d", ErrInvalidMetadata, MetadataPath(e.Dir), m.ID)
	}
	if err := CheckFiles(ctx, store, m, e.Dir); err != nil {
		return nil, err
	}
	return m, nil
}

// CheckFiles checks that every file m refers to exists with at least the
// size m needs; dir is the directory of m's _metadata.
func CheckFiles(ctx context.Context, store FS, m *Metadata, dir string) error {
	for _, f := range m.files(dir) {
		st, err := store.Stat(ctx, f.path)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrMissingFile, f.path)
		}
		if err != nil {
			return err
		}
		if st.IsDir || st.Size < f.minSize {
			return fmt.Errorf("%w: %s has %d bytes, the checkpoint needs %d", ErrMissingFile, f.path, st.Size, f.minSize)
		}
	}
	return nil
}

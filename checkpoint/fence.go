package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Fenced commits: a JobManager of an ApplicationMaster attempt that a newer
// attempt has replaced must not complete a checkpoint (nor remove one) once
// the newer attempt has looked at the job's checkpoints. Checking the leader
// file before the commit's rename leaves a window (check, pause, rename);
// these functions close it with the filesystem's atomic rename:
//
//   - attempt a writes a _metadata under jobDir/.attempt-<a>/ first, then
//     checks the fence (no newer attempt published), then renames the file to
//     chk-<n>/_metadata; a discard renames chk-<n> into
//     jobDir/.attempt-<a>/discard/ the same way before removing it;
//   - a newer attempt b, after it has published itself (the fence) and
//     before it lists the checkpoints, claims every jobDir/.attempt-<k>, k < b:
//     it renames the directory away and removes it.
//
// A commit of attempt a that succeeds renamed a file that was still under
// .attempt-<a> (or into it, for a discard): either the claim came later, so
// the newer attempt sees the commit when it lists, or the claim came before
// the file was created there; then the fence check, later still, saw the
// newer attempt and stopped the commit.

// attemptDirPrefix names an attempt's directory in a job's checkpoint
// directory; ListCheckpoints skips it (not chk-<n>).
const attemptDirPrefix = ".attempt-"

// ErrClaimed is wrapped when a commit or discard fails because a newer
// attempt claimed the attempt's directory.
var ErrClaimed = errors.New("checkpoint: a newer ApplicationMaster attempt claimed the checkpoint directory")

// AttemptDir is jobDir/.attempt-<attempt>: where the attempt's commits pass.
func AttemptDir(jobDir string, attempt int32) string {
	return Join(jobDir, attemptDirPrefix+strconv.Itoa(int(attempt)))
}

// ClaimAttempts takes the job's checkpoint directory over for attempt: every
// .attempt-<k> of an older attempt is renamed away (a commit of that attempt
// under way fails from then on) and removed. Call it after the attempt is
// published as the leader and before the checkpoints are listed. It returns
// the older attempts it claimed.
func ClaimAttempts(ctx context.Context, store FS, jobDir string, attempt int32) ([]int32, error) {
	ents, err := store.List(ctx, jobDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: claim %s for attempt %d: %w", jobDir, attempt, err)
	}
	var claimed []int32
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name, attemptDirPrefix)
		if !ok {
			continue
		}
		k, err := strconv.ParseInt(s, 10, 32)
		if err != nil || int32(k) >= attempt {
			continue
		}
		from := Join(jobDir, e.Name)
		to := Join(jobDir, fmt.Sprintf(".claimed-%d-by-%d-%s", k, attempt, randomSuffix()))
		if err := store.Rename(ctx, from, to); err != nil {
			if errors.Is(err, fs.ErrNotExist) { // claimed by another
				continue
			}
			return claimed, fmt.Errorf("checkpoint: claim %s for attempt %d: %w", from, attempt, err)
		}
		claimed = append(claimed, int32(k))
		if err := store.RemoveAll(ctx, to); err != nil {
			return claimed, fmt.Errorf("checkpoint: remove claimed %s: %w", to, err)
		}
	}
	// What a claim of an earlier attempt left behind (it stopped between
	// its rename and its removal).
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ".claimed-") {
			_ = store.RemoveAll(ctx, Join(jobDir, e.Name))
		}
	}
	return claimed, nil
}

// CommitMetadata writes m as dir/_metadata for attempt, fenced: through
// jobDir/.attempt-<attempt>, fence (an error: a newer attempt runs) asked
// between the write and the rename. dir must lie in jobDir on the same
// filesystem. A commit that a newer attempt's claim cut off fails with
// ErrClaimed.
func CommitMetadata(ctx context.Context, store FS, jobDir string, attempt int32, dir string, m *Metadata, fence func(context.Context) error) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	tmp := Join(AttemptDir(jobDir, attempt), path.Base(dir)+"."+MetadataName+"-"+randomSuffix())
	w, err := store.Create(ctx, tmp)
	if err != nil {
		return fmt.Errorf("checkpoint: commit %s: %w", dir, err)
	}
	_, err = w.Write(b)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// The checkpoint's own directory: tasks without state create none.
		err = store.MkdirAll(ctx, dir)
	}
	if err == nil {
		err = fence(ctx)
	}
	if err == nil {
		err = store.Rename(ctx, tmp, MetadataPath(dir))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := store.Stat(ctx, tmp); errors.Is(serr, fs.ErrNotExist) {
				err = fmt.Errorf("%w: %w", ErrClaimed, err)
			}
		}
	}
	if err != nil {
		_ = store.RemoveAll(context.WithoutCancel(ctx), tmp)
		return fmt.Errorf("checkpoint: commit %s by attempt %d: %w", dir, attempt, err)
	}
	return nil
}

// DiscardFenced removes the checkpoint directory dir of jobDir for attempt,
// fenced as CommitMetadata: dir is renamed into
// jobDir/.attempt-<attempt>/discard after fence passed, then removed. A
// missing dir is no error.
func DiscardFenced(ctx context.Context, store FS, jobDir string, attempt int32, dir string, fence func(context.Context) error) error {
	trash := Join(AttemptDir(jobDir, attempt), "discard")
	if err := store.MkdirAll(ctx, trash); err != nil {
		return fmt.Errorf("checkpoint: discard %s: %w", dir, err)
	}
	if err := fence(ctx); err != nil {
		return fmt.Errorf("checkpoint: discard %s by attempt %d: %w", dir, attempt, err)
	}
	to := Join(trash, path.Base(dir)+"-"+randomSuffix())
	if err := store.Rename(ctx, dir, to); err != nil {
		if _, serr := store.Stat(ctx, dir); errors.Is(serr, fs.ErrNotExist) {
			return nil // already gone
		}
		if _, serr := store.Stat(ctx, trash); errors.Is(serr, fs.ErrNotExist) {
			err = fmt.Errorf("%w: %w", ErrClaimed, err)
		}
		return fmt.Errorf("checkpoint: discard %s by attempt %d: %w", dir, attempt, err)
	}
	if err := store.RemoveAll(ctx, to); err != nil {
		return fmt.Errorf("checkpoint: discard %s: %w", dir, err)
	}
	return nil
}

func randomSuffix() string {
	var r [6]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(r[:])
}

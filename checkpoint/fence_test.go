package checkpoint

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"floe/internal/fsys"
)

// stepFS is the old attempt's view of the filesystem: after each of its
// operations it calls step, where the test lets the newer attempt start.
type stepFS struct {
	FS
	step func(op, name string)
}

func (s stepFS) Open(ctx context.Context, name string) (io.ReadSeekCloser, error) {
	f, err := s.FS.Open(ctx, name)
	s.step("open", name)
	return f, err
}

func (s stepFS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	w, err := s.FS.Create(ctx, name)
	s.step("create", name)
	if err != nil {
		return nil, err
	}
	return stepWriter{w, func() { s.step("close", name) }}, nil
}

func (s stepFS) Rename(ctx context.Context, from, to string) error {
	err := s.FS.Rename(ctx, from, to)
	s.step("rename", from)
	return err
}

func (s stepFS) RemoveAll(ctx context.Context, name string) error {
	err := s.FS.RemoveAll(ctx, name)
	s.step("remove", name)
	return err
}

func (s stepFS) MkdirAll(ctx context.Context, name string) error {
	err := s.FS.MkdirAll(ctx, name)
	s.step("mkdir", name)
	return err
}

func (s stepFS) Stat(ctx context.Context, name string) (fsys.FileInfo, error) {
	st, err := s.FS.Stat(ctx, name)
	s.step("stat", name)
	return st, err
}

type stepWriter struct {
	io.WriteCloser
	closed func()
}

func (w stepWriter) Close() error {
	err := w.WriteCloser.Close()
	w.closed()
	return err
}

// leaderFence is attempt's fence: it fails when the leader file (the
// attempt number, as text) names a newer attempt.
func leaderFence(store FS, leader string, attempt int32) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		b, err := ReadFile(ctx, store, leader, 64)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return err
		}
		if int32(n) > attempt {
			return errors.New("superseded")
		}
		return nil
	}
}

// newerAttempt is attempt 2's start as the ApplicationMaster does it:
// publish itself in the leader file, claim the checkpoint directory (when
// claim is set), list the checkpoints it will restore from and number after.
type newerAttempt struct {
	started bool
	seen    []Entry
}

func (n *newerAttempt) start(t *testing.T, store FS, jobDir, leader string, claim bool) {
	t.Helper()
	ctx := context.Background()
	n.started = true
	if err := WriteFileAtomic(ctx, store, leader, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if claim {
		if _, err := ClaimAttempts(ctx, store, jobDir, 2); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := ListCheckpoints(ctx, store, jobDir)
	if err != nil {
		t.Fatal(err)
	}
	n.seen = entries
}

func (n *newerAttempt) completed(id int64) bool {
	return slices.ContainsFunc(n.seen, func(e Entry) bool { return e.ID == id && e.Completed })
}

// interleave runs op (attempt 1's commit or discard through stepFS) once
// for every point between its filesystem operations at which attempt 2 can
// start, and once with attempt 2 starting after it; check judges each run.
// It returns how many runs check failed.
func interleave(t *testing.T, claim bool, setup func(store FS, jobDir string),
	op func(old FS, jobDir string, fence func(context.Context) error) error,
	check func(store FS, jobDir string, n *newerAttempt, opErr error) string) int {
	t.Helper()
	bad := 0
	for at := 0; ; at++ {
		root := t.TempDir()
		store, _, err := OpenFS(root)
		if err != nil {
			t.Fatal(err)
		}
		jobDir, leader := filepath.Join(root, "job"), filepath.Join(root, "jobmanager")
		setup(store, jobDir)
		var n newerAttempt
		steps := 0
		old := stepFS{FS: store, step: func(string, string) {
			steps++
			if steps == at && !n.started {
				n.start(t, store, jobDir, leader, claim)
			}
		}}
		if at == 0 {
			n.start(t, store, jobDir, leader, claim)
		}
		opErr := op(old, jobDir, leaderFence(old, leader, 1))
		last := !n.started
		if last {
			n.start(t, store, jobDir, leader, claim)
		}
		if msg := check(store, jobDir, &n, opErr); msg != "" {
			t.Logf("attempt 2 starting after %d of attempt 1's %d operations: %s", at, steps, msg)
			bad++
		}
		if last {
			return bad
		}
	}
}

func pendingCheckpoint(t *testing.T) func(store FS, jobDir string) {
	return func(store FS, jobDir string) {
		writeCheckpoint(t, store, jobDir, 1)
		if err := store.MkdirAll(context.Background(), CheckpointDir(jobDir, 2)); err != nil {
			t.Fatal(err)
		}
	}
}

// commitCheck: a _metadata of attempt 1 that exists in the end was there
// when attempt 2 listed the checkpoints.
func commitCheck(store FS, jobDir string, n *newerAttempt, _ error) string {
	_, err := store.Stat(context.Background(), MetadataPath(CheckpointDir(jobDir, 2)))
	if err == nil && !n.completed(2) {
		return "attempt 1 committed checkpoint 2 after attempt 2 listed the checkpoints"
	}
	return ""
}

func TestCommitMetadataFencedAtEveryInterleaving(t *testing.T) {
	committed := 0
	bad := interleave(t, true, pendingCheckpoint(t), func(old FS, jobDir string, fence func(context.Context) error) error {
		return CommitMetadata(context.Background(), old, jobDir, 1, CheckpointDir(jobDir, 2), &Metadata{ID: 2, JobID: "job", Kind: KindCheckpoint}, fence)
	}, func(store FS, jobDir string, n *newerAttempt, opErr error) string {
		if opErr == nil {
			committed++
		}
		return commitCheck(store, jobDir, n, opErr)
	})
	if bad > 0 {
		t.Fatalf("%d interleavings let the old attempt commit after the newer one started", bad)
	}
	if committed == 0 {
		t.Fatal("the old attempt never committed, not even before the newer one started")
	}
}

// The check alone, then the rename (the commit before fenced commits):
// some interleaving lets the old attempt commit after the newer one
// listed, so the test above can fail.
func TestCheckThenRenameLeavesAGap(t *testing.T) {
	bad := interleave(t, false, pendingCheckpoint(t), func(old FS, jobDir string, fence func(context.Context) error) error {
		if err := fence(context.Background()); err != nil {
			return err
		}
		return StoreMetadata(context.Background(), old, CheckpointDir(jobDir, 2), &Metadata{ID: 2, JobID: "job", Kind: KindCheckpoint})
	}, commitCheck)
	if bad == 0 {
		t.Fatal("no interleaving showed the gap between the check and the rename")
	}
}

func twoCompleted(t *testing.T) func(store FS, jobDir string) {
	return func(store FS, jobDir string) {
		writeCheckpoint(t, store, jobDir, 1)
		writeCheckpoint(t, store, jobDir, 2)
	}
}

// discardCheck: every checkpoint attempt 2 listed is still there.
func discardCheck(store FS, jobDir string, n *newerAttempt, _ error) string {
	for _, e := range n.seen {
		if _, err := store.Stat(context.Background(), e.Dir); err != nil {
			return "attempt 1 removed " + e.Dir + " after attempt 2 listed it"
		}
	}
	return ""
}

func TestDiscardFencedAtEveryInterleaving(t *testing.T) {
	removed := 0
	bad := interleave(t, true, twoCompleted(t), func(old FS, jobDir string, fence func(context.Context) error) error {
		return DiscardFenced(context.Background(), old, jobDir, 1, CheckpointDir(jobDir, 1), fence)
	}, func(store FS, jobDir string, n *newerAttempt, opErr error) string {
		if _, err := store.Stat(context.Background(), CheckpointDir(jobDir, 1)); errors.Is(err, fs.ErrNotExist) {
			removed++
		}
		return discardCheck(store, jobDir, n, opErr)
	})
	if bad > 0 {
		t.Fatalf("%d interleavings let the old attempt remove a checkpoint the newer one listed", bad)
	}
	if removed == 0 {
		t.Fatal("the old attempt never discarded, not even before the newer one started")
	}
}

func TestCheckThenRemoveLeavesAGap(t *testing.T) {
	bad := interleave(t, false, twoCompleted(t), func(old FS, jobDir string, fence func(context.Context) error) error {
		if err := fence(context.Background()); err != nil {
			return err
		}
		return old.RemoveAll(context.Background(), CheckpointDir(jobDir, 1))
	}, discardCheck)
	if bad == 0 {
		t.Fatal("no interleaving showed the gap between the check and the removal")
	}
}

// The newer attempt commits and discards through its own directory after
// its claim; the claim leaves newer attempts' directories alone, and
// checkpoints are listed as before.
func TestClaimAttempts(t *testing.T) {
	ctx := context.Background()
	store, root, err := OpenFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jobDir := filepath.Join(root, "job")
	if got, err := ClaimAttempts(ctx, store, jobDir, 2); err != nil || len(got) != 0 {
		t.Fatalf("claim of a missing directory: %v, %v", got, err)
	}
	writeCheckpoint(t, store, jobDir, 1)
	for _, a := range []int32{1, 3, 5} {
		if err := store.MkdirAll(ctx, AttemptDir(jobDir, a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.MkdirAll(ctx, filepath.Join(jobDir, ".claimed-1-by-2-abc")); err != nil {
		t.Fatal(err)
	}
	got, err := ClaimAttempts(ctx, store, jobDir, 4)
	if err != nil || !slices.Equal(got, []int32{1, 3}) {
		t.Fatalf("claimed %v, %v; want [1 3]", got, err)
	}
	ents, err := store.List(ctx, jobDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if want := []string{".attempt-5", "chk-1"}; !slices.Equal(names, want) {
		t.Fatalf("job directory holds %v after the claim, want %v", names, want)
	}
	// Attempt 1's commit fails now, with ErrClaimed when it had written its
	// file before the claim.
	m := &Metadata{ID: 2, JobID: "job", Kind: KindCheckpoint}
	pass := func(context.Context) error { return nil }
	if err := CommitMetadata(ctx, store, jobDir, 4, CheckpointDir(jobDir, 2), m, pass); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadMetadata(ctx, store, CheckpointDir(jobDir, 2)); err != nil || got.ID != 2 {
		t.Fatalf("attempt 4's commit: %v, %v", got, err)
	}
	claimAt := func(context.Context) error { _, err := ClaimAttempts(ctx, store, jobDir, 5); return err }
	m3 := &Metadata{ID: 3, JobID: "job", Kind: KindCheckpoint}
	if err := store.MkdirAll(ctx, CheckpointDir(jobDir, 3)); err != nil {
		t.Fatal(err)
	}
	if err := CommitMetadata(ctx, store, jobDir, 4, CheckpointDir(jobDir, 3), m3, claimAt); !errors.Is(err, ErrClaimed) {
		t.Fatalf("a commit claimed between its check and its rename: %v, want ErrClaimed", err)
	}
	if err := DiscardFenced(ctx, store, jobDir, 4, CheckpointDir(jobDir, 1), func(context.Context) error {
		_, err := ClaimAttempts(ctx, store, jobDir, 6)
		return err
	}); !errors.Is(err, ErrClaimed) {
		t.Fatalf("a discard claimed between its check and its rename: %v, want ErrClaimed", err)
	}
	entries, err := ListCheckpoints(ctx, store, jobDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || !entries[1].Completed || entries[0].Completed || !entries[2].Completed {
		t.Fatalf("checkpoints after the fenced commits: %+v; want 3 (incomplete), 2 and 1", entries)
	}
	if err := DiscardFenced(ctx, store, jobDir, 6, CheckpointDir(jobDir, 1), pass); err != nil {
		t.Fatal(err)
	}
	if err := DiscardFenced(ctx, store, jobDir, 6, CheckpointDir(jobDir, 1), pass); err != nil {
		t.Fatalf("discarding a missing directory: %v", err)
	}
	if _, err := store.Stat(ctx, CheckpointDir(jobDir, 1)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("checkpoint 1 after attempt 6 discarded it: %v", err)
	}
}

package checkpoint

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// incrementalMetadata is a checkpoint of one keyed operator at parallelism
// 2 whose subtasks' state is store files: shared SST files, by absolute URI,
// and private files in the checkpoint's directory.
func incrementalMetadata(id int64, jobDir string, shared ...[]string) *Metadata {
	m := &Metadata{ID: id, JobID: "j", Kind: KindCheckpoint, Timestamp: time.Unix(1, 0).UTC(),
		Operators: []OperatorState{{UID: "op", Parallelism: 2, MaxParallelism: 8}}}
	for i, files := range shared {
		h := IncrementalHandle{Backend: "pebble", Start: 4 * i, End: 4*i + 4, Tables: []string{"v", "_timers"},
			Files: []StoreFile{{Name: "MANIFEST-000001", Path: StateFileName("op", i, "lsm-MANIFEST-000001"), Size: 0}}}
		for _, f := range files {
			h.Files = append(h.Files, StoreFile{Name: f + ".sst", Path: Join(SharedDir(jobDir), f), Size: 0, Shared: true})
		}
		m.Operators[0].Subtasks = append(m.Operators[0].Subtasks, SubtaskState{Subtask: i, Incremental: []IncrementalHandle{h}})
	}
	return m
}

func TestIncrementalMetadataRoundTripAndReassign(t *testing.T) {
	m := incrementalMetadata(3, "file:///c/job", []string{"a", "b"}, []string{"c"})
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, m)
	}
	if want := []string{"file:///c/job/shared/a", "file:///c/job/shared/b", "file:///c/job/shared/c"}; !slices.Equal(m.SharedFiles("/d"), want) {
		t.Fatalf("shared files %v, want %v", m.SharedFiles("/d"), want)
	}
	// At parallelism 3 (key groups 0-2, 3-5, 6-7) the middle subtask
	// overlaps both old ones and gets both handles, whole.
	subs, err := Reassign(&m.Operators[0], 3)
	if err != nil {
		t.Fatal(err)
	}
	var n []int
	for _, s := range subs {
		n = append(n, len(s.Incremental))
	}
	if !slices.Equal(n, []int{1, 2, 1}) || subs[1].Incremental[1].Start != 4 {
		t.Fatalf("handles per new subtask %v", n)
	}
	sp := m.clone()
	sp.Kind = KindSavepoint
	if err := sp.Validate(); err == nil {
		t.Fatal("a savepoint referencing shared files passed validation")
	}
}

// ReleaseShared deletes the discarded checkpoint's shared files that no
// retained one references, counting from the retained _metadata on storage.
func TestReleaseSharedCountsFromStorage(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, _, _ := OpenFS(root)
	jobDir := JobDir("file://"+root, "job")
	for _, f := range []string{"a", "b", "c", "d"} {
		if err := WriteFileAtomic(ctx, store, Join(SharedDir(jobDir), f), nil); err != nil {
			t.Fatal(err)
		}
	}
	metas := map[int64]*Metadata{
		1: incrementalMetadata(1, jobDir, []string{"a", "b"}, []string{"c"}),
		2: incrementalMetadata(2, jobDir, []string{"b"}, []string{"c", "d"}),
		3: incrementalMetadata(3, jobDir, []string{"b"}, []string{"d"}),
	}
	for id, m := range metas {
		if err := StoreMetadata(ctx, store, CheckpointDir(jobDir, id), m); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := SharedRefs(ctx, store, jobDir, []int64{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if refs[Join(SharedDir(jobDir), "b")] != 2 || refs[Join(SharedDir(jobDir), "c")] != 1 || refs[Join(SharedDir(jobDir), "a")] != 0 {
		t.Fatalf("refs %v", refs)
	}
	removed, err := DiscardRetained(ctx, store, jobDir, CheckpointDir(jobDir, 1), []int64{2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{Join(SharedDir(jobDir), "a")}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	left, _ := os.ReadDir(filepath.Join(root, "job", SharedDirName))
	if len(left) != 3 {
		t.Fatalf("%d shared files left, want 3", len(left))
	}
	if _, err := os.Stat(filepath.Join(root, "job", "chk-1")); !os.IsNotExist(err) {
		t.Fatalf("chk-1 not removed: %v", err)
	}
	// A retained checkpoint whose _metadata is unreadable: nothing is deleted.
	os.WriteFile(filepath.Join(root, "job", "chk-3", MetadataName), []byte("garbage"), 0o644)
	if removed, err := DiscardRetained(ctx, store, jobDir, CheckpointDir(jobDir, 2), []int64{3}, nil); err == nil || len(removed) > 0 {
		t.Fatalf("discard with an unreadable retained _metadata: removed %v, err %v", removed, err)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "job", SharedDirName)); len(left) != 3 {
		t.Fatalf("%d shared files left after a refused discard, want 3", len(left))
	}
}

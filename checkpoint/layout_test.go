package checkpoint

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

func TestJoinAndPaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Join("/ckpt", "job", "chk-1"), "/ckpt/job/chk-1"},
		{Join("/ckpt/", "job/"), "/ckpt/job"},
		{Join("hdfs://nn:8020/ckpt", "job"), "hdfs://nn:8020/ckpt/job"},
		{Join("hdfs://nn:8020", "job"), "hdfs://nn:8020/job"},
		{Join("hdfs:///ckpt/", "a b"), "hdfs:///ckpt/a b"},
		{Join("file:///tmp/c", "j"), "file:///tmp/c/j"},
		{JobDir("hdfs://nn/c", "abc"), "hdfs://nn/c/abc"},
		{CheckpointDir("hdfs://nn/c/abc", 12), "hdfs://nn/c/abc/chk-12"},
		{MetadataPath(CheckpointDir("/c/j", 3)), "/c/j/chk-3/_metadata"},
		{SharedDir("/c/j"), "/c/j/shared"},
		{TaskOwnedDir("/c/j"), "/c/j/taskowned"},
		{SavepointDir("/sp", "0123456789", "ff"), "/sp/savepoint-012345-ff"},
		{StateFileName("Source: words/1", 3, "operator"), "Source_words_1-3-operator"},
		{StateFileName("..", 0, "keyed"), "_..-0-keyed"},
		{resolve("hdfs://nn/c/j/chk-3", "count-0-keyed"), "hdfs://nn/c/j/chk-3/count-0-keyed"},
		{resolve("hdfs://nn/c/j/chk-3", "hdfs://nn/c/j/shared/x"), "hdfs://nn/c/j/shared/x"},
		{resolve("/c/j/chk-3", "/elsewhere/x"), "/elsewhere/x"},
		{relativize("hdfs://nn/c/j/chk-3", "hdfs://nn/c/j/chk-3/a/b"), "a/b"},
		{relativize("hdfs://nn/c/j/chk-3/", "hdfs://nn/c/j/chk-3/a"), "a"},
		{relativize("hdfs://nn/c/j/chk-3", "hdfs://nn/c/j/chk-30/a"), "hdfs://nn/c/j/chk-30/a"},
		{relativize("/c/j/chk-3", "/c/j/chk-3/../x"), "/c/j/chk-3/../x"},
		{relativize("/c/j/chk-3", "already-relative"), "already-relative"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if sp := NewSavepointDir("hdfs://nn/sp", "abcdef0123"); !regexp.MustCompile(`^hdfs://nn/sp/savepoint-abcdef-[0-9a-f]{12}$`).MatchString(sp) {
		t.Errorf("NewSavepointDir: %s", sp)
	}
	if a, b := NewSavepointDir("/sp", "j"), NewSavepointDir("/sp", "j"); a == b {
		t.Error("two savepoint directories alike")
	}
}

func TestParseCheckpointDirName(t *testing.T) {
	for name, want := range map[string]int64{
		"chk-1": 1, "chk-42": 42, "chk-0": 0, "chk-": 0, "chk-01": 0, "chk--1": 0, "chk-x": 0,
		"shared": 0, "chk-99999999999999999999": 0, "savepoint-1": 0,
	} {
		got, ok := ParseCheckpointDirName(name)
		if ok != (want > 0) || got != want {
			t.Errorf("%q: %d %v, want %d", name, got, ok, want)
		}
	}
}

func TestListCheckpoints(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, _, _ := OpenFS(root)
	job := JobDir(root, "job")
	if es, err := ListCheckpoints(ctx, store, job); err != nil || len(es) != 0 {
		t.Fatalf("missing job dir: %v %v", es, err)
	}
	for _, n := range []string{"chk-2", "chk-10", "chk-3", "chk-9", "shared", "taskowned", "chk-x"} {
		os.MkdirAll(filepath.Join(job, n), 0o755)
	}
	os.WriteFile(filepath.Join(job, "chk-11"), nil, 0o644) // a file, not a checkpoint
	for _, n := range []string{"chk-2", "chk-10", "chk-3"} {
		os.WriteFile(filepath.Join(job, n, "_metadata"), []byte("x"), 0o644)
	}
	all, err := ListCheckpoints(ctx, store, job)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{10, job + "/chk-10", true}, {9, job + "/chk-9", false}, {3, job + "/chk-3", true}, {2, job + "/chk-2", true},
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("all %v", all)
	}
	done, err := ListCompleted(ctx, store, job)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(done, []Entry{want[0], want[2], want[3]}) {
		t.Fatalf("completed %v", done)
	}
	if n := NextID(all); n != 11 {
		t.Fatalf("next id %d", n)
	}
	if n := NextID(nil); n != 1 {
		t.Fatalf("next id of nothing %d", n)
	}
}

package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"floe/internal/hadoop/conf"
	"floe/internal/testenv"
)

// TestIntegrationHDFS runs the storage tests and a recovery with a
// corrupted newest checkpoint against the minicluster's HDFS
// (FLOE_INTEGRATION=1, HADOOP_CONF_DIR from scripts/minicluster up).
func TestIntegrationHDFS(t *testing.T) {
	hc, err := conf.LoadDirs(testenv.HadoopConfDir(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	root := "hdfs:///tmp/floe-checkpoint-test-" + hex.EncodeToString(b[:])
	store, base, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "/tmp/floe-checkpoint-test-") {
		t.Fatalf("base %s", base)
	}
	t.Cleanup(func() { store.RemoveAll(context.Background(), root) })

	t.Run("fs", func(t *testing.T) { testFS(t, store, root) })
	// The namenode named in the URI rather than by fs.defaultFS.
	withNN := strings.TrimSuffix(hc.DefaultFS(), "/") + base + "-nn"
	t.Cleanup(func() { store.RemoveAll(context.Background(), withNN) })
	t.Run("fs with namenode in the URI", func(t *testing.T) {
		if !strings.HasPrefix(withNN, "hdfs://") || strings.HasPrefix(withNN, "hdfs:///") {
			t.Skipf("fs.defaultFS %s names no namenode", hc.DefaultFS())
		}
		s2, _, err := OpenFS(withNN)
		if err != nil {
			t.Fatal(err)
		}
		testFS(t, s2, withNN)
	})

	job := JobDir(root, "job")
	for id := int64(1); id <= 3; id++ {
		writeCheckpoint(t, store, job, id)
	}
	// Corrupt chk-3's _metadata: rewrite it with one byte flipped.
	p := MetadataPath(CheckpointDir(job, 3))
	data, err := ReadFile(ctx, store, p, MaxMetadataSize)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := WriteFileAtomic(ctx, store, p, data); err != nil {
		t.Fatal(err)
	}
	// And lose a task file of chk-2.
	if err := store.RemoveAll(ctx, Join(CheckpointDir(job, 2), "count-1-keyed")); err != nil {
		t.Fatal(err)
	}
	m, dir, warnings, err := LatestUsable(ctx, store, job)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != 1 || dir != CheckpointDir(job, 1) || len(warnings) != 2 ||
		!errors.Is(warnings[0], ErrCorrupt) || !errors.Is(warnings[1], ErrMissingFile) {
		t.Fatalf("got %d at %s, warnings %v", m.ID, dir, warnings)
	}
	// The restore reads its key groups' bytes from HDFS.
	plan, err := PlanRestore(m, dir, []OperatorSpec{{"count", 1, 4}}, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, h := range plan["count"][0].Keyed {
		r, err := store.Open(ctx, h.Path)
		if err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		for g := h.Start; g < h.End(); g++ {
			off, n, _ := h.Group(g)
			got = append(got, all[off:off+n]...)
		}
	}
	if string(got) != "00010001" {
		t.Fatalf("restored bytes %q", got)
	}
}

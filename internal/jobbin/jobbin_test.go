package jobbin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"floe/internal/rpc/floepb"
)

func writeFile(t *testing.T, content string) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(content))
	return path, hex.EncodeToString(h[:])
}

func TestFileHash(t *testing.T) {
	p, want := writeFile(t, "a job binary, or near enough\n")
	got, err := FileHash(p)
	if err != nil || got != want {
		t.Fatalf("FileHash = %s, %v; want %s", got, err, want)
	}
	if _, err := FileHash(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("FileHash of a missing file: no error")
	}
}

func TestFetch(t *testing.T) {
	const content = "#!/bin/sh\necho job\n"
	src, sum := writeFile(t, content)
	dir := t.TempDir()
	ref := &floepb.BinaryRef{Uri: "file://" + src, Sha256: sum, Size: int64(len(content))}

	local, err := Fetch(context.Background(), ref, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, sum, "job"); local != want {
		t.Errorf("fetched to %s, want %s", local, want)
	}
	b, err := os.ReadFile(local)
	if err != nil || string(b) != content {
		t.Fatalf("fetched content %q, %v", b, err)
	}
	if st, err := os.Stat(local); err != nil || st.Mode()&0o100 == 0 {
		t.Errorf("fetched binary is not executable: %v, %v", st.Mode(), err)
	}

	// A second fetch of the same hash reuses the copy, even with the source gone.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if again, err := Fetch(context.Background(), ref, dir); err != nil || again != local {
		t.Errorf("second fetch: %s, %v; want the cached %s", again, err, local)
	}
}

func TestFetchHashMismatch(t *testing.T) {
	src, _ := writeFile(t, "the real content")
	_, other := writeFile(t, "some other content")
	dir := t.TempDir()
	ref := &floepb.BinaryRef{Uri: "file://" + src, Sha256: other, Size: 16}
	_, err := Fetch(context.Background(), ref, dir)
	if err == nil || !strings.Contains(err.Error(), "content hash mismatch") {
		t.Fatalf("err %v, want a content hash mismatch", err)
	}
	if _, err := os.Stat(filepath.Join(dir, other, "job")); !os.IsNotExist(err) {
		t.Errorf("a binary with the wrong hash is in the cache: %v", err)
	}
}

func TestFetchRefusesRefWithoutHash(t *testing.T) {
	for _, sum := range []string{"", "abc"} {
		if _, err := Fetch(context.Background(), &floepb.BinaryRef{Uri: "file:///bin/true", Sha256: sum}, t.TempDir()); err == nil {
			t.Errorf("sha256 %q: no error", sum)
		}
	}
}

func TestPlanOfNonFloeBinaries(t *testing.T) {
	ctx := context.Background()
	for bin, want := range map[string]string{
		"/bin/true":  "wrote no job graph: not a floe job",
		"/bin/false": "did not build a job graph (is it a floe job?)",
	} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s: %v", bin, err)
		}
		if _, err := Plan(ctx, bin, nil, "{}"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Plan(%s): err %v, want %q", bin, err, want)
		}
		if err := Probe(ctx, bin, nil, "{}"); err == nil || !strings.Contains(err.Error(), "job binary "+bin) {
			t.Errorf("Probe(%s): err %v, want it to name the binary", bin, err)
		}
	}
}

// Plan runs a real job binary in the plan role and reads back its graph.
func TestPlanOfTestJob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a job binary")
	}
	bin := filepath.Join(t.TempDir(), "testjob")
	build := exec.Command("go", "build", "-o", bin, "floe/internal/testjobs/testjob")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build testjob: %v\n%s", err, out)
	}
	ctx := context.Background()
	g, err := Plan(ctx, bin, []string{"--events", "10"}, `{"parallelism.default":"3"}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Validate(); err != nil {
		t.Fatalf("plan is not a valid graph: %v", err)
	}
	if len(g.Vertices) < 2 || !g.Vertices[0].IsSource {
		t.Fatalf("plan has %d vertices, the first a source: %v", len(g.Vertices), len(g.Vertices) > 0 && g.Vertices[0].IsSource)
	}
	for _, v := range g.Vertices {
		if v.Parallelism != 3 {
			t.Errorf("vertex %s has parallelism %d, want 3 from the configuration passed", v.Name, v.Parallelism)
		}
	}
	if err := Probe(ctx, bin, nil, "{}"); err != nil {
		t.Errorf("Probe of a floe job: %v", err)
	}
}

package output

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var ctx = context.Background()

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func visible(t *testing.T, dir string) []string {
	var out []string
	for _, n := range names(t, dir) {
		if !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

func earlierRun(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	for _, n := range []string{"part-0-0", "part-1-0"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// With overwrite, the earlier files leave the visible output before the job
// runs (no mix of two runs), and are removed once it succeeded.
func TestOverwriteReplacesOnSuccess(t *testing.T) {
	dir := earlierRun(t)
	done, err := Prepare(ctx, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if v := visible(t, dir); len(v) != 0 {
		t.Fatalf("earlier files still visible while the job runs: %v", v)
	}
	if err := os.WriteFile(filepath.Join(dir, "part-0-1"), []byte("new\n"), 0o644); err != nil { // the job commits a part
		t.Fatal(err)
	}
	if err := done(true); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"part-0-1"}) {
		t.Fatalf("after success: %v, want only the new part", got)
	}
}

// A replacing job that fails gives the earlier output back, whether it
// published parts or not: what it wrote, visible or hidden, is removed.
func TestOverwriteFailedRun(t *testing.T) {
	dir := earlierRun(t)
	done, err := Prepare(ctx, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := done(false); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"part-0-0", "part-1-0"}) {
		t.Fatalf("after a failure with nothing published: %v, want the earlier files back", got)
	}

	done, err = Prepare(ctx, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"part-0-7", ".part-1-0.inprogress"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("new\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := done(false); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"part-0-0", "part-1-0"}) {
		t.Fatalf("after a failure that published a part: %v, want the earlier files back", got)
	}
}

// Files set aside by a replacing run that died are the earlier output too:
// the next replacing run removes them.
func TestOverwriteRemovesWhatADeadRunSetAside(t *testing.T) {
	dir := earlierRun(t)
	if _, err := Prepare(ctx, dir, true); err != nil { // done never called: the client died
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "part-0-3"), []byte("half\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	done, err := Prepare(ctx, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := done(true); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("after the next replacing run (which wrote nothing): %v, want an empty output", got)
	}
}

// Without overwrite a non-empty output is refused and left as it was.
func TestNonEmptyOutputRefused(t *testing.T) {
	dir := earlierRun(t)
	_, err := Prepare(ctx, dir, false)
	if !errors.Is(err, ErrExists) || !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "not empty (2 entries)") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Prepare: %v, want a one-line refusal wrapping ErrExists", err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"part-0-0", "part-1-0"}) {
		t.Fatalf("refused output changed: %v", got)
	}
}

// Hidden files (in-progress parts, _SUCCESS-style markers) are not output: a
// directory holding only them is accepted, and they survive a failed run.
func TestHiddenFilesAreNotOutput(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".part-0-0.inprogress", "_marker"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done, err := Prepare(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "part-0-0"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := done(false); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{".part-0-0.inprogress", "_marker"}) {
		t.Fatalf("after a failed run: %v, want the hidden files the run found", got)
	}
}

// A directory that cannot be written is refused, and Prepare leaves no
// directory behind for a run that did not start.
func TestUnwritableOutput(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes everywhere")
	}
	parent := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(parent, 0o555); err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(ctx, filepath.Join(parent, "out"), false); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Prepare: %v, want not writable", err)
	}
	if got := names(t, parent); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}

// Settle publishes the parts its job left waiting (or removes them), and
// leaves everything else alone: another job's waiting parts, in-progress
// files, published parts.
func TestSettle(t *testing.T) {
	for _, ok := range []bool{true, false} {
		dir := t.TempDir()
		files := []string{ReadyName("part-0-0", "job1"), ReadyName("part-1-0", "job1"), ReadyName("part-0-0", "job2"),
			".part-0-1.inprogress", "part-0-7"}
		for _, n := range files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		n, err := Settle(ctx, dir, "job1", ok)
		if err != nil || n != 2 {
			t.Fatalf("Settle(%v): %d, %v; want 2 parts", ok, n, err)
		}
		want := []string{".part-0-0.ready-job2", ".part-0-1.inprogress", "part-0-7"}
		if ok {
			want = append(want, "part-0-0", "part-1-0")
			if b, _ := os.ReadFile(filepath.Join(dir, "part-1-0")); string(b) != ReadyName("part-1-0", "job1") {
				t.Fatalf("part-1-0 holds %q", b)
			}
		}
		slices.Sort(want)
		if got := names(t, dir); !slices.Equal(got, want) {
			t.Fatalf("after Settle(%v): %v, want %v", ok, got, want)
		}
	}
	if n, err := Settle(ctx, filepath.Join(t.TempDir(), "none"), "job1", true); n != 0 || err != nil {
		t.Fatalf("a missing directory: %d, %v", n, err)
	}
}

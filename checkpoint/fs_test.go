package checkpoint

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func readAll(t *testing.T, store FS, name string) string {
	t.Helper()
	r, err := store.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testFS exercises an FS under root (a path or URI of it).
func testFS(t *testing.T, store FS, root string) {
	ctx := context.Background()
	a := Join(root, "x", "y", "a")
	w, err := store.Create(ctx, a) // parents made on the way
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, store, a); got != "hello" {
		t.Fatalf("read %q", got)
	}
	st, err := store.Stat(ctx, a)
	if err != nil || st.Size != 5 || st.IsDir || st.Name != "a" {
		t.Fatalf("stat %+v %v", st, err)
	}
	if err := WriteFileAtomic(ctx, store, Join(root, "x", "y", "b"), []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(ctx, store, Join(root, "x", "y", "b"), []byte("two")); err != nil {
		t.Fatal("replacing a file:", err)
	}
	if got := readAll(t, store, Join(root, "x", "y", "b")); got != "two" {
		t.Fatalf("atomic write left %q", got)
	}
	if err := store.MkdirAll(ctx, Join(root, "x", "y", "d")); err != nil {
		t.Fatal(err)
	}
	ls, err := store.List(ctx, Join(root, "x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ls {
		got = append(got, e.Name)
		if e.IsDir != (e.Name == "d") {
			t.Fatalf("IsDir of %+v", e)
		}
	}
	if !reflect.DeepEqual(got, []string{"a", "b", "d"}) { // no temporary left behind
		t.Fatalf("list %v", got)
	}
	if err := store.Rename(ctx, a, Join(root, "x", "c")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stat(ctx, a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat after rename: %v", err)
	}
	if _, err := store.Open(ctx, a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open after rename: %v", err)
	}
	if _, err := store.List(ctx, Join(root, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list missing dir: %v", err)
	}
	if b, err := ReadFile(ctx, store, Join(root, "x", "c"), 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("read past limit: %q %v", b, err)
	}
	if b, err := ReadFile(ctx, store, Join(root, "x", "c"), 5); err != nil || string(b) != "hello" {
		t.Fatalf("read at limit: %q %v", b, err)
	}
	if err := store.RemoveAll(ctx, Join(root, "x")); err != nil {
		t.Fatal(err)
	}
	if err := store.RemoveAll(ctx, Join(root, "x")); err != nil {
		t.Fatalf("removing a missing dir: %v", err)
	}
	if _, err := store.Stat(ctx, Join(root, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat after remove: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := store.Create(cancelled, Join(root, "z")); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a cancelled context: %v", err)
	}
}

func TestLocalFS(t *testing.T) {
	dir := t.TempDir()
	for _, root := range []string{dir, "file://" + dir} {
		store, base, err := OpenFS(root)
		if err != nil {
			t.Fatal(err)
		}
		if base != dir {
			t.Fatalf("OpenFS(%s) base %s", root, base)
		}
		t.Run(root, func(t *testing.T) { testFS(t, store, root) })
		// Paths and URIs of the same filesystem mix.
		if err := WriteFileAtomic(context.Background(), store, "file://"+filepath.Join(dir, "m"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "m")); err != nil {
			t.Fatal(err)
		}
	}
	store, _, _ := OpenFS(dir)
	if _, err := store.Stat(context.Background(), "hdfs://nn/x"); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("hdfs path on the local filesystem: %v", err)
	}
	if err := store.RemoveAll(context.Background(), "file:///"); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("removing the root: %v", err)
	}
	if _, _, err := OpenFS("s3://bucket/x"); err == nil {
		t.Fatal("s3:// opened")
	}
}

// failingFS fails Rename, to check that a failed publish leaves no file.
type failingFS struct{ FS }

func (failingFS) Rename(ctx context.Context, from, to string) error { return errors.New("injected") }

func TestWriteFileAtomicCleansUp(t *testing.T) {
	dir := t.TempDir()
	store, _, _ := OpenFS(dir)
	if err := WriteFileAtomic(context.Background(), failingFS{store}, filepath.Join(dir, "_metadata"), []byte("x")); err == nil {
		t.Fatal("no error")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left %v", ents)
	}
}

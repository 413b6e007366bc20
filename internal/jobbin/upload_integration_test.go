package jobbin

import (
	"context"
	"os"
	"path"
	"testing"

	"github.com/rs/zerolog"

	"floe/internal/hadoop/conf"
	"floe/internal/hdfsutil"
	"floe/internal/testenv"
)

// The cached binary on the minicluster's HDFS is private to the user, and
// a truncated copy is not reused: the next Upload replaces it.
func TestIntegrationUploadIsPrivateAndReplacesTruncatedCopy(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	user := "floe-it-jobbin"
	fs, err := hdfsutil.Connect(c, user, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()
	root := path.Join("/user", user, ".floe")
	if err := fs.MkdirAllMode(ctx, root, 0o755); err != nil { // as an older floe left it
		t.Fatal(err)
	}
	defer fs.RemoveAll(ctx, path.Join("/user", user))
	exe, _ := os.Executable()
	local, _ := os.Stat(exe)
	ref, err := Upload(ctx, fs, user, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	p := path.Join(root, "binaries", ref.GetSha256(), "floe-job")
	for name, want := range map[string]os.FileMode{root: 0o700, path.Dir(p): 0o700, p: 0o600} {
		got, err := fs.Mode(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s has mode %v, want %v", name, got, want)
		}
	}
	if ref.GetSize() != local.Size() {
		t.Fatalf("uploaded %d bytes, the binary has %d", ref.GetSize(), local.Size())
	}

	// Cut the cached copy short, as an interrupted upload of an older floe did.
	w, err := fs.Create(ctx, p+".short")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("\x7fELF truncated"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(ctx, p+".short", p); err != nil {
		t.Fatal(err)
	}
	ref, err = Upload(ctx, fs, user, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := fs.Stat(ctx, p); err != nil || st.Size != local.Size() || ref.GetSize() != local.Size() {
		t.Fatalf("the truncated copy was reused: %v, %d bytes", err, ref.GetSize())
	}
	if why := cachedCopy(ctx, fs, p, local.Size()); why != "" {
		t.Fatalf("the new copy is not reusable: %s", why)
	}
}

package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"floe/internal/fsys"
)

// FileInfo describes a file or directory.
type FileInfo struct {
	Name    string // base name
	Size    int64
	IsDir   bool
	ModTime time.Time
}

// FS is the storage checkpoints are written to: a local directory or HDFS.
//
// Every method takes either a path of the filesystem ("/ckpt/job/chk-3") or a
// URI of the same filesystem ("hdfs://nn:8020/ckpt/job/chk-3",
// "file:///ckpt/job/chk-3"), so the URIs in the coordinator's actions can be
// passed as they are. Errors wrap fs.ErrNotExist when a path is missing.
//
// Implementations are safe for concurrent use. The context is checked before
// each operation; the HDFS client cannot interrupt a call already under way.
type FS interface {
	// Create creates or truncates name for writing, with its parent directories.
	Create(ctx context.Context, name string) (io.WriteCloser, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Rename moves from to to, replacing to if it is a file. It is atomic on
	// both filesystems, which is what publishing a _metadata relies on.
	Rename(ctx context.Context, from, to string) error
	// RemoveAll removes name and everything under it; a missing name is no error.
	RemoveAll(ctx context.Context, name string) error
	// List returns the entries of dir sorted by name.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	MkdirAll(ctx context.Context, name string) error
	Stat(ctx context.Context, name string) (FileInfo, error)
}

// OpenFS returns the filesystem of uri and the path uri names within it.
// uri is a plain local path, a file:// URI, or an hdfs:// URI: with a
// host:port the namenode is that address, without one (hdfs:///path) it is
// fs.defaultFS of the Hadoop configuration in HADOOP_CONF_DIR.
//
// The filesystems come from floe/internal/fsys, which the connectors use too;
// HDFS clients are shared by the process.
func OpenFS(uri string) (FS, string, error) {
	f, p, err := fsys.Resolve(uri)
	if err != nil {
		return nil, "", fmt.Errorf("checkpoint: open storage %s: %w", uri, err)
	}
	scheme := "file"
	if s, _, ok := strings.Cut(uri, "://"); ok {
		scheme = s
	}
	return &storage{f: f, scheme: scheme}, p, nil
}

// storage adapts an fsys.FS: context checks, URI arguments, wrapped errors.
type storage struct {
	f      fsys.FS
	scheme string
}

// path returns the filesystem path of name, which may be a URI.
func (s *storage) path(name string) (string, error) {
	scheme, rest, ok := strings.Cut(name, "://")
	if !ok {
		return name, nil
	}
	if scheme != s.scheme {
		return "", fmt.Errorf("%w: %s is not on this %s:// filesystem", ErrInvalidPath, name, s.scheme)
	}
	// Drop the authority: rest is "host:port/path" or "/path".
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:], nil
	}
	return "/", nil
}

func (s *storage) prep(ctx context.Context, op, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("checkpoint: %s %s: %w", op, name, err)
	}
	p, err := s.path(name)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %s: %w", op, err)
	}
	return p, nil
}

func (s *storage) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	p, err := s.prep(ctx, "create", name)
	if err != nil {
		return nil, err
	}
	w, err := s.f.Create(p)
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.f.MkdirAll(path.Dir(p)); err == nil {
			w, err = s.f.Create(p)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: create %s: %w", name, err)
	}
	return w, nil
}

func (s *storage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := s.prep(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	r, err := s.f.Open(p)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", name, err)
	}
	return r, nil
}

func (s *storage) Rename(ctx context.Context, from, to string) error {
	pf, err := s.prep(ctx, "rename", from)
	if err != nil {
		return err
	}
	pt, err := s.path(to)
	if err != nil {
		return fmt.Errorf("checkpoint: rename: %w", err)
	}
	if err := s.f.Rename(pf, pt); err != nil {
		return fmt.Errorf("checkpoint: rename %s to %s: %w", from, to, err)
	}
	return nil
}

func (s *storage) RemoveAll(ctx context.Context, name string) error {
	p, err := s.prep(ctx, "remove", name)
	if err != nil {
		return err
	}
	if p == "" || p == "/" {
		return fmt.Errorf("checkpoint: remove %q: %w: refusing to remove a filesystem root", name, ErrInvalidPath)
	}
	if err := s.f.RemoveAll(p); err != nil {
		return fmt.Errorf("checkpoint: remove %s: %w", name, err)
	}
	return nil
}

func (s *storage) List(ctx context.Context, dir string) ([]FileInfo, error) {
	p, err := s.prep(ctx, "list", dir)
	if err != nil {
		return nil, err
	}
	ents, err := s.f.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", dir, err)
	}
	out := make([]FileInfo, len(ents))
	for i, e := range ents {
		out[i] = infoOf(e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *storage) MkdirAll(ctx context.Context, name string) error {
	p, err := s.prep(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	if err := s.f.MkdirAll(p); err != nil {
		return fmt.Errorf("checkpoint: mkdir %s: %w", name, err)
	}
	return nil
}

func (s *storage) Stat(ctx context.Context, name string) (FileInfo, error) {
	p, err := s.prep(ctx, "stat", name)
	if err != nil {
		return FileInfo{}, err
	}
	st, err := s.f.Stat(p)
	if err != nil {
		return FileInfo{}, fmt.Errorf("checkpoint: stat %s: %w", name, err)
	}
	return infoOf(st), nil
}

func infoOf(st fs.FileInfo) FileInfo {
	return FileInfo{Name: st.Name(), Size: st.Size(), IsDir: st.IsDir(), ModTime: st.ModTime()}
}

// WriteFileAtomic writes data to name so that readers see either no file or
// all of it: it writes a hidden temporary file next to name, syncs it where
// the filesystem can (local disks), and renames it over name.
func WriteFileAtomic(ctx context.Context, store FS, name string, data []byte) (err error) {
	dir, base := path.Split(name)
	tmp := dir + "." + base + ".inprogress"
	w, err := store.Create(ctx, tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = store.RemoveAll(context.WithoutCancel(ctx), tmp)
		}
	}()
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("checkpoint: write %s: %w", tmp, err)
	}
	if s, ok := w.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			w.Close()
			return fmt.Errorf("checkpoint: sync %s: %w", tmp, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("checkpoint: close %s: %w", tmp, err)
	}
	return store.Rename(ctx, tmp, name)
}

// ReadFile reads all of name, failing with ErrTooLarge past limit bytes.
func ReadFile(ctx context.Context, store FS, name string, limit int64) ([]byte, error) {
	r, err := store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("checkpoint: read %s: %w (over %d bytes)", name, ErrTooLarge, limit)
	}
	return b, nil
}

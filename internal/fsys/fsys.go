// Package fsys is floe's one filesystem interface, for local paths (plain or
// file://) and HDFS (hdfs://namenode:port/path, or hdfs:///path for the
// configuration's fs.defaultFS). Checkpoints, connectors (sources and sinks),
// job binaries and the YARN client's staging all go through FS.
//
// Every operation that does I/O takes a context, checked before the
// operation starts: the HDFS client cannot interrupt a call under way, but a
// caller whose context ended starts no new one. A name is a path of the
// filesystem ("/ckpt/job/chk-3") or a URI of the same filesystem
// ("hdfs://nn:8020/ckpt/job/chk-3", "file:///ckpt/job/chk-3"), so URIs can be
// passed as they are.
//
// HDFS clients opened by Resolve are opened on first use and shared by the
// process (one per namenode); they are safe for concurrent use.
package fsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrNotExist is wrapped when a path does not exist (it is fs.ErrNotExist).
	ErrNotExist = fs.ErrNotExist
	// ErrInvalidPath: a name is on another filesystem, or an operation would
	// remove a filesystem's root. checkpoint.ErrInvalidPath is this error.
	ErrInvalidPath = errors.New("invalid path")
)

// FileInfo describes a file or directory.
type FileInfo struct {
	Name    string // base name
	Size    int64
	IsDir   bool
	ModTime time.Time
}

// FS is a filesystem. Errors wrap fs.ErrNotExist when a path is missing.
// Implementations are safe for concurrent use.
type FS interface {
	Open(ctx context.Context, name string) (io.ReadSeekCloser, error)
	// Create creates or truncates name for writing, with its parent
	// directories. Closing the writer may wait for the filesystem (HDFS
	// replication) until ctx ends.
	Create(ctx context.Context, name string) (io.WriteCloser, error)
	// Rename moves from to to, replacing to if it is a file. It is atomic on
	// both filesystems, which publishing a checkpoint's _metadata relies on.
	Rename(ctx context.Context, from, to string) error
	// RemoveAll removes name and everything under it; a missing name is no
	// error, a filesystem's root is refused (ErrInvalidPath).
	RemoveAll(ctx context.Context, name string) error
	MkdirAll(ctx context.Context, name string) error
	Stat(ctx context.Context, name string) (FileInfo, error)
	// List returns the entries of dir sorted by name.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	// Join joins path elements the filesystem's way (no I/O).
	Join(elem ...string) string
}

// Resolve returns the filesystem of uri and the path within it.
func Resolve(uri string) (FS, string, error) {
	if !strings.Contains(uri, "://") {
		return &store{b: local{}, scheme: "file"}, uri, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, "", fmt.Errorf("fsys: %q: %w", uri, err)
	}
	switch u.Scheme {
	case "file":
		return &store{b: local{}, scheme: "file"}, u.Path, nil
	case "hdfs":
		c, err := sharedClient(u.Host)
		if err != nil {
			return nil, "", err
		}
		p := u.Path
		if p == "" {
			p = "/"
		}
		return HDFS(c), p, nil
	}
	return nil, "", fmt.Errorf("fsys: %q: unsupported scheme %q (file://, hdfs://)", uri, u.Scheme)
}

// Glob expands uri, which may name a file, a directory (its visible files:
// names not starting with "." or "_", not recursive) or a pattern in its last
// element, to sorted URIs of files.
func Glob(ctx context.Context, uri string) ([]string, error) {
	f, p, err := Resolve(uri)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(uri, p)
	var files []string
	st, err := f.Stat(ctx, p)
	switch {
	case err == nil && !st.IsDir:
		return []string{uri}, nil
	case err == nil:
		ents, err := f.List(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.IsDir && visible(e.Name) {
				files = append(files, prefix+f.Join(p, e.Name))
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s holds no files", uri)
		}
	default:
		dir, pattern := path.Split(p)
		if !strings.ContainsAny(pattern, "*?[") {
			return nil, fmt.Errorf("%s: %w", uri, ErrNotExist)
		}
		if dir == "" {
			dir = "."
		}
		ents, err := f.List(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", uri, err)
		}
		for _, e := range ents {
			if ok, err := path.Match(pattern, e.Name); err != nil {
				return nil, fmt.Errorf("%s: bad pattern: %w", uri, err)
			} else if ok && !e.IsDir {
				files = append(files, prefix+f.Join(dir, e.Name))
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no file matches: %w", uri, ErrNotExist)
		}
	}
	sort.Strings(files)
	return files, nil
}

func visible(name string) bool { return !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_") }

// backend is a filesystem's own operations, on its paths.
type backend interface {
	open(name string) (io.ReadSeekCloser, error)
	create(ctx context.Context, name string) (io.WriteCloser, error)
	rename(from, to string) error
	removeAll(name string) error // a missing name is no error
	mkdirAll(name string) error
	stat(name string) (fs.FileInfo, error)
	readDir(name string) ([]fs.FileInfo, error)
	join(elem ...string) string
}

// store is the FS of a backend: context checks, URI names, parents made on
// Create, sorted lists, wrapped errors.
type store struct {
	b      backend
	scheme string
}

// path returns the filesystem path of name, which may be a URI.
func (s *store) path(name string) (string, error) {
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

func (s *store) prep(ctx context.Context, op, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fsys: %s %s: %w", op, name, err)
	}
	p, err := s.path(name)
	if err != nil {
		return "", fmt.Errorf("fsys: %s: %w", op, err)
	}
	return p, nil
}

func (s *store) Open(ctx context.Context, name string) (io.ReadSeekCloser, error) {
	p, err := s.prep(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	r, err := s.b.open(p)
	if err != nil {
		return nil, fmt.Errorf("fsys: open %s: %w", name, err)
	}
	return r, nil
}

func (s *store) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	p, err := s.prep(ctx, "create", name)
	if err != nil {
		return nil, err
	}
	w, err := s.b.create(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.b.mkdirAll(path.Dir(p)); err == nil {
			w, err = s.b.create(ctx, p)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("fsys: create %s: %w", name, err)
	}
	return w, nil
}

func (s *store) Rename(ctx context.Context, from, to string) error {
	pf, err := s.prep(ctx, "rename", from)
	if err != nil {
		return err
	}
	pt, err := s.path(to)
	if err != nil {
		return fmt.Errorf("fsys: rename: %w", err)
	}
	if err := s.b.rename(pf, pt); err != nil {
		return fmt.Errorf("fsys: rename %s to %s: %w", from, to, err)
	}
	return nil
}

func (s *store) RemoveAll(ctx context.Context, name string) error {
	p, err := s.prep(ctx, "remove", name)
	if err != nil {
		return err
	}
	if p == "" || p == "/" {
		return fmt.Errorf("fsys: remove %q: %w: refusing to remove a filesystem root", name, ErrInvalidPath)
	}
	if err := s.b.removeAll(p); err != nil {
		return fmt.Errorf("fsys: remove %s: %w", name, err)
	}
	return nil
}

func (s *store) MkdirAll(ctx context.Context, name string) error {
	p, err := s.prep(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	if err := s.b.mkdirAll(p); err != nil {
		return fmt.Errorf("fsys: mkdir %s: %w", name, err)
	}
	return nil
}

func (s *store) Stat(ctx context.Context, name string) (FileInfo, error) {
	p, err := s.prep(ctx, "stat", name)
	if err != nil {
		return FileInfo{}, err
	}
	st, err := s.b.stat(p)
	if err != nil {
		return FileInfo{}, fmt.Errorf("fsys: stat %s: %w", name, err)
	}
	return infoOf(st), nil
}

func (s *store) List(ctx context.Context, dir string) ([]FileInfo, error) {
	p, err := s.prep(ctx, "list", dir)
	if err != nil {
		return nil, err
	}
	ents, err := s.b.readDir(p)
	if err != nil {
		return nil, fmt.Errorf("fsys: list %s: %w", dir, err)
	}
	out := make([]FileInfo, len(ents))
	for i, e := range ents {
		out[i] = infoOf(e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *store) Join(elem ...string) string { return s.b.join(elem...) }

func infoOf(st fs.FileInfo) FileInfo {
	return FileInfo{Name: st.Name(), Size: st.Size(), IsDir: st.IsDir(), ModTime: st.ModTime()}
}

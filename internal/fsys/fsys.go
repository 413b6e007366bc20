// Package fsys is the one filesystem interface floe's connectors use, for
// local paths (plain or file://) and HDFS (hdfs://namenode:port/path, or
// hdfs:///path for the configuration's fs.defaultFS).
//
// HDFS clients are opened on first use and shared by the process (one per
// namenode); they are safe for concurrent use.
package fsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/ipc"
	"floe/internal/hdfsutil"
)

// ErrNotExist is wrapped when a path does not exist (also errors.Is fs.ErrNotExist).
var ErrNotExist = fs.ErrNotExist

// File is an open file for reading.
type File interface {
	io.ReadSeekCloser
}

// FS is a filesystem. Paths are the filesystem's own (no scheme).
type FS interface {
	Open(name string) (File, error)
	// Create creates or truncates name for writing.
	Create(name string) (io.WriteCloser, error)
	Rename(from, to string) error
	RemoveAll(name string) error
	MkdirAll(name string) error
	Stat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.FileInfo, error)
	// Join joins path elements the filesystem's way.
	Join(elem ...string) string
}

// Resolve returns the filesystem of uri and the path within it.
func Resolve(uri string) (FS, string, error) {
	if !strings.Contains(uri, "://") {
		return local{}, uri, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, "", fmt.Errorf("fsys: %q: %w", uri, err)
	}
	switch u.Scheme {
	case "file":
		return local{}, u.Path, nil
	case "hdfs":
		c, err := hdfsClient(u.Host)
		if err != nil {
			return nil, "", err
		}
		p := u.Path
		if p == "" {
			p = "/"
		}
		return hdfsFS{c}, p, nil
	}
	return nil, "", fmt.Errorf("fsys: %q: unsupported scheme %q (file://, hdfs://)", uri, u.Scheme)
}

var (
	hdfsMu      sync.Mutex
	hdfsClients = map[string]*hdfs.Client{}
)

func hdfsClient(authority string) (*hdfs.Client, error) {
	hdfsMu.Lock()
	defer hdfsMu.Unlock()
	if c, ok := hdfsClients[authority]; ok {
		return c, nil
	}
	var c *hdfs.Client
	if authority == "" {
		hc, err := conf.Load()
		if err != nil {
			return nil, fmt.Errorf("fsys: hdfs:/// needs the Hadoop configuration: %w", err)
		}
		f, err := hdfsutil.Connect(hc, ipc.DefaultUser(), 15*time.Second)
		if err != nil {
			return nil, fmt.Errorf("fsys: %w", err)
		}
		c = f.Client
	} else {
		var err error
		c, err = hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{authority}, User: ipc.DefaultUser()})
		if err != nil {
			return nil, fmt.Errorf("fsys: connect to namenode %s: %w", authority, err)
		}
	}
	hdfsClients[authority] = c
	return c, nil
}

// Glob expands uri, which may name a file, a directory (its visible files:
// names not starting with "." or "_", not recursive) or a pattern in its last
// element, to sorted URIs of files.
func Glob(uri string) ([]string, error) {
	f, p, err := Resolve(uri)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(uri, p)
	var files []string
	st, err := f.Stat(p)
	switch {
	case err == nil && !st.IsDir():
		return []string{uri}, nil
	case err == nil:
		ents, err := f.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.IsDir() && visible(e.Name()) {
				files = append(files, prefix+f.Join(p, e.Name()))
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
		ents, err := f.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", uri, err)
		}
		for _, e := range ents {
			if ok, err := path.Match(pattern, e.Name()); err != nil {
				return nil, fmt.Errorf("%s: bad pattern: %w", uri, err)
			} else if ok && !e.IsDir() {
				files = append(files, prefix+f.Join(dir, e.Name()))
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

type local struct{}

func (local) Open(name string) (File, error)             { return os.Open(name) }
func (local) Create(name string) (io.WriteCloser, error) { return os.Create(name) }
func (local) Rename(from, to string) error               { return os.Rename(from, to) }
func (local) RemoveAll(name string) error                { return os.RemoveAll(name) }
func (local) MkdirAll(name string) error                 { return os.MkdirAll(name, 0o755) }
func (local) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (local) Join(elem ...string) string                 { return filepath.Join(elem...) }
func (local) ReadDir(name string) ([]fs.FileInfo, error) {
	ents, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	infos := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			infos = append(infos, info)
		}
	}
	return infos, nil
}

type hdfsFS struct{ c *hdfs.Client }

func (h hdfsFS) Open(name string) (File, error) { return h.c.Open(name) }
func (h hdfsFS) Create(name string) (io.WriteCloser, error) {
	if err := h.c.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	w, err := h.c.Create(name)
	if err != nil {
		return nil, err
	}
	return hdfsWriter{w}, nil
}

// hdfsWriter waits out "replication in progress" on Close, as Hadoop's client does.
type hdfsWriter struct{ *hdfs.FileWriter }

func (w hdfsWriter) Close() error             { return hdfsutil.CloseWriter(context.Background(), w.FileWriter) }
func (h hdfsFS) Rename(from, to string) error { return h.c.Rename(from, to) }
func (h hdfsFS) RemoveAll(name string) error {
	if err := h.c.RemoveAll(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
func (h hdfsFS) MkdirAll(name string) error                 { return h.c.MkdirAll(name, 0o755) }
func (h hdfsFS) Stat(name string) (fs.FileInfo, error)      { return h.c.Stat(name) }
func (h hdfsFS) ReadDir(name string) ([]fs.FileInfo, error) { return h.c.ReadDir(name) }
func (hdfsFS) Join(elem ...string) string                   { return path.Join(elem...) }

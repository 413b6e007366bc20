// Package hdfsutil stages files for YARN on top of fsys's HDFS filesystem:
// it connects to fs.defaultFS, uploads files and describes them as
// LocalResources whose size and modification time are HDFS's own, as the
// NodeManager checks them.
package hdfsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"

	"floe/internal/fsys"
	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
)

// ErrNotFile means a path to stage is a directory.
var ErrNotFile = errors.New("hdfsutil: not a regular file")

// FS is the filesystem of fs.defaultFS (floe's one fsys.FS) plus the URI its
// paths are relative to, for staging files for YARN. Close releases its
// client.
type FS struct {
	fsys.FS
	// URI is fs.defaultFS, e.g. hdfs://namenode:8020.
	URI    *url.URL
	client *hdfs.Client
}

// Connect opens fs.defaultFS as user (SIMPLE authentication). Dialing
// NameNodes and DataNodes is bounded by dialTimeout.
func Connect(c *conf.Conf, user string, dialTimeout time.Duration) (*FS, error) {
	cl, u, err := fsys.ConnectHDFS(c, user, dialTimeout)
	if err != nil {
		fs, _ := c.Get("fs.defaultFS")
		return nil, fmt.Errorf("cannot reach HDFS (fs.defaultFS %q, from the Hadoop configuration in HADOOP_CONF_DIR): %w", fs, err)
	}
	return &FS{FS: fsys.HDFS(cl), URI: u, client: cl}, nil
}

// Close closes the HDFS client.
func (fs *FS) Close() error { return fs.client.Close() }

// Staged files are private to their user, as Spark's and Flink's staging:
// YARN localizes APPLICATION resources as that user.
const (
	PrivateDir  os.FileMode = 0o700
	PrivateFile os.FileMode = 0o600
)

// Chmod sets the permission bits of p.
func (fs *FS) Chmod(ctx context.Context, p string, mode os.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fs.client.Chmod(p, mode)
}

// MkdirAllMode creates dir and its missing parents with mode (fsys.FS's
// MkdirAll uses HDFS's default).
func (fs *FS) MkdirAllMode(ctx context.Context, dir string, mode os.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fs.client.MkdirAll(dir, mode)
}

// Upload copies the local file to dst on HDFS (through a temporary name
// and a rename, so readers never see a partial file), creating parent
// directories (PrivateDir), and returns its LocalResource. The file is
// PrivateFile.
func (fs *FS) Upload(ctx context.Context, local, dst string, vis hadooppb.LocalResourceVisibilityProto) (*hadooppb.LocalResourceProto, error) {
	src, err := os.Open(local)
	if err != nil {
		return nil, fmt.Errorf("hdfsutil: upload: %w", err)
	}
	defer src.Close()
	if err := fs.MkdirAllMode(ctx, path.Dir(dst), PrivateDir); err != nil {
		return nil, fmt.Errorf("hdfsutil: upload %s: mkdir %s: %w", local, path.Dir(dst), err)
	}
	tmp := dst + "._COPYING_." + strconv.FormatInt(time.Now().UnixNano(), 36)
	w, err := fs.Create(ctx, tmp) // parent directories made on the way
	if err != nil {
		return nil, fmt.Errorf("hdfsutil: upload %s: %w", local, err)
	}
	_, err = io.Copy(w, ctxReader{ctx, src})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Chmod(ctx, tmp, PrivateFile)
	}
	if err == nil {
		err = fs.Rename(ctx, tmp, dst)
	}
	if err != nil {
		_ = fs.RemoveAll(context.WithoutCancel(ctx), tmp)
		return nil, fmt.Errorf("hdfsutil: upload %s to %s: %w", local, dst, err)
	}
	return fs.LocalResource(ctx, dst, hadooppb.LocalResourceTypeProto_FILE, vis)
}

// LocalResource describes the HDFS file at p for YARN: its URL, and the
// size and modification time (ms) from HDFS's file status.
func (fs *FS) LocalResource(ctx context.Context, p string, typ hadooppb.LocalResourceTypeProto, vis hadooppb.LocalResourceVisibilityProto) (*hadooppb.LocalResourceProto, error) {
	st, err := fs.Stat(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("hdfsutil: stat %s: %w", p, err)
	}
	if st.IsDir && typ == hadooppb.LocalResourceTypeProto_FILE {
		return nil, fmt.Errorf("hdfsutil: %s: %w", p, ErrNotFile)
	}
	return &hadooppb.LocalResourceProto{
		Resource:   fs.URL(p),
		Size:       proto.Int64(st.Size),
		Timestamp:  proto.Int64(st.ModTime.UnixMilli()),
		Type:       typ.Enum(),
		Visibility: vis.Enum(),
	}, nil
}

// URL is the YARN URL of an absolute HDFS path on this filesystem.
func (fs *FS) URL(p string) *hadooppb.URLProto {
	u := &hadooppb.URLProto{Scheme: proto.String(fs.URI.Scheme), Host: proto.String(fs.URI.Hostname()), File: proto.String(p)}
	if port, err := strconv.Atoi(fs.URI.Port()); err == nil {
		u.Port = proto.Int32(int32(port))
	}
	return u
}

// PathOf turns a YARN URL back into an HDFS path string (hdfs://host:port/p).
func PathOf(u *hadooppb.URLProto) string {
	host := u.GetHost()
	if u.Port != nil && u.GetPort() >= 0 {
		host = net.JoinHostPort(host, strconv.Itoa(int(u.GetPort())))
	}
	return (&url.URL{Scheme: u.GetScheme(), Host: host, Path: u.GetFile()}).String()
}

// Names returns the names in dir, sorted; a missing dir is empty.
func (fs *FS) Names(ctx context.Context, dir string) ([]string, error) {
	infos, err := fs.List(ctx, dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(infos))
	for _, fi := range infos {
		out = append(out, fi.Name)
	}
	return out, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Checksum is HDFS's checksum of the file at p (MD5 of the blocks' CRCs).
func (fs *FS) Checksum(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := fs.client.Open(p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Checksum()
}

// Mode is the permission bits of p.
func (fs *FS) Mode(ctx context.Context, p string) (os.FileMode, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	st, err := fs.client.Stat(p)
	if err != nil {
		return 0, err
	}
	return st.Mode().Perm(), nil
}

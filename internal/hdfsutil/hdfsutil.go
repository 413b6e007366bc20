// Package hdfsutil connects to HDFS with the Hadoop client configuration
// (through github.com/colinmarc/hdfs/v2) and stages files for YARN: it
// uploads them and describes them as LocalResources whose size and
// modification time are HDFS's own, as the NodeManager checks them.
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
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
)

// Sentinel errors.
var (
	// ErrNotHDFS means fs.defaultFS is not an hdfs:// URI.
	ErrNotHDFS = errors.New("hdfsutil: fs.defaultFS is not hdfs")
	// ErrNotFile means a path to stage is a directory.
	ErrNotFile = errors.New("hdfsutil: not a regular file")
)

// FS is an HDFS client plus the filesystem URI its paths are relative to.
type FS struct {
	*hdfs.Client
	// URI is fs.defaultFS, e.g. hdfs://namenode:8020.
	URI *url.URL
}

// Namenodes returns the NameNode RPC addresses the configuration names:
// those of fs.defaultFS's nameservice when HA is configured for it, else
// its host:port.
func Namenodes(c *conf.Conf) (*url.URL, []string, error) {
	u, err := url.Parse(c.DefaultFS())
	if err != nil || u.Scheme != "hdfs" || u.Host == "" {
		return nil, nil, fmt.Errorf("%q: %w", c.DefaultFS(), ErrNotHDFS)
	}
	ns := u.Hostname()
	if ids := c.Strings("dfs.ha.namenodes." + ns); len(ids) > 0 {
		var out []string
		for _, id := range ids {
			if a, ok := c.Get("dfs.namenode.rpc-address." + ns + "." + id); ok && a != "" {
				out = append(out, a)
			}
		}
		if len(out) > 0 {
			return u, out, nil
		}
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(host, "8020")
	}
	return u, []string{host}, nil
}

// Connect opens an HDFS client as user (SIMPLE authentication). Dialing
// NameNodes and DataNodes is bounded by dialTimeout.
func Connect(c *conf.Conf, user string, dialTimeout time.Duration) (*FS, error) {
	u, nns, err := Namenodes(c)
	if err != nil {
		return nil, err
	}
	dial := (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	cl, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses:           nns,
		User:                user,
		UseDatanodeHostname: c.Bool("dfs.client.use.datanode.hostname", false),
		NamenodeDialFunc:    dial,
		DatanodeDialFunc:    dial,
	})
	if err != nil {
		return nil, fmt.Errorf("hdfsutil: connect to %s: %w", strings.Join(nns, ","), err)
	}
	return &FS{Client: cl, URI: u}, nil
}

// Staged files are private to their user, as Spark's and Flink's staging:
// YARN localizes APPLICATION resources as that user.
const (
	PrivateDir  os.FileMode = 0o700
	PrivateFile os.FileMode = 0o600
)

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
	if err := fs.MkdirAll(path.Dir(dst), PrivateDir); err != nil {
		return nil, fmt.Errorf("hdfsutil: upload %s: mkdir %s: %w", local, path.Dir(dst), err)
	}
	tmp := dst + "._COPYING_." + strconv.FormatInt(time.Now().UnixNano(), 36)
	w, err := fs.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("hdfsutil: upload %s: create %s: %w", local, tmp, err)
	}
	_, err = io.Copy(w, ctxReader{ctx, src})
	if cerr := CloseWriter(ctx, w); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Chmod(tmp, PrivateFile)
	}
	if err == nil {
		err = fs.Rename(tmp, dst)
	}
	if err != nil {
		_ = fs.Remove(tmp)
		return nil, fmt.Errorf("hdfsutil: upload %s to %s: %w", local, dst, err)
	}
	return fs.LocalResource(dst, hadooppb.LocalResourceTypeProto_FILE, vis)
}

// LocalResource describes the HDFS file at p for YARN: its URL, and the
// size and modification time (ms) from HDFS's file status.
func (fs *FS) LocalResource(p string, typ hadooppb.LocalResourceTypeProto, vis hadooppb.LocalResourceVisibilityProto) (*hadooppb.LocalResourceProto, error) {
	st, err := fs.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("hdfsutil: stat %s: %w", p, err)
	}
	if st.IsDir() && typ == hadooppb.LocalResourceTypeProto_FILE {
		return nil, fmt.Errorf("hdfsutil: %s: %w", p, ErrNotFile)
	}
	return &hadooppb.LocalResourceProto{
		Resource:   fs.URL(p),
		Size:       proto.Int64(st.Size()),
		Timestamp:  proto.Int64(st.ModTime().UnixMilli()),
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
func (fs *FS) Names(dir string) ([]string, error) {
	infos, err := fs.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hdfsutil: list %s: %w", dir, err)
	}
	out := make([]string, 0, len(infos))
	for _, fi := range infos {
		out = append(out, fi.Name())
	}
	sort.Strings(out)
	return out, nil
}

// CloseWriter closes an HDFS file, retrying while the NameNode reports the
// last block still replicating (as Hadoop's own client does, with backoff),
// for at most about 20 seconds or until ctx ends.
func CloseWriter(ctx context.Context, w *hdfs.FileWriter) error {
	delay := 20 * time.Millisecond
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := w.Close()
		if err == nil || !hdfs.IsErrReplicating(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hdfsutil: close: %w (%w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		if delay < time.Second {
			delay *= 2
		}
	}
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

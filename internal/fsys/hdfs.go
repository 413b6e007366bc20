package fsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/ipc"
)

// ErrNotHDFS means fs.defaultFS is not an hdfs:// URI.
var ErrNotHDFS = errors.New("fsys: fs.defaultFS is not hdfs")

// HDFS returns the FS of an HDFS client. The caller keeps the client and
// closes it when done.
func HDFS(c *hdfs.Client) FS { return &store{b: hdfsFS{c}, scheme: "hdfs"} }

var (
	hdfsMu      sync.Mutex
	hdfsClients = map[string]*hdfs.Client{}
)

// sharedClient is the process's client of the namenode at authority
// (host:port), or of fs.defaultFS when authority is empty.
func sharedClient(authority string) (*hdfs.Client, error) {
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
		c, _, err = ConnectHDFS(hc, ipc.DefaultUser(), 15*time.Second)
		if err != nil {
			return nil, err
		}
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

// ConnectHDFS opens a client of fs.defaultFS as user (SIMPLE
// authentication) and returns it with fs.defaultFS. Dialing NameNodes and
// DataNodes is bounded by dialTimeout. The caller closes the client.
func ConnectHDFS(c *conf.Conf, user string, dialTimeout time.Duration) (*hdfs.Client, *url.URL, error) {
	u, nns, err := Namenodes(c)
	if err != nil {
		return nil, nil, err
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
		return nil, nil, fmt.Errorf("fsys: connect to %s: %w", strings.Join(nns, ","), err)
	}
	return cl, u, nil
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
			return fmt.Errorf("fsys: close: %w (%w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}

// hdfsFS is the backend of an HDFS client.
type hdfsFS struct{ c *hdfs.Client }

func (h hdfsFS) open(name string) (io.ReadSeekCloser, error) { return h.c.Open(name) }

func (h hdfsFS) create(ctx context.Context, name string) (io.WriteCloser, error) {
	if err := h.c.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	w, err := h.c.Create(name)
	if err != nil {
		return nil, err
	}
	return hdfsWriter{w, ctx}, nil
}

// hdfsWriter waits out "replication in progress" on Close, as Hadoop's
// client does, until the context of its Create ends.
type hdfsWriter struct {
	*hdfs.FileWriter
	ctx context.Context
}

func (w hdfsWriter) Close() error { return CloseWriter(w.ctx, w.FileWriter) }

func (h hdfsFS) rename(from, to string) error { return h.c.Rename(from, to) }
func (h hdfsFS) removeAll(name string) error {
	if err := h.c.RemoveAll(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
func (h hdfsFS) mkdirAll(name string) error                 { return h.c.MkdirAll(name, 0o755) }
func (h hdfsFS) stat(name string) (fs.FileInfo, error)      { return h.c.Stat(name) }
func (h hdfsFS) readDir(name string) ([]fs.FileInfo, error) { return h.c.ReadDir(name) }
func (hdfsFS) join(elem ...string) string                   { return path.Join(elem...) }

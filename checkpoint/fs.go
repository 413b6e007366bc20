package checkpoint

import (
	"context"
	"fmt"
	"io"
	"path"

	"floe/internal/fsys"
)

// FileInfo describes a file or directory.
type FileInfo = fsys.FileInfo

// FS is the storage checkpoints are written to, a local directory or HDFS:
// floe's one filesystem interface, which the connectors and the YARN client
// use too. Its methods take paths or URIs of the same filesystem, so the
// URIs in the coordinator's actions are passed as they are; errors wrap
// fs.ErrNotExist for a missing path and ErrInvalidPath for a name on another
// filesystem or a root given to RemoveAll.
type FS = fsys.FS

// OpenFS returns the filesystem of uri and the path uri names within it.
// uri is a plain local path, a file:// URI, or an hdfs:// URI: with a
// host:port the namenode is that address, without one (hdfs:///path) it is
// fs.defaultFS of the Hadoop configuration in HADOOP_CONF_DIR. HDFS clients
// are shared by the process.
func OpenFS(uri string) (FS, string, error) {
	f, p, err := fsys.Resolve(uri)
	if err != nil {
		return nil, "", fmt.Errorf("checkpoint: open storage %s: %w", uri, err)
	}
	return f, p, nil
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

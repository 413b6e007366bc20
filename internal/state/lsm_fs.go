package state

import (
	"github.com/cockroachdb/pebble/v2/vfs"
)

// noSyncFS is the filesystem of a pebble store: the local disk, with every
// fsync a no-op. A store is rebuilt from a checkpoint after a failure, never
// from its own files (it has no write-ahead log either), so making them
// durable buys nothing; and on a disk that compactions keep busy each fsync
// of a flush (the SST, the MANIFEST, the directory) and of a checkpoint's
// local copy waits for the writeback of everything dirty before it, in the
// synchronous part of a checkpoint. Writeback hints (SyncTo, pebble's
// BytesPerSync) stay: they keep dirty pages from piling up.
type noSyncFS struct{ vfs.FS }

var lsmFS vfs.FS = noSyncFS{vfs.Default}

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error     { return nil }
func (noSyncFile) SyncData() error { return nil }

func wrapNoSync(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (fs noSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return wrapNoSync(fs.FS.Create(name, c))
}

func (fs noSyncFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return wrapNoSync(fs.FS.Open(name, opts...))
}

func (fs noSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return wrapNoSync(fs.FS.OpenReadWrite(name, c, opts...))
}

func (fs noSyncFS) OpenDir(name string) (vfs.File, error) {
	return wrapNoSync(fs.FS.OpenDir(name))
}

func (fs noSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return wrapNoSync(fs.FS.ReuseForWrite(oldname, newname, c))
}

// Unwrap is the disk's filesystem (vfs.Root).
func (fs noSyncFS) Unwrap() vfs.FS { return fs.FS }

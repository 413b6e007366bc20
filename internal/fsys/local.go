package fsys

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// local is the backend of local paths.
type local struct{}

func (local) open(name string) (io.ReadSeekCloser, error) { return os.Open(name) }
func (local) create(_ context.Context, name string) (io.WriteCloser, error) {
	return os.Create(name)
}
func (local) rename(from, to string) error          { return os.Rename(from, to) }
func (local) removeAll(name string) error           { return os.RemoveAll(name) }
func (local) mkdirAll(name string) error            { return os.MkdirAll(name, 0o755) }
func (local) stat(name string) (fs.FileInfo, error) { return os.Stat(name) }
func (local) join(elem ...string) string            { return filepath.Join(elem...) }
func (local) readDir(name string) ([]fs.FileInfo, error) {
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

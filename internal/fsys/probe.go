package fsys

import (
	"context"
	"fmt"
	"os"
)

// ProbeWrite checks, before a job relies on it, that dir can be written:
// it creates dir (and its parents) and a hidden file in it, then removes
// the file. dir itself stays.
func ProbeWrite(ctx context.Context, fsy FS, dir string) error {
	if err := fsy.MkdirAll(ctx, dir); err != nil {
		return err
	}
	probe := fsy.Join(dir, fmt.Sprintf(".floe-write-check-%d", os.Getpid()))
	f, err := fsy.Create(ctx, probe)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		fsy.RemoveAll(ctx, probe)
		return err
	}
	return fsy.RemoveAll(ctx, probe)
}

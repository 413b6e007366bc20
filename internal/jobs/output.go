package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"

	"floe/config"
	"floe/internal/fsys"
	"floe/internal/role"
)

// savepointPath is appmaster.KeySavepointPath: a run restoring from it
// continues into the output of the run that took it.
const savepointPath = "execution.savepoint.path"

// prepareOutput checks, in the client before the job is submitted, that dir
// can be written and holds no earlier output. A directory that exists and is
// not empty is refused unless overwrite (--overwrite or floe.output.overwrite)
// is given, which removes its files before the job starts, or the run
// restores from a savepoint or checkpoint (it continues its own output).
// The processes the client starts run the same command line and skip this.
func prepareOutput(conf config.Config, dir string, overwrite bool) error {
	if r, _ := role.Current(); r != role.Client {
		return nil
	}
	fromConf, err := conf.Bool(config.OutputOverwrite, false)
	if err != nil {
		return err
	}
	overwrite = overwrite || fromConf
	_, restoring := conf.Lookup(savepointPath)
	fsy, p, err := fsys.Resolve(dir)
	if err != nil {
		return outputErr(dir, err)
	}
	ctx := context.Background() // before the job runs: nothing to cancel
	ents, err := fsy.List(ctx, p)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return outputErr(dir, err)
	}
	if len(ents) > 0 && !restoring {
		if !overwrite {
			return fmt.Errorf("output %s exists and is not empty (%d entries): choose another directory, or replace its files with --overwrite (or -D %s=true)",
				dir, len(ents), config.OutputOverwrite)
		}
		for _, e := range ents {
			if err := fsy.RemoveAll(ctx, fsy.Join(p, e.Name)); err != nil {
				return fmt.Errorf("output %s: remove the earlier %s: %w", dir, e.Name, err)
			}
		}
	}
	if err := fsys.ProbeWrite(ctx, fsy, p); err != nil {
		if !existed {
			fsy.RemoveAll(ctx, p) // leave no directory behind for a run that did not start
		}
		return outputErr(dir, err)
	}
	return nil
}

// outputErr tells a filesystem that cannot be reached from one that refuses the write.
func outputErr(dir string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("output %s: cannot reach its filesystem: %w", dir, err)
	}
	return fmt.Errorf("output %s is not writable: %w", dir, err)
}

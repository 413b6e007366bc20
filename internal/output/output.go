// Package output prepares a job's output directory in the client, before
// the job is submitted: it refuses an earlier run's output unless asked to
// replace it, and then moves the earlier files aside until the job's outcome
// is known. The built-in jobs (internal/jobs) and the dataset API's file
// sinks share it.
package output

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"time"

	"floe/config"
	"floe/internal/fsys"
	"floe/internal/role"
)

// savepointPath is appmaster.KeySavepointPath: a run restoring from it
// continues into the output of the run that took it.
const savepointPath = "execution.savepoint.path"

// Prepare checks, in the client before the job is submitted, that dir
// can be written and holds no earlier output. A directory that exists and is
// not empty is refused unless overwrite (--overwrite or floe.output.overwrite)
// is given, or the run restores from a savepoint or checkpoint (it continues
// its own output). The processes the client starts run the same command
// line and skip this.
//
// With overwrite, the earlier files are moved aside into a hidden directory
// of dir (readers skip names starting with "."), so the output never holds
// a mix of two runs: the job's parts appear only as it commits them. The
// caller calls the returned done with the job's outcome: when it succeeded,
// or published anything, the earlier files are removed; when it failed
// before publishing a part, they are moved back. done is never nil.
func Prepare(conf config.Config, dir string, overwrite bool) (done func(succeeded bool), err error) {
	done = func(bool) {}
	if r, _ := role.Current(); r != role.Client {
		return done, nil
	}
	fromConf, err := conf.Bool(config.OutputOverwrite, false)
	if err != nil {
		return done, err
	}
	overwrite = overwrite || fromConf
	_, restoring := conf.Lookup(savepointPath)
	fsy, p, err := fsys.Resolve(dir)
	if err != nil {
		return done, outputErr(dir, err)
	}
	ctx := context.Background() // before the job runs: nothing to cancel
	ents, err := fsy.List(ctx, p)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return done, outputErr(dir, err)
	}
	if len(ents) > 0 && !restoring {
		if !overwrite {
			return done, fmt.Errorf("output %s exists and is not empty (%d entries): choose another directory, or replace its files with --overwrite (or -D %s=true)",
				dir, len(ents), config.OutputOverwrite)
		}
		if done, err = moveAside(ctx, fsy, p, ents); err != nil {
			return func(bool) {}, fmt.Errorf("output %s: %w", dir, err)
		}
	}
	if err := fsys.ProbeWrite(ctx, fsy, p); err != nil {
		if !existed {
			fsy.RemoveAll(ctx, p) // leave no directory behind for a run that did not start
		}
		done(false)
		return func(bool) {}, outputErr(dir, err)
	}
	return done, nil
}

// replacedPrefix names the hidden directory the earlier files of an output
// wait in while a run that replaces them goes on.
const replacedPrefix = ".floe-replaced-"

// moveAside moves ents of dir p into a hidden directory of p, and returns
// what ends the replacement (see Prepare).
func moveAside(ctx context.Context, fsy fsys.FS, p string, ents []fsys.FileInfo) (func(bool), error) {
	aside := fsy.Join(p, fmt.Sprintf("%s%d", replacedPrefix, time.Now().UnixNano()))
	if err := fsy.MkdirAll(ctx, aside); err != nil {
		return nil, fmt.Errorf("move the earlier files aside: %w", err)
	}
	var moved []string
	back := func() {
		for _, name := range moved {
			_ = fsy.Rename(ctx, fsy.Join(aside, name), fsy.Join(p, name))
		}
		_ = fsy.RemoveAll(ctx, aside)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name, replacedPrefix) { // left by a replacing run that died: its files are the earlier ones too
			if err := fsy.RemoveAll(ctx, fsy.Join(p, e.Name)); err != nil {
				back()
				return nil, fmt.Errorf("remove %s: %w", e.Name, err)
			}
			continue
		}
		if err := fsy.Rename(ctx, fsy.Join(p, e.Name), fsy.Join(aside, e.Name)); err != nil {
			back()
			return nil, fmt.Errorf("move the earlier %s aside: %w", e.Name, err)
		}
		moved = append(moved, e.Name)
	}
	return func(succeeded bool) {
		if !succeeded {
			now, err := fsy.List(ctx, p)
			published := err != nil // cannot tell: keep what the run wrote
			for _, e := range now {
				if !strings.HasPrefix(e.Name, ".") {
					published = true
				}
			}
			if !published {
				back()
				return
			}
		}
		_ = fsy.RemoveAll(ctx, aside)
	}, nil
}

// outputErr tells a filesystem that cannot be reached from one that refuses the write.
func outputErr(dir string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("output %s: cannot reach its filesystem: %w", dir, err)
	}
	return fmt.Errorf("output %s is not writable: %w", dir, err)
}

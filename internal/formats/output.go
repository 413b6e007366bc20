package formats

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"floe/internal/fsys"
)

// ErrOutputExists is wrapped when an output directory holds files and
// overwriting was not asked for.
var ErrOutputExists = errors.New("output exists")

// asidePrefix names the hidden directory the earlier files of an output
// wait in while a run that replaces them goes on (internal/jobs uses the
// same name).
const asidePrefix = ".floe-replaced-"

// PrepareOutput checks, before a job starts, that dir can be written and
// holds no visible files (names not starting with "." or "_") unless
// overwrite. With overwrite, the earlier files are moved into a hidden
// directory of dir, so that the output never mixes two runs.
//
// The caller calls done with the job's outcome. When it succeeded, the
// earlier files are removed; when it failed,
// what the run published is removed and the earlier files are moved back,
// so that a failed run leaves the output as it found it. done is never nil.
func PrepareOutput(ctx context.Context, dir string, overwrite bool) (done func(succeeded bool) error, err error) {
	done = func(bool) error { return nil }
	fsy, p, err := fsys.Resolve(dir)
	if err != nil {
		return done, fmt.Errorf("output %s: %w", dir, err)
	}
	ents, err := fsy.List(ctx, p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return done, fmt.Errorf("output %s: %w", dir, err)
	}
	var visible []fsys.FileInfo
	kept := map[string]bool{} // hidden entries found: not the run's
	for _, e := range ents {
		if !strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(e.Name, "_") {
			visible = append(visible, e)
		} else {
			kept[e.Name] = true
		}
	}
	aside := ""
	if len(visible) > 0 {
		if !overwrite {
			return done, fmt.Errorf("%w: %s is not empty (%d entries): choose another directory, or replace its files with -D floe.output.overwrite=true",
				ErrOutputExists, dir, len(visible))
		}
		aside = fsy.Join(p, fmt.Sprintf("%s%d", asidePrefix, time.Now().UnixNano()))
		if err := moveAll(ctx, fsy, p, aside, visible); err != nil {
			return done, fmt.Errorf("output %s: move the earlier files aside: %w", dir, err)
		}
	}
	restore := func() error {
		if aside == "" {
			return nil
		}
		back, err := fsy.List(ctx, aside)
		if err == nil {
			err = moveAll(ctx, fsy, aside, p, back)
		}
		if err == nil {
			err = fsy.RemoveAll(ctx, aside)
		}
		return err
	}
	if err := fsys.ProbeWrite(ctx, fsy, p); err != nil {
		return done, errors.Join(fmt.Errorf("output %s is not writable: %w", dir, err), restore())
	}
	return func(succeeded bool) error {
		if succeeded {
			if aside != "" {
				return fsy.RemoveAll(ctx, aside)
			}
			return nil
		}
		now, err := fsy.List(ctx, p)
		if err != nil {
			return err
		}
		for _, e := range now { // the failed run's files, published or not
			if !kept[e.Name] && fsy.Join(p, e.Name) != aside {
				if err := fsy.RemoveAll(ctx, fsy.Join(p, e.Name)); err != nil {
					return err
				}
			}
		}
		return restore()
	}, nil
}

// moveAll moves ents of from into to.
func moveAll(ctx context.Context, fsy fsys.FS, from, to string, ents []fsys.FileInfo) error {
	if err := fsy.MkdirAll(ctx, to); err != nil {
		return err
	}
	for _, e := range ents {
		if err := fsy.Rename(ctx, fsy.Join(from, e.Name), fsy.Join(to, e.Name)); err != nil {
			return err
		}
	}
	return nil
}

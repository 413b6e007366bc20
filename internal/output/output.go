// Package output is the life of a job's output directory. Before the job
// is submitted, in the client, Prepare refuses an earlier run's output
// unless asked to replace it, and then moves the earlier files aside until
// the job's outcome is known; it is the one place that does this:
// datastream's file sinks (and so dataset's, and the built-in jobs') go
// through it. While the job runs, sink subtasks leave their last parts
// under hidden names (ReadyName), and when the job has ended the JobManager
// publishes or removes them all at once (Settle).
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

	"floe/internal/fsys"
)

// Sentinel errors of Prepare.
var (
	// ErrUnusable is wrapped by every refusal of an output directory.
	ErrUnusable = errors.New("output unusable")
	// ErrExists is wrapped (with ErrUnusable) when an output directory
	// holds files and replacing them was not asked for.
	ErrExists = errors.New("output exists")
)

// existsError is the refusal of a non-empty output: its message, wrapping ErrExists.
type existsError string

func (e existsError) Error() string   { return string(e) }
func (e existsError) Unwrap() []error { return []error{ErrExists, ErrUnusable} }

// unusable marks err as a refusal (ErrUnusable) without changing its message.
type unusable struct{ err error }

func (e unusable) Error() string   { return e.err.Error() }
func (e unusable) Unwrap() []error { return []error{e.err, ErrUnusable} }

// replacedPrefix names the hidden directory the earlier files of an output
// wait in while a run that replaces them goes on.
const replacedPrefix = ".floe-replaced-"

// Visible tells whether a file of an output directory is output: readers
// skip names starting with "." (in-progress and set-aside files) or "_".
func Visible(name string) bool {
	return !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// Prepare checks, before a job starts, that dir can be written and holds no
// visible files (see Visible). A directory that holds some is refused with
// an error wrapping ErrExists, one line, unless overwrite. With overwrite,
// the earlier files are moved into a hidden directory of dir, so that the
// output never mixes two runs; files a replacing run that died set aside
// are the earlier output too and are removed.
//
// The caller calls done with the job's outcome. When it succeeded, the
// earlier files are removed; when it failed, what the run wrote (published
// or not) is removed and the earlier files are moved back, so that a failed
// run leaves the output as it found it. done is never nil; its calls use
// ctx, so it must not have ended yet.
func Prepare(ctx context.Context, dir string, overwrite bool) (done func(succeeded bool) error, err error) {
	done = func(bool) error { return nil }
	fsy, p, err := fsys.Resolve(dir)
	if err != nil {
		return done, reachErr(dir, err)
	}
	ents, err := fsy.List(ctx, p)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return done, reachErr(dir, err)
	}
	var visible, deadAside []fsys.FileInfo
	kept := map[string]bool{} // hidden entries found: not the run's
	for _, e := range ents {
		switch {
		case Visible(e.Name):
			visible = append(visible, e)
		case strings.HasPrefix(e.Name, replacedPrefix):
			deadAside = append(deadAside, e)
		default:
			kept[e.Name] = true
		}
	}
	if !overwrite {
		if len(visible) > 0 {
			return done, existsError(fmt.Sprintf("output %s exists and is not empty (%d entries): choose another directory, or replace its files with -D floe.output.overwrite=true",
				dir, len(visible)))
		}
		for _, e := range deadAside {
			kept[e.Name] = true
		}
	} else {
		for _, e := range deadAside {
			if err := fsy.RemoveAll(ctx, fsy.Join(p, e.Name)); err != nil {
				return done, unusable{fmt.Errorf("output %s: remove the files an earlier run set aside (%s): %w", dir, e.Name, err)}
			}
		}
	}
	aside := ""
	if len(visible) > 0 {
		aside = fsy.Join(p, fmt.Sprintf("%s%d", replacedPrefix, time.Now().UnixNano()))
		if err := moveAll(ctx, fsy, p, aside, visible); err != nil {
			return done, unusable{errors.Join(fmt.Errorf("output %s: move the earlier files aside: %w", dir, err), restoreFrom(ctx, fsy, aside, p))}
		}
	}
	if err := fsys.ProbeWrite(ctx, fsy, p); err != nil {
		rerr := restoreFrom(ctx, fsy, aside, p)
		if !existed {
			_ = fsy.RemoveAll(ctx, p) // leave no directory behind for a run that did not start
		}
		if rerr != nil {
			return done, unusable{errors.Join(writeErr(dir, err), rerr)}
		}
		return done, writeErr(dir, err)
	}
	return func(succeeded bool) error {
		if succeeded {
			if aside != "" {
				if err := fsy.RemoveAll(ctx, aside); err != nil {
					return fmt.Errorf("output %s: remove the earlier files: %w", dir, err)
				}
			}
			return nil
		}
		now, err := fsy.List(ctx, p)
		if err != nil {
			return fmt.Errorf("output %s: list what the failed run wrote: %w", dir, err)
		}
		for _, e := range now { // the failed run's files, published or not
			if !kept[e.Name] && fsy.Join(p, e.Name) != aside {
				if err := fsy.RemoveAll(ctx, fsy.Join(p, e.Name)); err != nil {
					return fmt.Errorf("output %s: remove %s of the failed run: %w", dir, e.Name, err)
				}
			}
		}
		if err := restoreFrom(ctx, fsy, aside, p); err != nil {
			return fmt.Errorf("output %s: move the earlier files back: %w", dir, err)
		}
		return nil
	}, nil
}

// restoreFrom moves the files of aside (if not "") back into p and removes aside.
func restoreFrom(ctx context.Context, fsy fsys.FS, aside, p string) error {
	if aside == "" {
		return nil
	}
	back, err := fsy.List(ctx, aside)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = moveAll(ctx, fsy, aside, p, back)
	}
	if err == nil {
		err = fsy.RemoveAll(ctx, aside)
	}
	return err
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

// unreachable tells a filesystem that cannot be reached from one that refuses.
func unreachable(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED)
}

func reachErr(dir string, err error) error {
	if unreachable(err) {
		return unusable{fmt.Errorf("output %s: cannot reach its filesystem: %w", dir, err)}
	}
	return unusable{fmt.Errorf("output %s: %w", dir, err)}
}

func writeErr(dir string, err error) error {
	if unreachable(err) {
		return unusable{fmt.Errorf("output %s: cannot reach its filesystem: %w", dir, err)}
	}
	return unusable{fmt.Errorf("output %s is not writable: %w", dir, err)}
}

// readyInfix joins a part's final name and its job in the hidden name the
// part waits under until the job has finished.
const readyInfix = ".ready-"

// ReadyName is the hidden name under which a sink subtask of job leaves a
// finished part whose published name is final ("part-<subtask>-<n>"): a
// bounded sink's last parts wait there until the JobManager publishes them
// all (Settle) when the whole job has finished, so that nobody reads part
// of a result, and a failed job leaves none.
func ReadyName(final, job string) string { return "." + final + readyInfix + job }

// readyFinal returns the final name of name, a ReadyName of job.
func readyFinal(name, job string) (string, bool) {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return "", false
	}
	final, ok := strings.CutSuffix(rest, readyInfix+job)
	return final, ok && final != "" && !strings.Contains(final, "/")
}

// Settle ends the parts job left waiting in dir (see ReadyName): when the
// job succeeded it renames them to their final names, else it removes
// them. A directory that does not exist holds none. It returns how many
// parts it settled.
func Settle(ctx context.Context, dir, job string, succeeded bool) (int, error) {
	fsy, p, err := fsys.Resolve(dir)
	if err != nil {
		return 0, fmt.Errorf("output %s: %w", dir, err)
	}
	ents, err := fsy.List(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("output %s: list the parts to publish: %w", dir, err)
	}
	n := 0
	for _, e := range ents {
		final, ok := readyFinal(e.Name, job)
		if !ok {
			continue
		}
		from := fsy.Join(p, e.Name)
		if succeeded {
			if err := fsy.Rename(ctx, from, fsy.Join(p, final)); err != nil {
				return n, fmt.Errorf("output %s: publish %s: %w", dir, final, err)
			}
		} else if err := fsy.RemoveAll(ctx, from); err != nil {
			return n, fmt.Errorf("output %s: remove the unpublished %s: %w", dir, final, err)
		}
		n++
	}
	return n, nil
}

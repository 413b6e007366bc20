// Package jobs holds the jobs built into the floe binary.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"floe/datastream"
)

// ErrUsage is wrapped by errors in a job's arguments (exit code 2).
var ErrUsage = errors.New("usage")

// Job is a built-in job.
type Job struct {
	Name  string
	Usage string // one line: the arguments
	// Run builds the job on env from args and executes it; it writes any
	// summary for the user to stdout.
	Run func(ctx context.Context, env *datastream.Environment, args []string, stdout io.Writer) error
}

var builtins = []Job{wordCount, keyedCount, nexmarkJob, tpchJob}

// Lookup returns the built-in job called name.
func Lookup(name string) (Job, bool) {
	i := slices.IndexFunc(builtins, func(j Job) bool { return j.Name == name })
	if i < 0 {
		return Job{}, false
	}
	return builtins[i], true
}

// Names lists the built-in jobs.
func Names() []string {
	var names []string
	for _, j := range builtins {
		names = append(names, j.Name)
	}
	return names
}

// Help describes the built-in jobs for --help.
func Help() string {
	var b strings.Builder
	for _, j := range builtins {
		fmt.Fprintf(&b, "   %s %s\n", j.Name, j.Usage)
	}
	return b.String()
}

func usageErr(job, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrUsage, job, trimPrefixes(fmt.Sprintf(format, args...), job))
}

// usageWrap makes err, a job package's own usage error, one of ErrUsage,
// still matching what it wraps, and said once: "usage: tpch: unknown
// query", not "usage: tpch: usage: tpch: unknown query".
func usageWrap(job string, err error) error {
	return &usageError{msg: ErrUsage.Error() + ": " + job + ": " + trimPrefixes(err.Error(), job), err: err}
}

type usageError struct {
	msg string
	err error
}

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Unwrap() []error { return []error{ErrUsage, e.err} }

// trimPrefixes drops the "<job>: " and "usage: " prefixes that the job's
// own packages put in front of their messages.
func trimPrefixes(msg, job string) string {
	for {
		rest, ok := strings.CutPrefix(msg, job+": ")
		if !ok {
			rest, ok = strings.CutPrefix(msg, ErrUsage.Error()+": ")
		}
		if !ok {
			return msg
		}
		msg = rest
	}
}

// outputErr makes the refusal of an output (datastream's check of every
// file sink in the client, before the job runs) a usage error, naming the
// jobs' --overwrite flag for a non-empty one; other errors stay as they are.
func outputErr(job string, err error) error {
	switch {
	case errors.Is(err, datastream.ErrOutputExists):
		return usageErr(job, "%v, or --overwrite", err)
	case errors.Is(err, datastream.ErrOutput):
		return usageErr(job, "%v", err)
	}
	return err
}

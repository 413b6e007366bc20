// Command floe runs batch and stream jobs locally and on YARN.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"floe/client"
	"floe/internal/launch"
	"floe/internal/logging"
	"floe/internal/role"
)

// Exit codes, meaningful to schedulers.
const (
	exitOK          = 0
	exitJobFailed   = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The processes of a yarn-session's containers have no job of their own:
	// their role starts them here, before any command line is read.
	if r, err := role.Current(); err != nil || r.Service() {
		if _, err := launch.Execute(ctx, nil, logging.Default()); err != nil {
			fmt.Fprintln(os.Stderr, "floe:", err)
		}
		stop()
		os.Exit(exitUsage)
	}
	code := run(ctx, os.Args)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	app := newApp()
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	code := exitCode(ctx, err)
	if msg := oneLine(err); msg != "" { // a job binary's exit status carries no message: it printed its own
		fmt.Fprintln(os.Stderr, "floe: "+msg)
	}
	return code
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "floe",
		Usage: "run batch and stream jobs on Hadoop YARN, or locally",
		Description: "floe runs jobs written against its DataStream API: built-in jobs (see 'floe run --help')\n" +
			"or job binaries. -t local runs everything in this process; exit codes: 0 success,\n" +
			"1 job failed, 2 usage error, 130 interrupted.",
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{runCommand(), yarnSessionCommand(), listCommand(), cancelCommand(),
			savepointCommand(), stopCommand(), versionCommand(), yarnInfoCommand()},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		CommandNotFound: func(_ *cli.Context, name string) {},
		ExitErrHandler:  func(*cli.Context, error) {}, // run() prints and exits
	}
	app.CommandNotFound = nil
	app.Action = func(c *cli.Context) error {
		if c.Args().Present() {
			return usageError{fmt.Errorf("unknown command %q (try 'floe --help')", c.Args().First())}
		}
		return cli.ShowAppHelp(c)
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = app.OnUsageError
	}
	return app
}

// usageError marks errors in how floe was called.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func exitCode(ctx context.Context, err error) int {
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ec):
		return ec.ExitCode()
	case errors.As(err, new(usageError)):
		return exitUsage
	case errors.Is(err, client.ErrJobCanceled) && ctx.Err() != nil, errors.Is(err, context.Canceled):
		return exitInterrupted
	case isUsage(err):
		return exitUsage
	}
	return exitJobFailed
}

// oneLine keeps the first line: errors are for people reading a terminal or a scheduler's log.
func oneLine(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "\n", "; ")
	return s
}

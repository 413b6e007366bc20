package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"floe/config"
	"floe/internal/logging"
	"floe/internal/submit"
)

func yarnSessionCommand() *cli.Command {
	return &cli.Command{
		Name:  "yarn-session",
		Usage: "start a long-running session cluster on YARN that takes many jobs",
		Description: "Attached, the session runs until Ctrl-C; detached (-d), floe prints the application id and\n" +
			"returns. Jobs go to the last session started (or -yid) with 'floe run -t yarn-session <job>'.\n" +
			"TaskManager containers are requested when jobs need them and kept for reuse.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detached", Aliases: []string{"d"}, Usage: "return once the session runs"},
			&cli.StringFlag{Name: "name", Aliases: []string{"nm"}, Usage: "YARN application name"},
			&cli.StringFlag{Name: "queue", Aliases: []string{"qu"}, Usage: "YARN queue"},
			&cli.IntFlag{Name: "slots", Aliases: []string{"s"}, Value: 1, Usage: "task slots per TaskManager container"},
			&cli.StringFlag{Name: "taskmanager-memory", Aliases: []string{"tm"}, Value: "512m", Usage: "TaskManager container memory"},
			&cli.StringFlag{Name: "jobmanager-memory", Aliases: []string{"jm"}, Value: "512m", Usage: "JobManager container memory"},
			&cli.StringSliceFlag{Name: "D", Usage: "configuration `key=value` (repeatable)"},
		},
		Subcommands: []*cli.Command{{
			Name:  "stop",
			Usage: "stop a session (its jobs are cancelled)",
			Flags: []cli.Flag{&cli.StringFlag{Name: "yid", Usage: "the session's `application id` (default: the last one started)"}},
			Action: func(c *cli.Context) error {
				ctx, cancel := context.WithTimeout(c.Context, time.Minute)
				defer cancel()
				if err := submit.StopSession(ctx, c.String("yid"), logging.Default()); err != nil {
					return cli.Exit("yarn-session stop: "+err.Error(), 1)
				}
				fmt.Fprintln(c.App.Writer, "session stopping")
				return nil
			},
		}},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError{fmt.Errorf("yarn-session: unexpected argument %q", c.Args().First())}
			}
			conf, err := config.ParseDynamic(c.StringSlice("D"))
			if err != nil {
				return usageError{err}
			}
			if c.Int("slots") < 1 {
				return usageError{fmt.Errorf("-s %d: slots must be at least 1", c.Int("slots"))}
			}
			conf = conf.With(config.Slots, strconv.Itoa(c.Int("slots"))).
				With(config.TaskManagerMemory, c.String("taskmanager-memory")).
				With(config.JobManagerMemory, c.String("jobmanager-memory"))
			for flag, key := range map[string]string{"name": config.YarnName, "queue": config.YarnQueue} {
				if c.IsSet(flag) {
					conf = conf.With(key, c.String(flag))
				}
			}
			if err := submit.ValidateConfig(conf); err != nil {
				return usageError{err}
			}
			return submit.StartSession(c.Context, conf, logging.Default(), c.Bool("detached"))
		},
	}
}

func cancelCommand() *cli.Command {
	return &cli.Command{
		Name:      "cancel",
		Usage:     "cancel a job on YARN (-yid: its application; default: the last session)",
		ArgsUsage: "<job-id>",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "yid", Usage: "the session's `application id` (default: the last one started)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{fmt.Errorf("cancel: want one <job-id>")}
			}
			ctx, cancel := context.WithTimeout(c.Context, time.Minute)
			defer cancel()
			info, err := submit.CancelJob(ctx, c.String("yid"), c.Args().First(), logging.Default())
			if err != nil {
				return jobCommandError("cancel", c.Args().First(), err)
			}
			fmt.Fprintf(c.App.Writer, "Cancelled job %s (%s)\n", info.ID, info.Status)
			return nil
		},
	}
}

func savepointCommand() *cli.Command {
	return &cli.Command{
		Name:      "savepoint",
		Usage:     "take a savepoint of a job on YARN (a session's or a per-job application's: -yid)",
		ArgsUsage: "<job-id> [savepoint-dir]",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "yid", Usage: "the session's `application id` (default: the last one started)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageError{fmt.Errorf("savepoint: want <job-id> [savepoint-dir]")}
			}
			ctx, cancel := context.WithTimeout(c.Context, 10*time.Minute)
			defer cancel()
			path, err := submit.Savepoint(ctx, c.String("yid"), c.Args().Get(0), c.Args().Get(1), false, logging.Default())
			if err != nil {
				return jobCommandError("savepoint", c.Args().Get(0), err)
			}
			fmt.Fprintf(c.App.Writer, "Savepoint completed. Path: %s\n", path)
			return nil
		},
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop a job on YARN with a savepoint (-yid: its application)",
		ArgsUsage: "<job-id>",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "yid", Usage: "the session's `application id` (default: the last one started)"},
			&cli.StringFlag{Name: "savepoint-path", Aliases: []string{"p"}, Usage: "savepoint `dir` (default: the job's configured savepoint directory)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{fmt.Errorf("stop: want one <job-id>")}
			}
			ctx, cancel := context.WithTimeout(c.Context, 10*time.Minute)
			defer cancel()
			path, err := submit.Savepoint(ctx, c.String("yid"), c.Args().First(), c.String("savepoint-path"), true, logging.Default())
			if err != nil {
				return jobCommandError("stop", c.Args().First(), err)
			}
			fmt.Fprintf(c.App.Writer, "Savepoint completed. Path: %s\n", path)
			return nil
		},
	}
}

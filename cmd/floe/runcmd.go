package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"floe/appmaster"
	"floe/config"
	"floe/datastream"
	"floe/internal/jobbin"
	"floe/internal/jobs"
	"floe/internal/logging"
	"floe/internal/role"
	"floe/internal/submit"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a job: a built-in job's name or the path to a job binary",
		ArgsUsage: "<job> [job arguments]",
		Description: "Built-in jobs:\n" + jobs.Help() + "\n" +
			"Examples:\n" +
			"   floe run -p 2 wordcount --input README.md\n" +
			"   floe run -D execution.buffer-timeout=10ms ./my-job --flag value",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "target", Aliases: []string{"t"}, Value: "local", Usage: "where to run: local, yarn-per-job (alias yarn-application), yarn-session"},
			&cli.BoolFlag{Name: "detached", Aliases: []string{"d"}, Usage: "YARN: print the application and job ids and exit"},
			&cli.StringFlag{Name: "jobmanager-memory", Aliases: []string{"jm"}, Usage: "YARN: JobManager container memory, e.g. 512m"},
			&cli.StringFlag{Name: "taskmanager-memory", Aliases: []string{"tm"}, Usage: "YARN: TaskManager container memory, e.g. 1g"},
			&cli.IntFlag{Name: "slots", Usage: "task slots per TaskManager"},
			&cli.StringFlag{Name: "s", Usage: "a number: task slots per TaskManager (as --slots); a path: start from that savepoint (as --fromSavepoint)"},
			&cli.StringFlag{Name: "queue", Aliases: []string{"qu"}, Usage: "YARN queue"},
			&cli.StringFlag{Name: "name", Aliases: []string{"nm"}, Usage: "YARN application name"},
			&cli.DurationFlag{Name: "timeout", Usage: "cancel the job (YARN: kill the application) and exit 1 if it runs longer"},
			&cli.StringFlag{Name: "yid", Aliases: []string{"yarnapplicationId"}, Usage: "yarn-session: the session's `application id` (default: the last one started)"},
			&cli.StringFlag{Name: "fromSavepoint", Usage: "start from the savepoint or retained checkpoint at `path`"},
			&cli.BoolFlag{Name: "allowNonRestoredState", Aliases: []string{"n", "allow-non-restored-state"}, Usage: "with -s: drop state of operators the job no longer has"},
			&cli.IntFlag{Name: "web-port", Usage: "local: serve the JobManager's REST interface and dashboard on this `port` for the run (0: any; as -D rest.port)"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON summary of the run on stdout when it ends"},
			&cli.IntFlag{Name: "parallelism", Aliases: []string{"p"}, Usage: "default parallelism of the job's operators"},
			&cli.StringSliceFlag{Name: "D", Usage: "configuration `key=value` (repeatable), e.g. -D execution.buffer-timeout=10ms"},
			&cli.StringFlag{Name: "log-level", Value: "", Usage: "debug, info, warn or error (default warn; or FLOE_LOG_LEVEL)"},
		},
		Action: runAction,
	}
}

func runAction(c *cli.Context) error {
	if !c.Args().Present() {
		return usageError{errors.New("run: missing <job> (a built-in job: " + strings.Join(jobs.Names(), ", ") + "; or a path to a job binary)")}
	}
	conf, err := config.ParseDynamic(c.StringSlice("D"))
	if err != nil {
		return usageError{err}
	}
	if c.IsSet("parallelism") {
		p := c.Int("parallelism")
		if p < 1 {
			return usageError{fmt.Errorf("-p %d: parallelism must be at least 1", p)}
		}
		conf = conf.With(config.Parallelism, strconv.Itoa(p))
	}
	switch t := c.String("target"); t {
	case "local", "yarn-per-job", "yarn-application", "yarn-session":
		conf = conf.With(config.Target, t)
	default:
		return usageError{fmt.Errorf("-t %q: unknown target (local, yarn-per-job, yarn-application, yarn-session)", t)}
	}
	if c.IsSet("yid") {
		conf = conf.With(config.SessionID, c.String("yid"))
	}
	for flag, key := range map[string]string{"jobmanager-memory": config.JobManagerMemory, "taskmanager-memory": config.TaskManagerMemory,
		"queue": config.YarnQueue, "name": config.YarnName} {
		if c.IsSet(flag) {
			conf = conf.With(key, c.String(flag))
		}
	}
	if c.IsSet("slots") {
		conf = conf.With(config.Slots, strconv.Itoa(c.Int("slots")))
	}
	if v := c.String("s"); v != "" { // Flink's -s is a savepoint; floe's YARN -s is slots: a number is slots
		if n, err := strconv.Atoi(v); err == nil {
			if n < 1 {
				return usageError{fmt.Errorf("-s %d: slots must be at least 1", n)}
			}
			conf = conf.With(config.Slots, v)
		} else {
			conf = conf.With(appmaster.KeySavepointPath, v)
		}
	}
	if c.Bool("detached") {
		conf = conf.With(config.Attached, "false")
	}
	if c.IsSet("fromSavepoint") {
		conf = conf.With(appmaster.KeySavepointPath, c.String("fromSavepoint"))
	}
	if c.Bool("allowNonRestoredState") {
		conf = conf.With(appmaster.KeyAllowNonRestored, "true")
	}
	if c.Bool("json") {
		conf = conf.With(config.JSONSummary, "true")
	}
	if c.IsSet("web-port") {
		conf = conf.With(config.RESTPort, strconv.Itoa(c.Int("web-port")))
	}
	if c.IsSet("timeout") {
		conf = conf.With(config.JobTimeout, c.Duration("timeout").String())
	}
	// Before any job code runs: values floe reads are checked, and keys it
	// does not know under its own prefixes are named (an error with floe.config.strict).
	if err := submit.ValidateConfig(conf); err != nil {
		return usageError{err}
	}
	warnings, err := config.Unknown(conf)
	if err != nil {
		return usageError{err}
	}
	for _, w := range warnings {
		if r, _ := role.Current(); r != role.Client {
			break // the client warned; the processes it started run the same command line
		}
		fmt.Fprintln(c.App.ErrWriter, "floe: warning: "+w)
	}
	log := logging.Default()
	if lv := c.String("log-level"); lv != "" {
		log = log.Level(logging.Level(lv, log.GetLevel()))
		conf = conf.With(config.LogLevel, lv)
	}

	name, args := c.Args().First(), c.Args().Tail()
	if job, ok := jobs.Lookup(name); ok {
		env := datastream.NewEnvironment(datastream.WithConfig(conf), datastream.WithLogger(log))
		return job.Run(c.Context, env, args, c.App.Writer)
	}
	return runBinary(c, name, args, conf)
}

// runBinary runs a job binary as the client, handing it the configuration.
func runBinary(c *cli.Context, path string, args []string, conf config.Config) error {
	if !strings.ContainsRune(path, os.PathSeparator) {
		if _, err := os.Stat(path); err != nil {
			return usageError{fmt.Errorf("unknown job %q: not a built-in job (%s) nor a file", path, strings.Join(jobs.Names(), ", "))}
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return usageError{fmt.Errorf("job binary %s: %w", path, errors.Unwrap(err))}
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return usageError{fmt.Errorf("job binary %s: not an executable file", path)}
	}
	js, err := json.Marshal(conf)
	if err != nil {
		return err
	}
	// Before it runs or anything is submitted, on every target: is it a floe job at all?
	if err := jobbin.Probe(c.Context, path, args, string(js)); err != nil {
		return usageError{err}
	}
	cmd := exec.CommandContext(c.Context, path, args...)
	cmd.Env = append(os.Environ(), role.EnvConfig+"="+string(js))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.App.Writer, c.App.ErrWriter
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cli.Exit("", ee.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("run job binary %s: %w", path, err)
	}
	return nil
}

func isUsage(err error) bool {
	return errors.Is(err, jobs.ErrUsage) || errors.Is(err, config.ErrInvalid) || errors.Is(err, appmaster.ErrGraphMismatch) ||
		errors.Is(err, appmaster.ErrNotRecoverable) || errors.Is(err, submit.ErrRefused)
}

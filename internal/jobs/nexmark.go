package jobs

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"floe/datastream"
	"floe/internal/nexmark"
	"floe/internal/nexmark/queries"
)

var nexmarkJob = Job{
	Name: "nexmark",
	Usage: "--query q0|q1|q2|q3|q4|q5|q7|q8|q11|q12 [--events N] [--rate R] [--event-rate E] [--seed S] [--sink blackhole|file --output <dir> [--overwrite]] [--sink-delay D] [--cpuprofile F] [--memprofile F]: " +
		"a Nexmark query over N generated events (default 1000000; 0: unbounded), R per second (0: as fast as possible), " +
		"event times E per second apart (default R, else 10000); locally, CPU and allocation profiles of the run to F",
	Run: runNexmark,
}

func runNexmark(ctx context.Context, env *datastream.Environment, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("nexmark", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	query := fs.String("query", "", "the query: "+strings.Join(queries.Names(), ", "))
	events := fs.Int64("events", 1_000_000, "number of events (0: unbounded)")
	rate := fs.Float64("rate", 0, "events per second over all subtasks (0: as fast as possible)")
	eventRate := fs.Float64("event-rate", 0, "events per second of event time (default: --rate, else 10000)")
	seed := fs.Uint64("seed", 0, "generator seed")
	sink := fs.String("sink", "blackhole", "blackhole or file")
	output := fs.String("output", "", "output directory (with --sink file)")
	overwrite := fs.Bool("overwrite", false, "replace the output directory's files")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the job's execution to this file (local target)")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the process to this file when the job ends (local target)")
	sinkDelay := fs.Duration("sink-delay", 0, "wait this long per result before the sink (a slow sink, to see back-pressure)")
	if err := fs.Parse(args); err != nil {
		return usageErr("nexmark", "%v", err)
	}
	gen := nexmark.DefaultConfig()
	gen.Seed = *seed
	switch {
	case *eventRate > 0:
		gen.EventRate = *eventRate
	case *rate > 0:
		gen.EventRate = *rate
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("nexmark", "unexpected argument %q", fs.Arg(0))
	case *query == "":
		return usageErr("nexmark", "--query is required (%s)", strings.Join(queries.Names(), ", "))
	case *events < 0 || *rate < 0 || *eventRate < 0:
		return usageErr("nexmark", "--events, --rate and --event-rate must not be negative")
	case *sink != "blackhole" && *sink != "file":
		return usageErr("nexmark", "--sink %q: want blackhole or file", *sink)
	case *sink == "file" && *output == "":
		return usageErr("nexmark", "--sink file needs --output <dir>")
	case *sink == "blackhole" && *output != "":
		return usageErr("nexmark", "--output needs --sink file")
	case *sinkDelay < 0:
		return usageErr("nexmark", "--sink-delay must not be negative")
	}
	write := queries.Discard
	if *sinkDelay > 0 {
		write = queries.Throttled(*sinkDelay)
	}
	if *sink == "file" {
		write = queries.JSONFiles(*output, *overwrite)
		if *sinkDelay > 0 {
			write = queries.ThrottledJSONFiles(*output, *overwrite, *sinkDelay)
		}
	}
	o := queries.Options{Query: *query, Events: *events, Rate: *rate, Gen: gen}
	if err := queries.Build(env, o, write); err != nil {
		return usageErr("nexmark", "%v", err)
	}
	stop, err := startProfiles(*cpuProfile, *memProfile)
	if err != nil {
		return err
	}
	res, err := env.Execute(ctx, "nexmark "+*query)
	err = outputErr("nexmark", err)
	if perr := stop(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	if res != nil && *events > 0 && res.Duration > 0 {
		fmt.Fprintf(stdout, "nexmark %s: %d events in %s (%.0f events/s)\n", *query, *events,
			res.Duration.Round(time.Millisecond), float64(*events)/res.Duration.Seconds())
	}
	return nil
}

// startProfiles starts a CPU profile to cpu (if not empty) and returns the
// function that stops it and writes the allocation profile to mem (if not
// empty). Both cover this process: the whole job at the local target.
func startProfiles(cpu, mem string) (stop func() error, err error) {
	var cpuFile *os.File
	if cpu != "" {
		if cpuFile, err = os.Create(cpu); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.Close()
			return nil, fmt.Errorf("start cpu profile %s: %w", cpu, err)
		}
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.Close(); err != nil {
				return fmt.Errorf("cpu profile %s: %w", cpu, err)
			}
		}
		if mem == "" {
			return nil
		}
		f, err := os.Create(mem)
		if err != nil {
			return fmt.Errorf("allocation profile: %w", err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return fmt.Errorf("write allocation profile %s: %w", mem, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("allocation profile %s: %w", mem, err)
		}
		return nil
	}, nil
}

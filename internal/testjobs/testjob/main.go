// Command testjob is a job binary of its own (not built into floe) for the
// integration tests: a generator of numbered records through a map into text
// part files, or a job whose operator always fails (--fail), or a BATCH job of
// three stages (--stages K: a generator at parallelism 1, sums of K keys,
// and a slow last stage) for the stage-recovery test, or a keyed job whose
// state outgrows its TaskManager's memory (--bigstate-keys).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"floe/client"
	"floe/datastream"
)

func main() {
	events := flag.Int64("events", 1000, "records to generate (0: unbounded)")
	rate := flag.Float64("rate", 0, "records per second (0: as fast as possible)")
	output := flag.String("output", "", "output directory (none: discard)")
	fail := flag.Bool("fail", false, "make the map operator fail on every record")
	firstRecord := flag.String("first-record-file", "", "write the wall-clock time (ns) of the first record processed here")
	delay := flag.Duration("delay", 0, "wait this long before building the graph (a job slower than the client's probe)")
	unstable := flag.Bool("unstable-name", false, "name the map operator after the clock: every process builds another graph (breaks datastream's rules on purpose)")
	stages := flag.Int64("stages", 0, "run the three-stage BATCH job over this many keys")
	stageDelay := flag.Duration("stage-delay", 0, "--stages: time the last stage takes per record")
	input := flag.String("input", "", "read these CSV files of one number a line (splits handed out on demand) instead of generating")
	splitSize := flag.Int64("split-size", 0, "--input: bytes per split (0: the default)")
	recordDelay := flag.Duration("record-delay", 0, "--input: time each record takes")
	bigKeys := flag.Int64("bigstate-keys", 0, "run the large-state job over this many keys (bigstate.go)")
	valueBytes := flag.Int64("value-bytes", 200, "--bigstate-keys: bytes of each key's value")
	sample := flag.Int64("sample", 1000, "--bigstate-keys: checked keys that are multiples of this write their checksum out")
	stride := flag.Int64("read-stride", 1, "--bigstate-keys: check every stride-th key")
	readRate := flag.Float64("read-rate", 0, "--bigstate-keys: checks per second (0: as fast as possible)")
	flag.Parse()
	time.Sleep(*delay)
	if *bigKeys > 0 {
		runBigState(*bigKeys, *valueBytes, *sample, *stride, *readRate, *output)
		return
	}
	if *stages > 0 {
		runStages(*events, *stages, *stageDelay, *output)
		return
	}
	if *input != "" {
		runInput(*input, *splitSize, *recordDelay, *output)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := datastream.NewEnvironment()
	src := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: *events, RatePerSecond: *rate})
	var marked atomic.Bool
	out := datastream.Map(src.Rebalance(), func(v int64) string {
		if *firstRecord != "" && !marked.Swap(true) {
			// O_EXCL: the first subtask to get here wins.
			if f, err := os.OpenFile(*firstRecord, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintln(f, time.Now().UnixNano())
				f.Close()
			}
		}
		if *fail {
			panic(fmt.Sprintf("testjob: record %d rejected on purpose", v))
		}
		return "n" + strconv.FormatInt(v, 10)
	})
	if *unstable {
		out = out.Name(fmt.Sprintf("Label %d", time.Now().UnixNano()))
	} else {
		out = out.Name("Label")
	}
	if *output != "" {
		datastream.WriteText(out, *output, nil)
	} else {
		datastream.Discard(out)
	}
	_, err := env.Execute(ctx, "testjob")
	exit(err)
}

// runStages is generator (parallelism 1) -> keyBy -> sum -> rebalance ->
// a slow map -> text files "k<key>\t<sum>" of the numbers 0..events-1 by
// their remainder mod keys, in BATCH mode: three stages.
func runStages(events, keys int64, delay time.Duration, output string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := datastream.NewEnvironment()
	env.SetRuntimeMode(datastream.Batch)
	type kv struct {
		K, V int64
	}
	src := datastream.Generate(env, func(i int64) kv { return kv{i % keys, i} }, datastream.GeneratorOptions{Count: events}).SetParallelism(1)
	sums := datastream.KeyBy(src, func(r kv) int64 { return r.K }).Reduce(func(a, b kv) kv { a.V += b.V; return a })
	slow := datastream.Map(sums.Rebalance(), func(r kv) string {
		time.Sleep(delay)
		return "k" + strconv.FormatInt(r.K, 10) + "\t" + strconv.FormatInt(r.V, 10)
	}).Name("Slow")
	datastream.WriteText(slow, output, nil)
	_, err := env.Execute(ctx, "testjob-stages")
	exit(err)
}

// runInput is CSV files of one number a line -> a map taking delay a
// record -> text files of "n<number>", in the configured runtime mode.
func runInput(input string, splitSize int64, delay time.Duration, output string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := datastream.NewEnvironment()
	type num struct{ N int64 }
	src := datastream.ReadCSV[num](env, input, datastream.CSVOptions{FileOptions: datastream.FileOptions{SplitSize: splitSize}}).UID("input")
	out := datastream.Map(src, func(v num) string {
		time.Sleep(delay)
		return "n" + strconv.FormatInt(v.N, 10)
	}).Name("Label").UID("label")
	datastream.WriteText(out, output, nil).UID("sink")
	_, err := env.Execute(ctx, "testjob-input")
	exit(err)
}

func exit(err error) {
	switch {
	case err == nil:
	case errors.Is(err, client.ErrJobCanceled):
		fmt.Fprintln(os.Stderr, "testjob:", err)
		os.Exit(130)
	case errors.Is(err, client.ErrGraphMismatch): // the program breaks datastream's rules: a usage error
		fmt.Fprintln(os.Stderr, "testjob:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "testjob:", err)
		os.Exit(1)
	}
}

package jobs

import (
	"context"
	"flag"
	"io"
	"strconv"

	"floe/datastream"
)

var keyedCount = Job{
	Name:  "keyed-count",
	Usage: "--events N --keys K [--rate R] --output <dir> [--overwrite]: running count per key (ValueState) of N generated events (N=0: unbounded), written exactly once with checkpoints",
	Run:   runKeyedCount,
}

// KeyCount is a key and its running count.
type KeyCount struct {
	Key   string
	Count int64
}

func runKeyedCount(ctx context.Context, env *datastream.Environment, args []string, _ io.Writer) error {
	fs := flag.NewFlagSet("keyed-count", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	events := fs.Int64("events", 0, "number of events (0: unbounded)")
	keys := fs.Int64("keys", 10, "number of distinct keys")
	rate := fs.Float64("rate", 0, "events per second overall (0: as fast as possible)")
	output := fs.String("output", "", "output directory")
	overwrite := fs.Bool("overwrite", false, "replace the output directory's files")
	if err := fs.Parse(args); err != nil {
		return usageErr("keyed-count", "%v", err)
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("keyed-count", "unexpected argument %q", fs.Arg(0))
	case *events < 0 || *keys < 1 || *rate < 0:
		return usageErr("keyed-count", "--events must be >= 0, --keys >= 1 and --rate >= 0")
	case *output == "":
		return usageErr("keyed-count", "--output is required")
	}
	k := *keys
	src := datastream.Generate(env, func(i int64) string {
		return "k" + strconv.FormatInt(i%k, 10)
	}, datastream.GeneratorOptions{Count: *events, RatePerSecond: *rate}).UID("events")
	count := datastream.NewValueState[string, int64]("count")
	counts := datastream.Process(datastream.KeyBy(src, func(key string) string { return key }),
		func(ctx *datastream.KeyedContext[string], key string, emit func(KeyCount)) {
			n, _ := count.Value(ctx)
			n++
			count.Update(ctx, n)
			emit(KeyCount{Key: key, Count: n})
		}, count).UID("count")
	sink := datastream.WriteText(counts, *output, func(e KeyCount) string {
		return e.Key + "\t" + strconv.FormatInt(e.Count, 10)
	}).UID("sink")
	if *overwrite {
		sink.Overwrite()
	}
	_, err := env.Execute(ctx, "keyed-count")
	return outputErr("keyed-count", err)
}

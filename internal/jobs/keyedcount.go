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
	Usage: "--events N --keys K [--rate R] --output <dir>: running count per key of N generated events (N=0: unbounded)",
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
	if err := checkWritable(*output); err != nil {
		return usageErr("keyed-count", "output %s is not writable: %v", *output, err)
	}
	k := *keys
	src := datastream.Generate(env, func(i int64) KeyCount {
		return KeyCount{Key: "k" + strconv.FormatInt(i%k, 10), Count: 1}
	}, datastream.GeneratorOptions{Count: *events, RatePerSecond: *rate}).UID("events")
	counts := datastream.Sum(datastream.KeyBy(src, func(e KeyCount) string { return e.Key }),
		func(e *KeyCount) *int64 { return &e.Count }).UID("count")
	datastream.WriteText(counts, *output, func(e KeyCount) string {
		return e.Key + "\t" + strconv.FormatInt(e.Count, 10)
	}).UID("sink")
	_, err := env.Execute(ctx, "keyed-count")
	return err
}

package tpch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"floe/dataset"
	"floe/datastream"
)

// ErrUsage is wrapped by errors in the job's arguments.
var ErrUsage = errors.New("tpch: usage")

// Usage is the job's arguments, in one line.
const Usage = "--query q1|q3|q5|q6|q10|q12|q14|q18 --input <dir> --output <dir> [--overwrite]: a TPC-H query over a directory " +
	"with one entry per table (lineitem/ of Parquet or .tbl files, lineitem.parquet or lineitem.tbl), its answer as CSV in the query's column order"

// Run is `floe run tpch`: it builds the query's job on env's configuration
// and runs it.
func Run(ctx context.Context, env *datastream.Environment, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tpch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	query := fs.String("query", "", "the query: "+strings.Join(Names(), ", "))
	input := fs.String("input", "", "the directory of the tables")
	output := fs.String("output", "", "the directory the answer is written to")
	overwrite := fs.Bool("overwrite", false, "replace the output directory's files")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if *query == "" || *input == "" || *output == "" {
		return fmt.Errorf("%w: --query, --input and --output are required", ErrUsage)
	}
	q, err := Lookup(*query)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	// floe/dataset makes its own datastream environment: hand it the one
	// `floe run` configured (configuration, logger, parallelism).
	ds := dataset.NewEnvironment(datastream.WithConfig(env.Config()), datastream.WithLogger(env.Logger()))
	ds.SetParallelism(env.Parallelism())
	write, err := plans[q.Name](ds, *input)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	write(*output, *overwrite)
	res, err := ds.Execute(ctx, "tpch "+q.Name)
	if err != nil {
		return fmt.Errorf("tpch %s: %w", q.Name, err)
	}
	if res != nil {
		fmt.Fprintf(stdout, "tpch %s: answer in %s (%s)\n", q.Name, *output, res.Duration)
	}
	return nil
}

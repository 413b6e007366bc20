package datastream

import (
	"floe/internal/formats"
	"floe/internal/jobgraph"
)

// JobGraph is the graph Execute would run, for the tests of package datastream_test.
func JobGraph(e *Environment, name string) (*jobgraph.JobGraph, error) { return e.jobGraph(name) }

// TTLWithClock is ttl with a clock (epoch milliseconds) the test moves.
func TTLWithClock(ttl StateTTL, now func() int64) StateTTL { ttl.now = now; return ttl }

// ReadCSVHooked is ReadCSV with hook called before each record a source
// subtask emits, with the subtask and the record's split.
func ReadCSVHooked[T any](env *Environment, path string, opts CSVOptions, hook func(subtask, split int)) Stream[T] {
	f, err := formats.NewCSV[T](formats.CSVOptions{Delimiter: opts.Delimiter, Quote: opts.Quote,
		NoQuoting: opts.NoQuoting, Header: opts.Header, Columns: opts.Columns})
	return readFilesHooked[T](env, "CSV", path, f, err, opts.FileOptions, hook)
}

package dataset

import "floe/datastream"

// SinkOption configures a file sink.
type SinkOption func(*sinkConfig)

type sinkConfig struct {
	overwrite bool
	delim     rune
	header    bool
}

// Overwrite replaces the files of an earlier run in the output directory
// (as -D floe.output.overwrite=true does for every output of the job).
func Overwrite() SinkOption { return func(c *sinkConfig) { c.overwrite = true } }

// Delimiter sets WriteCSV's field separator (default ',').
func Delimiter(r rune) SinkOption { return func(c *sinkConfig) { c.delim = r } }

// Header makes WriteCSV write the column names first in each part file.
func Header() SinkOption { return func(c *sinkConfig) { c.header = true } }

func sinkOptions(opts []SinkOption) sinkConfig {
	c := sinkConfig{delim: ','}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// sink sets a sink to d's parallelism: an ordered data set (Sort, TopN) is
// written as one file.
func sink[T any](d DataSet[T], s datastream.Sink, c sinkConfig) datastream.Sink {
	if c.overwrite {
		s = s.Overwrite()
	}
	return s.SetParallelism(d.s.Parallelism())
}

// WriteCSV writes d as CSV part files (no header unless Header) in dir,
// local or hdfs://; it is datastream.WriteCSV: the fields of T (a struct;
// nested structs flattened) in declaration order, numbers as Go formats
// them, a time.Time at midnight UTC as YYYY-MM-DD and others as RFC 3339.
// Fields that hold the delimiter, a quote, a line break or a leading space
// are quoted (RFC 4180), and ReadCSV reads the files back. Every file sink of this package goes through
// datastream's part-file sinks: each subtask writes hidden in-progress
// files and publishes them as part-<subtask>-<n> when its input ends, and
// Execute refuses, in the client before anything runs, an output directory
// that holds files unless Overwrite (or -D floe.output.overwrite=true) is
// given.
func WriteCSV[T any](d DataSet[T], dir string, opts ...SinkOption) datastream.Sink {
	c := sinkOptions(opts)
	return sink(d, datastream.WriteCSV(d.s, dir, datastream.CSVSinkOptions{Delimiter: c.delim, Header: c.header}), c)
}

// WriteJSONLines writes d as one JSON object per line (encoding/json, so
// field tags apply), with WriteCSV's part files and checks.
func WriteJSONLines[T any](d DataSet[T], dir string, opts ...SinkOption) datastream.Sink {
	return sink(d, datastream.WriteJSON(d.s, dir), sinkOptions(opts))
}

// WriteParquet writes d as Parquet files (columns from T's fields), with
// WriteCSV's part files and checks.
func WriteParquet[T any](d DataSet[T], dir string, opts ...SinkOption) datastream.Sink {
	return sink(d, datastream.WriteParquet(d.s, dir), sinkOptions(opts))
}

// Collect gathers d in memory, for tests: it works in local jobs whose
// TaskManagers run in the client's process. Items returns the records of an
// ordered data set in order.
func Collect[T any](d DataSet[T]) *datastream.Collector[T] {
	c, s := datastream.Collect(d.s)
	sink(d, s, sinkConfig{})
	return c
}

package dataset

import "floe/datastream"

// ReadCSV is a data set of the records of delimited text files (a file, a
// directory's files or a glob's matches; file:// or hdfs://): datastream's
// ReadCSV, with its options and rules, read at the environment's
// parallelism. TPC-H's .tbl files read as they are with Delimiter '|'.
func ReadCSV[T any](env *Environment, path string, opts datastream.CSVOptions) DataSet[T] {
	return FromStream(env, datastream.ReadCSV[T](env.ds, path, opts))
}

// ReadJSONLines is a data set of JSON objects, one per line: datastream's
// ReadJSONLines.
func ReadJSONLines[T any](env *Environment, path string, opts datastream.JSONLinesOptions) DataSet[T] {
	return FromStream(env, datastream.ReadJSONLines[T](env.ds, path, opts))
}

// ReadParquet is a data set of the rows of Parquet files, one split per row
// group: datastream's ReadParquet.
func ReadParquet[T any](env *Environment, path string, opts datastream.ParquetOptions) DataSet[T] {
	return FromStream(env, datastream.ReadParquet[T](env.ds, path, opts))
}

package tpch

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
	"time"

	"floe/dataset"
	"floe/datastream"
)

// The TPC-H tables' columns in file order: .tbl files have no header.
var tableColumns = map[string][]string{
	"nation":   {"n_nationkey", "n_name", "n_regionkey", "n_comment"},
	"region":   {"r_regionkey", "r_name", "r_comment"},
	"part":     {"p_partkey", "p_name", "p_mfgr", "p_brand", "p_type", "p_size", "p_container", "p_retailprice", "p_comment"},
	"supplier": {"s_suppkey", "s_name", "s_address", "s_nationkey", "s_phone", "s_acctbal", "s_comment"},
	"partsupp": {"ps_partkey", "ps_suppkey", "ps_availqty", "ps_supplycost", "ps_comment"},
	"customer": {"c_custkey", "c_name", "c_address", "c_nationkey", "c_phone", "c_acctbal", "c_mktsegment", "c_comment"},
	"orders": {"o_orderkey", "o_custkey", "o_orderstatus", "o_totalprice", "o_orderdate", "o_orderpriority", "o_clerk",
		"o_shippriority", "o_comment"},
	"lineitem": {"l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity", "l_extendedprice", "l_discount",
		"l_tax", "l_returnflag", "l_linestatus", "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct",
		"l_shipmode", "l_comment"},
}

// ErrNoTable is wrapped when the input directory has no entry for a table
// a query reads.
var ErrNoTable = errors.New("tpch: table not found")

// tableFiles finds table's entry in the input directory: a directory of
// Parquet or .tbl files, <table>.parquet, or <table>.tbl. It reports
// whether the files are Parquet (by their names' ending).
func tableFiles(input, table string) (string, bool, error) {
	base := strings.TrimSuffix(input, "/") + "/"
	for _, p := range []string{base + table, base + table + ".parquet", base + table + ".tbl"} {
		files, err := datastream.ExpandPaths(p)
		if err != nil || len(files) == 0 {
			continue
		}
		parquet := strings.HasSuffix(path.Base(files[0]), ".parquet")
		for _, f := range files[1:] {
			if strings.HasSuffix(path.Base(f), ".parquet") != parquet {
				return "", false, fmt.Errorf("tpch: %s mixes Parquet and text files", p)
			}
		}
		return p, parquet, nil
	}
	return "", false, fmt.Errorf("%w: %s: no %s/, %s.parquet or %s.tbl in %s", ErrNoTable, table, table, table, table, input)
}

// read is a data set of table's rows as T (a struct naming the columns it
// needs in floe tags), from Parquet or '|'-separated .tbl files.
func read[T any](env *dataset.Environment, input, table string) (dataset.DataSet[T], error) {
	p, parquet, err := tableFiles(input, table)
	if err != nil {
		return dataset.DataSet[T]{}, err
	}
	ds := env.DataStream()
	var s datastream.Stream[T]
	if parquet {
		s = datastream.ReadParquet[T](ds, p, datastream.ParquetOptions{})
	} else {
		s = datastream.ReadCSV[T](ds, p, datastream.CSVOptions{Delimiter: '|', NoQuoting: true, Columns: tableColumns[table]})
	}
	return dataset.FromStream(env, s.Name("Source: "+table)), nil
}

// Decimal arithmetic: TPC-H's money and quantities are DECIMAL(15,2), read
// as floats and turned into exact integers of hundredths, so sums are exact
// to the cent as DuckDB's are. A product of a price and (1 - discount) is in
// units of 1e-4, and times (1 + tax) in units of 1e-6: int64 holds such sums
// up to about 9e12 dollars, far beyond scale 100.

// cents is x (two decimals) in hundredths.
func cents(x float64) int64 { return int64(math.Round(x * 100)) }

const (
	unit2 = 1e2
	unit4 = 1e4
	unit6 = 1e6
)

// date is a calendar date as a time.Time at midnight UTC, as the sources
// read them.
func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Package tpch is the built-in job `floe run tpch`: TPC-H queries 1, 3, 5,
// 6, 10, 12, 14 and 18 over a directory holding one entry per table
// (lineitem/ with Parquet or .tbl files, or lineitem.parquet, lineitem.tbl),
// their answers written as CSV in the query's column order, dates as
// YYYY-MM-DD.
//
// It also holds what checks those answers against DuckDB's (Compare): the
// tables and the reference answers come from TPC-H's own generator through
// DuckDB's tpch extension (scripts/tpch-env, scripts/tpch/tpch.py), never
// from floe. docs/tpch.md says how to run and what is compared.
package tpch

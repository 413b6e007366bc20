"""TPC-H data, reference answers and the DuckDB and Spark runs of floe's TPC-H
tests and benchmark (docs/tpch.md). Run with the Python of scripts/tpch-env.

  tpch.py gen --sf 0.1 --out DIR
      DuckDB's tpch extension (TPC-H's own dbgen) writes the eight tables as
      DIR/parquet/<table>.parquet and DIR/tbl/<table>.tbl ('|'-separated, no
      header, no quotes, no '|' after the last field), and DuckDB's answers to the queries floe runs as
      DIR/answers/q<N>.csv (a header, the query's column order). DIR appears
      whole or not at all: it is written beside and renamed.

  tpch.py run --engine duckdb|spark --data DIR/parquet --query N --threads T --out FILE
      One query over the Parquet tables, its answer written to FILE as CSV;
      prints a JSON line with the query's own time (without start-up).
"""

import argparse
import csv
import json
import os
import pathlib
import shutil
import sys
import time

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
QUERIES = [1, 3, 5, 6, 10, 12, 14, 18]


def duckdb_connect(threads=None):
    """An in-memory DuckDB with the tpch extension loaded from the file that
    PyPI's duckdb-extension-tpch ships (DuckDB's extension server is not
    reachable from these machines)."""
    import duckdb
    import duckdb_extension_tpch

    ext = (pathlib.Path(duckdb_extension_tpch.__file__).parent / "extensions"
           / ("v" + duckdb.__version__) / "tpch.duckdb_extension")
    if not ext.is_file():
        sys.exit(f"tpch.py: {ext} is missing: duckdb and duckdb-extension-tpch must be of one version "
                 f"(duckdb is {duckdb.__version__}; see scripts/tpch-env)")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def query_text(con, n):
    (q,) = con.execute("SELECT query FROM tpch_queries() WHERE query_nr = ?", [n]).fetchone()
    return q.strip().rstrip(";")


def sql_str(p):
    return "'" + str(p).replace("'", "''") + "'"


def gen(args):
    out = pathlib.Path(args.out).resolve()
    if (out / ".complete").is_file():
        return
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("parquet", "tbl", "answers"):
        (tmp / sub).mkdir(parents=True)
    con = duckdb_connect()
    con.execute(f"CALL dbgen(sf = {float(args.sf)})")
    for t in TABLES:
        con.execute(f"COPY {t} TO {sql_str(tmp / 'parquet' / (t + '.parquet'))} (FORMAT parquet)")
        con.execute(f"COPY {t} TO {sql_str(tmp / 'tbl' / (t + '.tbl'))} (FORMAT csv, DELIMITER '|', HEADER false, QUOTE '')")
    for n in QUERIES:
        con.execute(f"COPY ({query_text(con, n)}) TO {sql_str(tmp / 'answers' / f'q{n}.csv')} (FORMAT csv, HEADER true)")
    (tmp / ".complete").write_text(json.dumps({"sf": float(args.sf), "generator": "duckdb tpch dbgen"}) + "\n")
    con.close()
    if (out / ".complete").is_file():  # another run finished first
        shutil.rmtree(tmp)
        return
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def run_duckdb(args):
    con = duckdb_connect(args.threads)
    data = pathlib.Path(args.data).resolve()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet({sql_str(data / (t + '.parquet'))})")
    q = query_text(con, args.query)
    start = time.monotonic()
    con.execute(f"COPY ({q}) TO {sql_str(pathlib.Path(args.out).resolve())} (FORMAT csv, HEADER true)")
    took = time.monotonic() - start
    con.close()
    return took


def run_spark(args):
    con = duckdb_connect()  # only for the query text: the same text as DuckDB's
    q = query_text(con, args.query)
    con.close()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{int(args.threads)}]")
             .appName(f"tpch-q{args.query}")
             .config("spark.driver.memory", args.spark_memory)
             .config("spark.sql.shuffle.partitions", str(int(args.threads)))
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    data = pathlib.Path(args.data).resolve()
    for t in TABLES:
        spark.read.parquet(str(data / (t + ".parquet"))).createOrReplaceTempView(t)
    start = time.monotonic()
    df = spark.sql(q)
    rows = df.collect()
    took = time.monotonic() - start
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(df.columns)
        for r in rows:
            w.writerow(["" if v is None else str(v) for v in r])
    # Stop the JVM and wait for it, so the caller's wait4 counts its CPU
    # time and memory with this process's.
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    t = time.monotonic()
    spark.stop()
    print(f"tpch.py: spark.stop took {time.monotonic() - t:.1f} s", file=sys.stderr)
    if proc is not None:
        t = time.monotonic()
        proc.stdin.close()
        proc.wait()
        print(f"tpch.py: the JVM's exit took {time.monotonic() - t:.1f} s", file=sys.stderr)
    return took


def run(args):
    took = run_duckdb(args) if args.engine == "duckdb" else run_spark(args)
    print(json.dumps({"engine": args.engine, "query": args.query, "query_seconds": took}))


def main():
    p = argparse.ArgumentParser(prog="tpch.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--sf", required=True)
    g.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--engine", choices=["duckdb", "spark"], required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--query", type=int, choices=QUERIES, required=True)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--out", required=True)
    r.add_argument("--spark-memory", default="4g")
    args = p.parse_args()
    gen(args) if args.cmd == "gen" else run(args)


if __name__ == "__main__":
    main()

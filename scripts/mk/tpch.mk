# TPC-H (docs/tpch.md): queries 1, 3, 5, 6, 10, 12, 14, 18 at scale 1,
# parallelism 2, on floe, DuckDB (2 threads) and Spark (pyspark, local[2]),
# one run each; writes its table into docs/benchmarks.md. The first run makes
# the Python environment (scripts/tpch-env --spark) and the data set.
.PHONY: bench-tpch
bench-tpch: build
	$(GO) build -o $(BIN)/benchtpch ./scripts/benchtpch
	$(BIN)/benchtpch

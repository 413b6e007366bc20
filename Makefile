# floe: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X floe/appmaster.Version=$(VERSION)
# The packages that start goroutines; `make test` runs them under the race detector too.
RACE_PKGS := ./appmaster/... ./container/... ./datastream/... ./checkpoint/... ./client/... ./internal/state/... ./internal/submit/... ./internal/jobbin/... ./internal/rpc/... ./internal/codec/... ./internal/hadoop/... ./internal/nexmark/... ./internal/metrics/... ./internal/mailbox/... ./internal/failover/...

.PHONY: all build run test unit-test race-test integration-test bench bench-state bench-flink bench-nexmark profile-nexmark bench-yarn vet
all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/floe ./cmd/floe

# Count the words of a text the repository ships, locally, at parallelism 2.
run: build
	$(BIN)/floe run -p 2 wordcount --input data/alice.txt

# Every test: go.mod tidiness, vet, staticcheck, unit tests, race tests, then
# integration tests against a real YARN + HDFS minicluster that scripts/test
# starts and stops.
test:
	bash scripts/test

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

unit-test:
	$(GO) test -count=1 ./...

race-test:
	$(GO) test -race -count=1 $(RACE_PKGS)

# Benchmarks printed as a table (see docs/benchmarks.md).
bench:
	bash scripts/bench

-include scripts/mk/*.mk

# Checkpoints and restores of keyed state, heap against pebble (incremental), local disk and HDFS:
# make bench-state [STATE_SIZES=1GB,10GB]; writes its table into docs/benchmarks.md.
bench-state:
	bash scripts/bench-state

# The Nexmark queries on Apache Flink, for comparison with `make bench` (needs Java and Maven).
bench-flink:
	bash scripts/bench-flink

# floe against Flink's DataStream (same plans) on Nexmark, 10M events, p=1 and 2,
# interleaved runs, with a watchdog; writes its table into docs/benchmarks.md.
bench-nexmark: build
	bash scripts/bench-nexmark

# CPU and allocation profiles of one Nexmark query: make profile-nexmark Q=q5 [P=1] [EVENTS=10000000].
Q ?= q5
P ?= 1
EVENTS ?= 10000000
profile-nexmark: build
	bash scripts/profile-nexmark $(Q) $(P) $(EVENTS)

# Start-up and footprint on YARN, against the minicluster (started and stopped here).
bench-yarn: build
	bash scripts/bench-yarn

# floe: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
GO ?= go
BIN := bin

.PHONY: all build run test unit-test bench vet fmt
all: build

build:
	$(GO) build -o $(BIN)/floe ./cmd/floe

-include scripts/mk/*.mk

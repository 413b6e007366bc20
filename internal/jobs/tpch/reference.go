package tpch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoTools is wrapped by Reference's error when the Python environment
// with DuckDB cannot be made (no Python, no venv module, PyPI unreachable):
// the tests that need it skip on it.
var ErrNoTools = errors.New("tpch: the TPC-H tools (scripts/tpch-env) are not available")

// RefData is a TPC-H data set made by TPC-H's own generator (DuckDB's tpch
// extension) with DuckDB's answers to Queries.
type RefData struct {
	Dir     string // holds parquet/, tbl/ and answers/
	Python  string // the virtual environment's python, with duckdb (and pyspark if asked)
	Script  string // scripts/tpch/tpch.py
	Parquet string // Dir/parquet: <table>.parquet
	Tbl     string // Dir/tbl: <table>.tbl
}

// Answer is the path of DuckDB's answer to q.
func (d RefData) Answer(q Query) string { return filepath.Join(d.Dir, "answers", q.Name+".csv") }

// Reference makes (or finds, from an earlier run) the data set at scale
// factor sf under root/.cache/tpch (or $FLOE_TPCH_CACHE), creating the
// Python environment with scripts/tpch-env; spark asks for pyspark in it
// too. root is the repository's top directory.
func Reference(ctx context.Context, root, sf string, spark bool) (RefData, error) {
	args := []string{}
	if spark {
		args = append(args, "--spark")
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "tpch-env"), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return RefData{}, fmt.Errorf("%w: scripts/tpch-env: %w: %s", ErrNoTools, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	venv := lines[len(lines)-1]
	cache := os.Getenv("FLOE_TPCH_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache", "tpch")
	}
	d := RefData{
		Dir:    filepath.Join(cache, "sf"+sf),
		Python: filepath.Join(venv, "bin", "python"),
		Script: filepath.Join(root, "scripts", "tpch", "tpch.py"),
	}
	d.Parquet, d.Tbl = filepath.Join(d.Dir, "parquet"), filepath.Join(d.Dir, "tbl")
	if _, err := os.Stat(filepath.Join(d.Dir, ".complete")); err == nil {
		return d, nil
	}
	stderr.Reset()
	gen := exec.CommandContext(ctx, d.Python, d.Script, "gen", "--sf", sf, "--out", d.Dir)
	gen.Stderr = &stderr
	if err := gen.Run(); err != nil {
		return RefData{}, fmt.Errorf("tpch: generate scale %s into %s: %w: %s", sf, d.Dir, err, strings.TrimSpace(stderr.String()))
	}
	return d, nil
}

// RepoRoot returns the directory holding go.mod, searched upwards from the
// working directory (a test's is its package's).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("tpch: find the repository: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("tpch: find the repository: no go.mod above the working directory")
		}
		dir = parent
	}
}

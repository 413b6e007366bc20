package jobs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"floe/datastream"
	"floe/internal/jobs/tpch"
)

func TestTPCHProfileFlags(t *testing.T) {
	cpu, mem, rest, err := profileFlags([]string{"--query", "q1", "--cpuprofile", "c.pprof", "-memprofile=m.pprof", "--input", "in"})
	if err != nil || cpu != "c.pprof" || mem != "m.pprof" || !slices.Equal(rest, []string{"--query", "q1", "--input", "in"}) {
		t.Fatalf("got %q %q %q %v", cpu, mem, rest, err)
	}
	if _, _, _, err := profileFlags([]string{"--cpuprofile"}); err == nil {
		t.Fatal("--cpuprofile without a file passed")
	}
}

// A usage error of the tpch package says "usage: tpch:" once, and still
// matches both ErrUsage (exit code 2) and the package's own errors.
func TestTPCHUsageSaidOnce(t *testing.T) {
	var out strings.Builder
	err := runTPCH(context.Background(), datastream.NewEnvironment(), []string{"--query", "q99", "--input", t.TempDir(), "--output", t.TempDir()}, &out)
	if !errors.Is(err, ErrUsage) || !errors.Is(err, tpch.ErrUsage) || !errors.Is(err, tpch.ErrUnknownQuery) {
		t.Fatalf("err = %v: want ErrUsage, tpch.ErrUsage and tpch.ErrUnknownQuery", err)
	}
	if msg := err.Error(); strings.Count(msg, "usage") != 1 || strings.Count(msg, "tpch") != 1 || !strings.HasPrefix(msg, "usage: tpch: unknown query") {
		t.Fatalf("err = %q: want %q once", msg, "usage: tpch: unknown query")
	}
}

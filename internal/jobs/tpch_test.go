package jobs

import (
	"slices"
	"testing"
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

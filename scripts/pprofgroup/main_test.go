package main

import "testing"

func TestPkgOf(t *testing.T) {
	for fn, want := range map[string]string{
		"floe/internal/nexmark.Config.bid":                                   "floe/internal/nexmark",
		"floe/datastream.(*windowOp[go.shape.int64,a/b.c]).Collect":          "floe/datastream",
		"runtime.mallocgc":                                                   "runtime",
		"internal/runtime/maps.ctrlGroup.matchH2":                            "internal/runtime/maps",
		"github.com/apache/arrow/go/v17/arrow/array.(*BinaryBuilder).Append": "github.com/apache/arrow/go/v17/arrow/array",
	} {
		if got := pkgOf(fn); got != want {
			t.Errorf("pkgOf(%q) = %q, want %q", fn, got, want)
		}
	}
}

func TestComponent(t *testing.T) {
	for _, c := range []struct {
		stack []string
		want  string
	}{
		{[]string{"runtime.mallocgc", "floe/internal/nexmark.Config.bid", "floe/datastream.(*generator[x]).run"}, "generator"},
		{[]string{"internal/runtime/maps.ctrlGroup.matchH2", "runtime.mapaccess2_fast64", "floe/internal/state.(*Table[x]).Get", "floe/datastream.(*windowOp[x]).Collect"}, "state"},
		{[]string{"slices.Index[x]", "floe/datastream.(*timers[x]).register"}, "timers"},
		{[]string{"runtime.memmove", "github.com/apache/arrow/go/v17/arrow/array.(*BinaryBuilder).Append", "floe/container/network.(*RecordWriter[x]).flush"}, "encoding"},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, "GC (marking, sweeping, assists)"},
		{[]string{"runtime.futex", "runtime.schedule", "runtime.mcall"}, "runtime (scheduler, other)"},
	} {
		if got := component(c.stack); got != c.want {
			t.Errorf("component(%v) = %q, want %q", c.stack, got, c.want)
		}
	}
}

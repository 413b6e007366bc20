package container

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"

	"floe/config"
)

func TestGoMemoryLimit(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		kv    map[string]string
		slots int
		file  int64
		cgo   bool
		want  int64
	}{
		// 192 MiB, 32 MiB of binary: a tenth (19.2 MiB) and the binary stay out.
		{map[string]string{"taskmanager.memory.process.size": "192m"}, 1, 32 * mb, false, 192*mb - 32*mb - 192*mb/10},
		// Small processes keep 16 MiB.
		{map[string]string{"taskmanager.memory.process.size": "128m"}, 1, 0, false, 112 * mb},
		// With cgo, pebble's memory (a quarter of the process: 48 MiB) is C's.
		{map[string]string{"taskmanager.memory.process.size": "192m", "state.backend.type": "pebble"}, 1, 0, true, 192*mb - 192*mb/10 - 48*mb},
		// Two slots of a fixed 40 MiB each.
		{map[string]string{"taskmanager.memory.process.size": "1g", "state.backend.type": "pebble",
			"state.backend.pebble.memory.fixed-per-slot": "40mb"}, 2, 0, true, 1024*mb - 1024*mb/10 - 80*mb},
		// Without cgo the stores are on the Go heap, inside the limit.
		{map[string]string{"taskmanager.memory.process.size": "192m", "state.backend.type": "pebble"}, 1, 0, false, 192*mb - 192*mb/10},
		// Never below a quarter of the process.
		{map[string]string{"taskmanager.memory.process.size": "64m"}, 1, 60 * mb, false, 16 * mb},
	} {
		got, err := goMemoryLimit(config.New(tc.kv), tc.slots, tc.file, tc.cgo)
		if err != nil || got != tc.want {
			t.Errorf("goMemoryLimit(%v, %d slots, %d file, cgo %v) = %d, %v; want %d", tc.kv, tc.slots, tc.file, tc.cgo, got, err, tc.want)
		}
	}
}

// TestSetGCPercent: the key sets the GC percentage, the TaskManagers'
// default when unset; an invalid value or GOGC leave it alone.
func TestSetGCPercent(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		kv   map[string]string
		want int
	}{
		{map[string]string{config.TaskManagerGCPercent: "250"}, 250},
		{map[string]string{config.TaskManagerGCPercent: "off"}, -1},
		{map[string]string{config.TaskManagerGCPercent: "-1"}, -1},
		{map[string]string{config.TaskManagerGCPercent: "x"}, 100},
		{map[string]string{config.TaskManagerGCPercent: "-5"}, 100},
		{map[string]string{config.TaskManagerGCPercent: "0"}, 100},
		{nil, config.DefaultTaskManagerGCPercent},
	} {
		debug.SetGCPercent(100)
		setGCPercent(config.New(tc.kv), zerolog.Nop())
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("%v: GC percent %d, want %d", tc.kv, got, tc.want)
		}
	}
	t.Setenv("GOGC", "100")
	setGCPercent(config.New(map[string]string{config.TaskManagerGCPercent: "300"}), zerolog.Nop())
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: GC percent %d, want 100", got)
	}
}

// A local run gives the process a TaskManager's GC percentage and a soft
// memory limit of half the machine's memory, and puts both back when the
// last of overlapping runs ends; GOGC and GOMEMLIMIT win over both.
func TestLocalRuntime(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	gc := func() int { p := debug.SetGCPercent(0); debug.SetGCPercent(p); return p }
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	mem := machineMemory()
	if mem <= 0 {
		t.Fatal("machine memory unknown")
	}
	c := config.New(map[string]string{config.TaskManagerGCPercent: "300"})
	r1 := LocalRuntime(c, zerolog.Nop())
	if gc() != 300 || limit() != mem/2 {
		t.Fatalf("during a local run: GC %d, limit %d; want 300 and %d", gc(), limit(), mem/2)
	}
	r2 := LocalRuntime(config.New(nil), zerolog.Nop()) // overlaps: the first run's settings stay
	r1()
	r1() // twice: counted once
	if gc() != 300 || limit() != mem/2 {
		t.Fatalf("with a run still going: GC %d, limit %d; want 300 and %d", gc(), limit(), mem/2)
	}
	r2()
	if gc() != 100 || limit() != math.MaxInt64 {
		t.Fatalf("after the last run: GC %d, limit %d; want 100 and no limit", gc(), limit())
	}
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	r := LocalRuntime(c, zerolog.Nop())
	if gc() != 100 || limit() != math.MaxInt64 {
		t.Errorf("with GOGC and GOMEMLIMIT set: GC %d, limit %d; want them untouched", gc(), limit())
	}
	r()
}

func TestStatusBytes(t *testing.T) {
	text := "MemTotal:       24590000 kB\nMemFree:  100 kB\nRssFile:\t  2048 kB\n"
	for key, want := range map[string]int64{"MemTotal:": 24590000 << 10, "RssFile:": 2 << 20, "Swap:": 0} {
		if got := statusBytes(text, key); got != want {
			t.Errorf("%s %d, want %d", key, got, want)
		}
	}
}

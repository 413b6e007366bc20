package container

import (
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

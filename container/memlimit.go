package container

import (
	"os"
	"runtime/debug"

	"github.com/rs/zerolog"

	"floe/config"
	"floe/internal/spill"
	"floe/internal/state"
)

// goMemoryLimit is the Go runtime's soft memory limit for a TaskManager of
// process bytes with slots slots: the collector works harder as the heap
// nears it instead of letting it grow to twice the live data (GOGC), which
// is what takes a process past its YARN container's size. It leaves a tenth
// of the process (at least 16 MiB) to what the runtime does not count (the
// binary's pages, C memory), and with cgo the pebble stores' memtables and
// block caches, which pebble then allocates with C's malloc (without cgo they
// are on the Go heap, inside the limit).
func goMemoryLimit(c config.Config, slots int, cgo bool) (int64, error) {
	mb, err := c.MemoryMB(config.TaskManagerMemory, 512)
	if err != nil {
		return 0, err
	}
	process := mb << 20
	limit := process - max(process/10, 16<<20)
	if cgo && c.String(config.StateBackend, "hashmap") == "pebble" {
		managed, err := spill.ManagedMemory(c)
		if err != nil {
			return 0, err
		}
		slots = max(slots, 1)
		mem, err := state.MemoryFromConfig(c, managed/int64(slots))
		if err != nil {
			return 0, err
		}
		limit -= int64(slots) * mem.Total
	}
	return max(limit, process/4), nil
}

// setMemoryLimit sets the soft memory limit from the container's size,
// unless GOMEMLIMIT chose one.
func setMemoryLimit(c config.Config, slots int, log zerolog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit, err := goMemoryLimit(c, slots, cgoEnabled)
	if err != nil {
		log.Warn().Err(err).Msg("no Go memory limit")
		return
	}
	debug.SetMemoryLimit(limit)
	log.Debug().Int64("bytes", limit).Msg("Go memory limit")
}

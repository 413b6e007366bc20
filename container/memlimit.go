package container

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"floe/config"
	"floe/internal/spill"
	"floe/internal/state"
)

// goMemoryLimit is the Go runtime's soft memory limit for a TaskManager of
// taskmanager.memory.process.size with slots slots whose binary has file
// bytes resident: the collector works harder as the heap nears the limit
// instead of letting it grow to twice the live data (GOGC), which is what
// takes a process past its YARN container's size. The limit counts only
// what the runtime maps, so it leaves out the binary's resident pages (a
// YARN NodeManager counts them), a tenth of the process (at least 16 MiB)
// for the rest, and with cgo the pebble stores' memtables and block caches,
// which pebble then allocates with C's malloc (without cgo they are on the
// Go heap, inside the limit).
func goMemoryLimit(c config.Config, slots int, file int64, cgo bool) (int64, error) {
	mb, err := c.MemoryMB(config.TaskManagerMemory, 512)
	if err != nil {
		return 0, err
	}
	process := mb << 20
	limit := process - file - max(process/10, 16<<20)
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
	limit, err := goMemoryLimit(c, slots, residentFile(), cgoEnabled)
	if err != nil {
		log.Warn().Err(err).Msg("no Go memory limit")
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info().Int64("bytes", limit).Msg("Go memory limit")
}

// setGCPercent sets the GC percentage from floe.taskmanager.gc-percent
// (config.DefaultTaskManagerGCPercent when unset), unless GOGC chose one;
// "off" leaves collection to the soft memory limit alone (setMemoryLimit).
// An invalid value, which the client refuses before submitting, leaves Go's.
func setGCPercent(c config.Config, log zerolog.Logger) {
	if os.Getenv("GOGC") != "" {
		return
	}
	pct, err := c.TaskManagerGC()
	if err != nil {
		log.Warn().Err(err).Msg("no GC percentage")
		return
	}
	debug.SetGCPercent(pct)
	log.Info().Int("percent", pct).Msg("Go GC percentage")
}

// residentFile is the process's resident file-backed memory (RssFile of
// /proc/self/status: mostly the binary's pages), 0 where there is none.
func residentFile() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "RssFile:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

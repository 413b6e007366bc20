package container

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

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
	return statusBytes(string(b), "RssFile:")
}

// LocalRuntime gives this process a TaskManager's GC percentage for a local
// run whose TaskManagers run in it (setGCPercent's rules: unless GOGC chose
// one), so that a job spends on collection locally what it does on YARN.
// There is no container to size a memory limit from, so unless GOMEMLIMIT
// chose one, the soft limit is half the machine's memory (or of the cgroup's
// limit, if lower): past that the collector works harder instead of letting
// the heap grow to five times its live data. restore puts back what was set
// before, once the last of overlapping runs in the process calls it.
func LocalRuntime(c config.Config, log zerolog.Logger) (restore func()) {
	localRuntime.Lock()
	defer localRuntime.Unlock()
	if localRuntime.runs++; localRuntime.runs == 1 {
		localRuntime.gc, localRuntime.limit = nil, nil
		if os.Getenv("GOGC") == "" {
			if pct, err := c.TaskManagerGC(); err == nil {
				prev := debug.SetGCPercent(pct)
				localRuntime.gc = &prev
				log.Debug().Int("percent", pct).Msg("local run: Go GC percentage")
			}
		}
		if mem := machineMemory(); mem > 0 && os.Getenv("GOMEMLIMIT") == "" {
			prev := debug.SetMemoryLimit(mem / 2)
			localRuntime.limit = &prev
			log.Debug().Int64("bytes", mem/2).Msg("local run: Go memory limit")
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			localRuntime.Lock()
			defer localRuntime.Unlock()
			if localRuntime.runs--; localRuntime.runs > 0 {
				return
			}
			if localRuntime.gc != nil {
				debug.SetGCPercent(*localRuntime.gc)
			}
			if localRuntime.limit != nil {
				debug.SetMemoryLimit(*localRuntime.limit)
			}
		})
	}
}

// localRuntime is what LocalRuntime changed, to put back.
var localRuntime struct {
	sync.Mutex
	runs  int
	gc    *int   // the GC percentage before, if it was changed
	limit *int64 // the memory limit before, if it was changed
}

// machineMemory is the memory this process may use: the machine's
// (MemTotal of /proc/meminfo), or its cgroup's limit where that is lower;
// 0 where neither can be read.
func machineMemory() int64 {
	var mem int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = statusBytes(string(b), "MemTotal:")
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (mem == 0 || v < mem) {
			mem = v // "max" (no limit) does not parse
		}
	}
	return mem
}

// statusBytes reads a "Key:   123 kB" line of a /proc status-like file.
func statusBytes(text, key string) int64 {
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Strict makes keys under floe's own prefixes that floe does not know an
// error (exit 2) rather than a warning.
const Strict = "floe.config.strict"

// Keys read outside this package, named here so the registry is complete.
// Their packages define their own constants; a test checks that the two agree.
const (
	runtimeMode           = "execution.runtime-mode"
	autoWatermarkInterval = "pipeline.auto-watermark-interval"
	savepointPath         = "execution.savepoint.path"
	allowNonRestored      = "execution.savepoint.ignore-unclaimed-state"
)

// Keys of the batch operators' memory and spill files (Flink's names), read
// by internal/spill.
const (
	// ManagedMemorySize is a TaskManager's memory for sorting, hash
	// aggregation and hash joins, in Flink's size syntax ("128mb", "1g", a
	// plain number of bytes); past it those operators spill to disk.
	ManagedMemorySize = "taskmanager.memory.managed.size"
	// TmpDirs lists the local directories (comma separated) for spill
	// files, BATCH exchange files and the pebble state backend's stores;
	// unset, the YARN container's LOCAL_DIRS, else the OS's temporary
	// directory.
	TmpDirs = "io.tmp.dirs"
)

// IncrementalCheckpoints (Flink's key, default false) makes checkpoints of
// keyed state on the pebble backend incremental: each sends only the SST
// files no earlier checkpoint of the subtask sent, into <job-dir>/shared/,
// reference-counted across the retained checkpoints (docs/checkpoints.md).
// Savepoints stay full; the heap backend ignores it.
const IncrementalCheckpoints = "execution.checkpointing.incremental"

// Keys of the pebble state backend's memory (after Flink's
// state.backend.rocksdb.memory.*), read by internal/state; docs/state.md
// says what else a TaskManager's memory holds.
const (
	// PebbleMemoryManaged (default true): a keyed subtask's pebble store
	// takes its memtables and block cache out of its slot's share of
	// taskmanager.memory.managed.size; false: pebble's own small defaults.
	PebbleMemoryManaged = "state.backend.pebble.memory.managed"
	// PebbleMemoryFixedPerSlot, when set, is a store's memory in place of
	// the managed share (Flink's size syntax, at least 2mb).
	PebbleMemoryFixedPerSlot = "state.backend.pebble.memory.fixed-per-slot"
	// PebbleMemoryWriteBufferRatio is the memtables' share of a store's
	// memory (default 0.5, between 0 and 1); the block cache has the rest.
	PebbleMemoryWriteBufferRatio = "state.backend.pebble.memory.write-buffer-ratio"
)

// known is every key floe reads. Keep docs/configuration.md in step.
var known = []string{
	Parallelism, MaxParallelism, BufferTimeout, BatchSize, Credits, QueueCapacity, Slots,
	LocalTaskManagers, LocalProcesses, HeartbeatInterval, HeartbeatTimeout,
	Target, Attached, JSONSummary, JobTimeout, InProcessOnly, JobManagerMemory, TaskManagerMemory, TaskManagerGCPercent, TaskManagerCPUCores, TaskManagerDataTransport,
	YarnQueue, YarnName, YarnTags, YarnAcceptTimeout, YarnAttempts, SessionID, SessionIdleTimeout, SessionSlotTimeout,
	RestartType, FixedDelayAttempts, FixedDelayDelay, ExpDelayInitial, ExpDelayMax, ExpDelayMultiplier, ExpDelayAttempts,
	runtimeMode, autoWatermarkInterval, savepointPath, allowNonRestored,
	"execution.checkpointing.interval", "execution.checkpointing.mode", "execution.checkpointing.timeout",
	"execution.checkpointing.min-pause", "execution.checkpointing.max-concurrent-checkpoints",
	"execution.checkpointing.tolerable-failed-checkpoints", "execution.checkpointing.dir",
	"execution.checkpointing.savepoint-dir", "execution.checkpointing.num-retained",
	"execution.checkpointing.externalized-checkpoint-retention",
	// Unaligned checkpoints (Flink's keys; checkpoint.KeyUnaligned and
	// checkpoint.KeyAlignedTimeout): barriers overtake in-flight data, kept
	// as channel state; the timeout starts them aligned and switches a
	// task's alignment to unaligned after that long (docs/checkpoints.md).
	"execution.checkpointing.unaligned.enabled", "execution.checkpointing.aligned-checkpoint-timeout",
	Strict, OutputOverwrite, ManagedMemorySize, TmpDirs, SourceSplitSize, SourceMaxMalformed, StateBackend,
	IncrementalCheckpoints, PebbleMemoryManaged, PebbleMemoryFixedPerSlot, PebbleMemoryWriteBufferRatio,
}

// ownPrefixes are the namespaces floe and Flink use. A key outside them
// (a job's own, such as "myjob.threshold") is the job's business and never
// warned about.
var ownPrefixes = []string{"execution.", "pipeline.", "taskmanager.", "jobmanager.", "state.",
	"restart-strategy.", "yarn.", "local.", "heartbeat.", "parallelism.", "floe.", "config."}

// MemoryBytes parses a memory size in bytes with Flink's MemorySize syntax:
// a whole number and an optional unit, b (bytes), k (kb, kibibytes), m (mb,
// mebibytes), g (gb, gibibytes) or t (tb, tebibytes), case-insensitive, units
// of 1024. A plain number is bytes (unlike MemoryMB's process sizes).
func (c Config) MemoryBytes(key string, def int64) (int64, error) {
	v, ok := c.Lookup(key)
	if !ok {
		return def, nil
	}
	n, err := parseMemorySize(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q: not a memory size (e.g. 128mb, 1g, 1048576)", ErrInvalid, key, v)
	}
	return n, nil
}

func parseMemorySize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("no number in %q", v)
	}
	var shift uint
	switch unit {
	case "", "b", "bytes":
	case "k", "kb", "kibibytes":
		shift = 10
	case "m", "mb", "mebibytes":
		shift = 20
	case "g", "gb", "gibibytes":
		shift = 30
	case "t", "tb", "tebibytes":
		shift = 40
	default:
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	if n > (1<<63-1)>>shift {
		return 0, fmt.Errorf("%q overflows", v)
	}
	return n << shift, nil
}

// Known reports whether floe reads key.
func Known(key string) bool { return slices.Contains(known, key) }

// KnownKeys returns the keys floe reads, sorted.
func KnownKeys() []string { return slices.Sorted(slices.Values(known)) }

// Unknown returns, for each key of c under floe's or Flink's prefixes that
// floe does not read, a one-line message naming the nearest known key. With
// floe.config.strict=true it returns them as an error wrapping ErrInvalid.
func Unknown(c Config) ([]string, error) {
	strict, err := c.Bool(Strict, false)
	if err != nil {
		return nil, err
	}
	var msgs []string
	for _, k := range c.Keys() {
		if Known(k) || !slices.ContainsFunc(ownPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		m := fmt.Sprintf("unknown configuration key %q", k)
		if n := Nearest(k); n != "" {
			m += fmt.Sprintf(" (did you mean %q?)", n)
		}
		msgs = append(msgs, m)
	}
	if strict && len(msgs) > 0 {
		return nil, fmt.Errorf("%w: %s (%s=true)", ErrInvalid, strings.Join(msgs, "; "), Strict)
	}
	return msgs, nil
}

// Nearest is the known key closest to key by edit distance, or "" when
// none is close (more than a third of the key's length away).
func Nearest(key string) string {
	best, bestD := "", len(key)/3+1
	for _, k := range KnownKeys() {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

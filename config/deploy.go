package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Keys of where and how a job is deployed (Flink's names where Flink has them).
const (
	// Target selects where a job runs: local, yarn-per-job (yarn-application), yarn-session.
	Target = "execution.target"
	// Attached makes the client follow the job to its end (false: -d).
	Attached = "execution.attached"
	// JSONSummary makes the client print a JSON summary of the run on stdout (floe run --json).
	JSONSummary = "floe.client.json-summary"
	// OutputOverwrite lets the built-in jobs replace the files of an output
	// directory that is not empty (their --overwrite); without it such a
	// directory is refused before the job is submitted.
	OutputOverwrite = "floe.output.overwrite"
	// JobTimeout ends the job when it runs longer (floe run --timeout).
	JobTimeout = "floe.job.timeout"
	// InProcessOnly marks graphs whose sinks hand results to the client's
	// memory; it names such a sink (set by the API, not by users).
	InProcessOnly = "floe.internal.in-process-only"

	JobManagerMemory  = "jobmanager.memory.process.size"
	TaskManagerMemory = "taskmanager.memory.process.size"
	// TaskManagerGCPercent is a TaskManager's Go GC percentage (GOGC's
	// meaning, default DefaultTaskManagerGCPercent; "off": only the soft
	// memory limit from TaskManagerMemory starts a collection) unless GOGC
	// is set; a higher value trades heap for less GC CPU.
	TaskManagerGCPercent = "floe.taskmanager.gc-percent"
	// TaskManagerCPUCores is Flink's taskmanager.cpu.cores: the virtual
	// cores a TaskManager container asks YARN for, and the Go scheduler's
	// processors (GOMAXPROCS) in it unless GOMAXPROCS is set; default the
	// slots per TaskManager (TaskManagerCores).
	TaskManagerCPUCores = "taskmanager.cpu.cores"
	// TaskManagerDataTransport is how a TaskManager's input channels
	// subscribe to producers in other TaskManagers: "tcp" (the default,
	// length-prefixed frames on a TCP connection per channel) or "grpc" (a
	// DataExchange stream). Both arrive on the TaskManager's one port,
	// which always serves both.
	TaskManagerDataTransport = "floe.taskmanager.data-transport"
	YarnQueue                = "yarn.application.queue"
	YarnName                 = "yarn.application.name"
	YarnTags                 = "yarn.tags"
	// YarnAcceptTimeout bounds how long an application may wait in ACCEPTED
	// (for resources) before the client gives up and kills it.
	YarnAcceptTimeout = "yarn.application.accept-timeout"
	// YarnClientRPCTimeout bounds each call of the client to the
	// ResourceManager (one that accepts connections but never answers).
	YarnClientRPCTimeout = "yarn.client.rpc-timeout"
	// YarnAttempts is how many ApplicationMaster attempts YARN may start for
	// a per-job application (Flink's key); the cluster's
	// yarn.resourcemanager.am.max-attempts caps it.
	YarnAttempts = "yarn.application-attempts"
	// SessionID names the session a job goes to (-yid); empty: the last one started.
	SessionID = "yarn.application.id"
	// SessionIdleTimeout releases TaskManager containers no job used for this long.
	SessionIdleTimeout = "yarn.session.taskmanager-idle-timeout"
	// SessionSlotTimeout bounds how long a session's job waits for containers.
	SessionSlotTimeout = "yarn.session.slot-timeout"
)

// Restart strategy keys, with Flink's names.
const (
	RestartType        = "restart-strategy.type"
	FixedDelayAttempts = "restart-strategy.fixed-delay.attempts"
	FixedDelayDelay    = "restart-strategy.fixed-delay.delay"
	ExpDelayInitial    = "restart-strategy.exponential-delay.initial-backoff"
	ExpDelayMax        = "restart-strategy.exponential-delay.max-backoff"
	ExpDelayMultiplier = "restart-strategy.exponential-delay.backoff-multiplier"
	ExpDelayAttempts   = "restart-strategy.exponential-delay.attempts-before-reset-backoff"
)

// MemoryMB parses a memory size: a plain number of MB, or a number with a
// unit (k, m, g, t; with or without "b"), as Flink writes them ("1024m", "1g").
func (c Config) MemoryMB(key string, def int64) (int64, error) {
	v, ok := c.Lookup(key)
	if !ok {
		return def, nil
	}
	s := strings.ToLower(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "b"), "i")
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mb     float64
	}{{"k", 1.0 / 1024}, {"m", 1}, {"g", 1024}, {"t", 1024 * 1024}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mb
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%w: %s=%q: not a memory size (e.g. 1024m, 2g)", ErrInvalid, key, v)
	}
	return int64(f * mult), nil
}

// DurationOr is the duration under key, or def when it is unset or malformed
// (for keys whose values were validated before the job started).
func (c Config) DurationOr(key string, def time.Duration) time.Duration {
	d, err := c.Duration(key, def)
	if err != nil {
		return def
	}
	return d
}

// TaskManagerCores is taskmanager.cpu.cores for TaskManagers of slots
// slots: a whole number of at least 1 ("2" or Flink's "2.0"), slots when
// unset. YARN counts virtual cores in whole numbers.
func (c Config) TaskManagerCores(slots int) (int, error) {
	v, ok := c.Lookup(TaskManagerCPUCores)
	if !ok {
		return slots, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f != math.Trunc(f) || f < 1 || f > 1<<20 {
		return 0, fmt.Errorf("%w: %s=%q: want a whole number of cores, at least 1", ErrInvalid, TaskManagerCPUCores, v)
	}
	return int(f), nil
}

// DefaultTaskManagerGCPercent is a TaskManager's GC percentage when
// floe.taskmanager.gc-percent is unset: the heap may grow to five times the
// live data between collections, as far as the soft memory limit set from
// the container's size allows (beyond it the collector runs as often as it
// must). A TaskManager whose live data is small (a stream of records through
// its exchanges) then collects a quarter as often as at Go's 100.
const DefaultTaskManagerGCPercent = 400

// TaskManagerGC is floe.taskmanager.gc-percent: a positive percentage, -1
// for "off" (or -1), DefaultTaskManagerGCPercent when unset.
func (c Config) TaskManagerGC() (int, error) {
	v, ok := c.Lookup(TaskManagerGCPercent)
	if !ok {
		return DefaultTaskManagerGCPercent, nil
	}
	if strings.TrimSpace(v) == "off" {
		return -1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 && n != -1 { // -1: off, as debug.SetGCPercent takes it
		return 0, fmt.Errorf("%w: %s=%q: want a positive percentage or off", ErrInvalid, TaskManagerGCPercent, v)
	}
	return n, nil
}

// TaskManagerTransport is floe.taskmanager.data-transport: "tcp" (also
// when unset) or "grpc".
func (c Config) TaskManagerTransport() (string, error) {
	switch t := c.String(TaskManagerDataTransport, ""); t {
	case "", "tcp":
		return "tcp", nil
	case "grpc":
		return t, nil
	default:
		return "", fmt.Errorf("%w: %s=%q: want tcp or grpc", ErrInvalid, TaskManagerDataTransport, t)
	}
}

// Package config holds a job's configuration: string keys with Flink's names
// where Flink has one, set by -D key=value on the command line or in code.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error about a malformed key or value.
var ErrInvalid = errors.New("config: invalid")

// Keys floe reads. Keep docs/configuration.md in step with this list.
const (
	// Parallelism is the job's default parallelism.
	Parallelism = "parallelism.default"
	// MaxParallelism is the number of key groups (the upper bound for rescaling).
	MaxParallelism = "pipeline.max-parallelism"
	// BufferTimeout is how long a partly filled batch may wait before it is sent
	// (0: after every record; -1: only when full).
	BufferTimeout = "execution.buffer-timeout"
	// BatchSize is the number of records per Arrow batch on the network.
	BatchSize = "execution.batch-size"
	// Credits is the number of batches a consumer lets each channel have in flight.
	Credits = "taskmanager.network.credits-per-channel"
	// QueueCapacity is the number of batches a producer queues per subpartition.
	QueueCapacity = "taskmanager.network.queue-capacity"
	// Slots is the number of task slots per TaskManager.
	Slots = "taskmanager.numberOfTaskSlots"
	// LocalTaskManagers is the number of TaskManagers of a local run (default:
	// enough to give every subtask of the widest vertex a slot).
	LocalTaskManagers = "local.taskmanagers"
	// LocalProcesses runs the TaskManagers of a local job as child processes.
	LocalProcesses = "local.taskmanager.processes"
	// HeartbeatInterval and HeartbeatTimeout govern TaskManager liveness.
	HeartbeatInterval = "heartbeat.interval"
	HeartbeatTimeout  = "heartbeat.timeout"
	// SlotRequestTimeout bounds how long a job waits for the task slots it
	// needs (on YARN: for its TaskManager containers) before it fails, as
	// Flink's key of that name (ms, or a duration).
	SlotRequestTimeout = "slot.request.timeout"
	// RESTPort is the port a local run serves the JobManager's REST interface
	// and dashboard on (0: any free port; unset: none). On YARN it is always
	// served, on a free port, behind the tracking URL.
	RESTPort = "rest.port"
	// MetricsEnabled (default true) turns the TaskManagers' Prometheus
	// listeners and their per-batch time measurement off when false.
	MetricsEnabled = "metrics.enabled"
	// LogLevel is the client's --log-level, which the JobManager and
	// TaskManager containers take too.
	LogLevel = "floe.log.level"
	// StateBackend is where keyed state lives: "hashmap" (the heap, the
	// default) or "pebble" (an LSM store on the TaskManager's local disk).
	StateBackend = "state.backend.type"
)

// Config is an immutable set of key/value pairs. The zero value is empty.
type Config struct {
	m map[string]string
}

// New returns a Config holding kv.
func New(kv map[string]string) Config {
	return Config{m: maps.Clone(kv)}
}

// ParseDynamic parses "key=value" pairs as given with -D.
func ParseDynamic(pairs []string) (Config, error) {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return Config{}, fmt.Errorf("%w: -D %q: want key=value", ErrInvalid, p)
		}
		m[k] = strings.TrimSpace(v)
	}
	return Config{m: m}, nil
}

// With returns a copy of c with key set to value.
func (c Config) With(key, value string) Config {
	m := maps.Clone(c.m)
	if m == nil {
		m = map[string]string{}
	}
	m[key] = value
	return Config{m: m}
}

// Merge returns c overlaid with o (o wins).
func (c Config) Merge(o Config) Config {
	m := maps.Clone(c.m)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, o.m)
	return Config{m: m}
}

// Lookup returns the raw value of key.
func (c Config) Lookup(key string) (string, bool) {
	v, ok := c.m[key]
	return v, ok
}

// Keys returns the keys in sorted order.
func (c Config) Keys() []string { return slices.Sorted(maps.Keys(c.m)) }

// String returns key, def when unset.
func (c Config) String(key, def string) string {
	if v, ok := c.m[key]; ok {
		return v
	}
	return def
}

// Int returns key as an int, def when unset.
func (c Config) Int(key string, def int) (int, error) {
	v, ok := c.m[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q: not an integer", ErrInvalid, key, v)
	}
	return n, nil
}

// Bool returns key as a bool, def when unset.
func (c Config) Bool(key string, def bool) (bool, error) {
	v, ok := c.m[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q: not a boolean", ErrInvalid, key, v)
	}
	return b, nil
}

// Duration returns key as a duration, def when unset. Besides Go's syntax
// ("1s", "250ms") it takes Flink's plain numbers of milliseconds and "-1".
func (c Config) Duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := c.m[key]
	if !ok {
		return def, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := parseFlinkDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q: not a duration (e.g. 100ms, 1s, 2 min)", ErrInvalid, key, v)
	}
	return d, nil
}

func parseFlinkDuration(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	s := strings.ToLower(strings.ReplaceAll(v, " ", ""))
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"min", time.Minute}, {"sec", time.Second}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}, {"h", time.Hour}, {"d", 24 * time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(n) * u.unit, nil
		}
	}
	return 0, fmt.Errorf("unknown duration %q", v)
}

// MarshalJSON and UnmarshalJSON let a Config travel in environment variables.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.m) }

func (c *Config) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c.m = m
	return nil
}

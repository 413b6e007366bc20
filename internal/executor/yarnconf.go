package executor

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"floe/internal/config"
)

// YARN deployment keys (Flink's names where Flink has them).
const (
	JobManagerMemory  = "jobmanager.memory.process.size"
	TaskManagerMemory = "taskmanager.memory.process.size"
	YarnQueue         = "yarn.application.queue"
	YarnName          = "yarn.application.name"
	YarnTags          = "yarn.tags"
	Attached          = "execution.attached"
	// YarnAcceptTimeout bounds how long an application may wait in ACCEPTED
	// (for resources) before the client gives up and kills it.
	YarnAcceptTimeout = "yarn.application.accept-timeout"
	// JobTimeout kills the application when the job runs longer (floe run --timeout).
	JobTimeout = "floe.job.timeout"
)

// MemoryMB parses a memory size: a plain number of MB, or a number with a
// unit (k, m, g, t; with or without "b"), as Flink writes them ("1024m", "1g").
func MemoryMB(c config.Config, key string, def int64) (int64, error) {
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
		return 0, fmt.Errorf("%w: %s=%q: not a memory size (e.g. 1024m, 2g)", config.ErrInvalid, key, v)
	}
	return int64(f * mult), nil
}

// yarnLayout is the number of TaskManager containers a job needs and their slots.
func yarnLayout(c config.Config, slotsNeeded int) (tms, slots int, err error) {
	slots, err = c.Int(config.Slots, 1)
	if err != nil {
		return 0, 0, err
	}
	if slots < 1 {
		return 0, 0, fmt.Errorf("%w: -s %d: slots must be at least 1", config.ErrInvalid, slots)
	}
	return (slotsNeeded + slots - 1) / slots, slots, nil
}

func durationOr(c config.Config, key string, def time.Duration) time.Duration {
	d, err := c.Duration(key, def)
	if err != nil {
		return def
	}
	return d
}

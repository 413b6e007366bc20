package checkpoint

import (
	"fmt"
	"strings"
	"time"

	"floe/config"
)

// Configuration keys, Flink's names. docs/checkpoints.md lists them.
const (
	KeyInterval          = "execution.checkpointing.interval"
	KeyMode              = "execution.checkpointing.mode"
	KeyTimeout           = "execution.checkpointing.timeout"
	KeyMinPause          = "execution.checkpointing.min-pause"
	KeyMaxConcurrent     = "execution.checkpointing.max-concurrent-checkpoints"
	KeyTolerableFailures = "execution.checkpointing.tolerable-failed-checkpoints"
	KeyDir               = "execution.checkpointing.dir"
	KeySavepointDir      = "execution.checkpointing.savepoint-dir"
	KeyNumRetained       = "execution.checkpointing.num-retained"
	KeyRetention         = "execution.checkpointing.externalized-checkpoint-retention"
	// KeyUnaligned turns on unaligned checkpoints (docs/checkpoints.md).
	KeyUnaligned = "execution.checkpointing.unaligned.enabled"
	// KeyAlignedTimeout: with unaligned checkpoints on, a checkpoint starts
	// aligned and a task switches it to unaligned when its alignment took
	// this long (0: unaligned from the start).
	KeyAlignedTimeout = "execution.checkpointing.aligned-checkpoint-timeout"
)

// Mode is the consistency checkpoints give.
type Mode string

const (
	// ExactlyOnce: tasks with several inputs align barriers (hold back
	// channels whose barrier came until all have it), so each record's
	// effect is in the snapshot exactly once.
	ExactlyOnce Mode = "EXACTLY_ONCE"
	// AtLeastOnce: no alignment; records after a barrier on a fast channel
	// may be in the snapshot and replayed after recovery.
	AtLeastOnce Mode = "AT_LEAST_ONCE"
)

// Retention says what happens to retained checkpoints when a job is cancelled.
type Retention string

const (
	// DeleteOnCancellation: cancelling deletes the job's checkpoints; they
	// are kept when the job fails, for a manual restart with -s.
	DeleteOnCancellation Retention = "DELETE_ON_CANCELLATION"
	// RetainOnCancellation: cancelling keeps them too.
	RetainOnCancellation Retention = "RETAIN_ON_CANCELLATION"
)

// Config configures checkpointing. Build it with DefaultConfig or ParseConfig.
type Config struct {
	// Interval between periodic checkpoints; 0 turns them off (savepoints
	// still work).
	Interval time.Duration
	Mode     Mode
	// Timeout after which a checkpoint that not every task acknowledged is aborted.
	Timeout time.Duration
	// MinPause is the least time from the end of one checkpoint to the start
	// of the next; a MinPause above 0 allows one checkpoint at a time.
	MinPause time.Duration
	// MaxConcurrent checkpoints in flight (savepoints not counted).
	MaxConcurrent int
	// TolerableFailures is how many checkpoints in a row may fail (expire,
	// be declined, fail to write _metadata) before the job fails.
	TolerableFailures int
	// Dir is the checkpoint directory (a path, file:// or hdfs:// URI);
	// each job's checkpoints go to Dir/<job-id>.
	Dir string
	// SavepointDir is where savepoints go when no directory is given.
	SavepointDir string
	// NumRetained completed checkpoints are kept; older ones are deleted.
	NumRetained int
	Retention   Retention
	// Unaligned: barriers overtake in-flight data, kept as channel state
	// (savepoints stay aligned). Needs ExactlyOnce.
	Unaligned bool
	// AlignedTimeout: with Unaligned, how long a task aligns a checkpoint's
	// barriers before it switches to unaligned (0: at once).
	AlignedTimeout time.Duration
}

// DefaultConfig returns Flink's defaults: checkpointing off, exactly once,
// 10 minute timeout, no pause, one at a time, no failure tolerated, one
// checkpoint retained, deleted on cancellation.
func DefaultConfig() Config {
	return Config{
		Mode:          ExactlyOnce,
		Timeout:       10 * time.Minute,
		MaxConcurrent: 1,
		NumRetained:   1,
		Retention:     DeleteOnCancellation,
	}
}

// Enabled reports whether periodic checkpoints are on.
func (c Config) Enabled() bool { return c.Interval > 0 }

// ParseConfig reads the checkpointing keys of c over DefaultConfig. Errors
// wrap config.ErrInvalid.
func ParseConfig(c config.Config) (Config, error) {
	cfg := DefaultConfig()
	var err error
	if cfg.Interval, err = c.Duration(KeyInterval, 0); err != nil {
		return Config{}, err
	}
	if cfg.Interval < 0 { // Flink's -1: disabled
		cfg.Interval = 0
	}
	if cfg.Timeout, err = c.Duration(KeyTimeout, cfg.Timeout); err != nil {
		return Config{}, err
	}
	if cfg.MinPause, err = c.Duration(KeyMinPause, cfg.MinPause); err != nil {
		return Config{}, err
	}
	if cfg.MaxConcurrent, err = c.Int(KeyMaxConcurrent, cfg.MaxConcurrent); err != nil {
		return Config{}, err
	}
	if cfg.TolerableFailures, err = c.Int(KeyTolerableFailures, cfg.TolerableFailures); err != nil {
		return Config{}, err
	}
	if cfg.NumRetained, err = c.Int(KeyNumRetained, cfg.NumRetained); err != nil {
		return Config{}, err
	}
	if cfg.Unaligned, err = c.Bool(KeyUnaligned, false); err != nil {
		return Config{}, err
	}
	if cfg.AlignedTimeout, err = c.Duration(KeyAlignedTimeout, 0); err != nil {
		return Config{}, err
	}
	cfg.Dir = c.String(KeyDir, "")
	cfg.SavepointDir = c.String(KeySavepointDir, "")
	switch m := Mode(strings.ToUpper(c.String(KeyMode, string(ExactlyOnce)))); m {
	case ExactlyOnce, AtLeastOnce:
		cfg.Mode = m
	default:
		return Config{}, fmt.Errorf("%w: %s=%q: want %s or %s", config.ErrInvalid, KeyMode, m, ExactlyOnce, AtLeastOnce)
	}
	switch r := Retention(strings.ToUpper(c.String(KeyRetention, string(DeleteOnCancellation)))); r {
	case DeleteOnCancellation, RetainOnCancellation:
		cfg.Retention = r
	default:
		return Config{}, fmt.Errorf("%w: %s=%q: want %s or %s", config.ErrInvalid, KeyRetention, r, DeleteOnCancellation, RetainOnCancellation)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseConfigMap is ParseConfig of a plain map.
func ParseConfigMap(kv map[string]string) (Config, error) { return ParseConfig(config.New(kv)) }

// Validate checks the ranges of cfg's fields. Errors wrap config.ErrInvalid.
func (c Config) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("%w: %s=%v: %s", config.ErrInvalid, key, v, want)
	}
	switch {
	case c.Interval < 0:
		return bad(KeyInterval, c.Interval, "want a duration >= 0 (0: off)")
	case c.Mode != ExactlyOnce && c.Mode != AtLeastOnce:
		return bad(KeyMode, c.Mode, "want EXACTLY_ONCE or AT_LEAST_ONCE")
	case c.Timeout <= 0:
		return bad(KeyTimeout, c.Timeout, "want a duration > 0")
	case c.MinPause < 0:
		return bad(KeyMinPause, c.MinPause, "want a duration >= 0")
	case c.MaxConcurrent < 1:
		return bad(KeyMaxConcurrent, c.MaxConcurrent, "want at least 1")
	case c.TolerableFailures < 0:
		return bad(KeyTolerableFailures, c.TolerableFailures, "want at least 0")
	case c.NumRetained < 1:
		return bad(KeyNumRetained, c.NumRetained, "want at least 1")
	case c.Retention != DeleteOnCancellation && c.Retention != RetainOnCancellation:
		return bad(KeyRetention, c.Retention, "want DELETE_ON_CANCELLATION or RETAIN_ON_CANCELLATION")
	case c.Unaligned && c.Mode != ExactlyOnce:
		return bad(KeyUnaligned, c.Unaligned, "unaligned checkpoints need "+KeyMode+"=EXACTLY_ONCE")
	case c.AlignedTimeout < 0:
		return bad(KeyAlignedTimeout, c.AlignedTimeout, "want a duration >= 0 (0: unaligned at once)")
	}
	return nil
}

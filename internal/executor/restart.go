package executor

import (
	"fmt"
	"strings"
	"time"

	"floe/appmaster"
	"floe/internal/config"
)

// Restart strategy keys, with Flink's names.
const (
	RestartType          = "restart-strategy.type"
	FixedDelayAttempts   = "restart-strategy.fixed-delay.attempts"
	FixedDelayDelay      = "restart-strategy.fixed-delay.delay"
	ExpDelayInitial      = "restart-strategy.exponential-delay.initial-backoff"
	ExpDelayMax          = "restart-strategy.exponential-delay.max-backoff"
	ExpDelayMultiplier   = "restart-strategy.exponential-delay.backoff-multiplier"
	ExpDelayAttempts     = "restart-strategy.exponential-delay.attempts-before-reset-backoff"
	defaultRestartTries  = 3
	defaultRestartDelay  = time.Second
	defaultExpMaxBackoff = time.Minute
)

// RestartStrategy reads the job's restart strategy: fixed-delay (the
// default: 3 attempts, 1 s apart), exponential-delay, or none.
func RestartStrategy(c config.Config) (appmaster.RestartStrategy, error) {
	switch t := strings.ToLower(c.String(RestartType, "fixed-delay")); t {
	case "none", "off", "disable":
		return appmaster.RestartStrategy{}, nil
	case "fixed-delay", "fixeddelay":
		n, err := c.Int(FixedDelayAttempts, defaultRestartTries)
		if err != nil {
			return appmaster.RestartStrategy{}, err
		}
		d, err := c.Duration(FixedDelayDelay, defaultRestartDelay)
		if err != nil {
			return appmaster.RestartStrategy{}, err
		}
		return appmaster.RestartStrategy{Attempts: max(n, 0), Delay: d, Backoff: 1}, nil
	case "exponential-delay", "exponentialdelay":
		n, err := c.Int(ExpDelayAttempts, defaultRestartTries)
		if err != nil {
			return appmaster.RestartStrategy{}, err
		}
		d, err := c.Duration(ExpDelayInitial, defaultRestartDelay)
		if err != nil {
			return appmaster.RestartStrategy{}, err
		}
		m, err := c.Duration(ExpDelayMax, defaultExpMaxBackoff)
		if err != nil {
			return appmaster.RestartStrategy{}, err
		}
		f := 2.0
		if v, ok := c.Lookup(ExpDelayMultiplier); ok {
			if _, err := fmt.Sscanf(v, "%g", &f); err != nil || f < 1 {
				return appmaster.RestartStrategy{}, fmt.Errorf("%w: %s=%q: want a number >= 1", config.ErrInvalid, ExpDelayMultiplier, v)
			}
		}
		return appmaster.RestartStrategy{Attempts: max(n, 0), Delay: d, Backoff: f, MaxDelay: m}, nil
	default:
		return appmaster.RestartStrategy{}, fmt.Errorf("%w: %s=%q: want fixed-delay, exponential-delay or none", config.ErrInvalid, RestartType, t)
	}
}

package appmaster

import (
	"fmt"
	"strings"
	"time"

	"floe/config"
)

// Defaults of the restart strategy, as Flink's.
const (
	defaultRestartTries  = 3
	defaultRestartDelay  = time.Second
	defaultExpMaxBackoff = time.Minute
)

// ParseRestartStrategy reads the job's restart strategy: fixed-delay (the
// default: 3 attempts, 1 s apart), exponential-delay, or none.
func ParseRestartStrategy(c config.Config) (RestartStrategy, error) {
	switch t := strings.ToLower(c.String(config.RestartType, "fixed-delay")); t {
	case "none", "off", "disable":
		return RestartStrategy{}, nil
	case "fixed-delay", "fixeddelay":
		n, err := c.Int(config.FixedDelayAttempts, defaultRestartTries)
		if err != nil {
			return RestartStrategy{}, err
		}
		d, err := c.Duration(config.FixedDelayDelay, defaultRestartDelay)
		if err != nil {
			return RestartStrategy{}, err
		}
		return RestartStrategy{Attempts: max(n, 0), Delay: d, Backoff: 1}, nil
	case "exponential-delay", "exponentialdelay":
		n, err := c.Int(config.ExpDelayAttempts, defaultRestartTries)
		if err != nil {
			return RestartStrategy{}, err
		}
		d, err := c.Duration(config.ExpDelayInitial, defaultRestartDelay)
		if err != nil {
			return RestartStrategy{}, err
		}
		m, err := c.Duration(config.ExpDelayMax, defaultExpMaxBackoff)
		if err != nil {
			return RestartStrategy{}, err
		}
		f := 2.0
		if v, ok := c.Lookup(config.ExpDelayMultiplier); ok {
			if _, err := fmt.Sscanf(v, "%g", &f); err != nil || f < 1 {
				return RestartStrategy{}, fmt.Errorf("%w: %s=%q: want a number >= 1", config.ErrInvalid, config.ExpDelayMultiplier, v)
			}
		}
		return RestartStrategy{Attempts: max(n, 0), Delay: d, Backoff: f, MaxDelay: m}, nil
	default:
		return RestartStrategy{}, fmt.Errorf("%w: %s=%q: want fixed-delay, exponential-delay or none", config.ErrInvalid, config.RestartType, t)
	}
}

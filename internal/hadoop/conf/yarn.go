package conf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Default ResourceManager ports (yarn-default.xml).
const (
	defaultRMPort          = 8032
	defaultRMSchedulerPort = 8030
)

// RMAddresses returns the ResourceManager client addresses
// (ApplicationClientProtocol), one per RM when HA is enabled, in rm-ids
// order.
func (c *Conf) RMAddresses() ([]string, error) {
	return c.rmAddresses("yarn.resourcemanager.address", defaultRMPort)
}

// RMSchedulerAddresses returns the ResourceManager scheduler addresses
// (ApplicationMasterProtocol), one per RM when HA is enabled.
func (c *Conf) RMSchedulerAddresses() ([]string, error) {
	return c.rmAddresses("yarn.resourcemanager.scheduler.address", defaultRMSchedulerPort)
}

// HAEnabled reports whether ResourceManager HA is on.
func (c *Conf) HAEnabled() bool { return c.Bool("yarn.resourcemanager.ha.enabled", false) }

// RMIDs returns the ResourceManager ids of an HA configuration
// (yarn.resourcemanager.ha.rm-ids), in failover order; nil without HA.
func (c *Conf) RMIDs() []string {
	if !c.HAEnabled() {
		return nil
	}
	return c.Strings("yarn.resourcemanager.ha.rm-ids")
}

// Defaults of RMFailover when neither the yarn.client.failover-* keys nor
// the yarn.resourcemanager.connect.* keys are set: the values
// yarn-default.xml suggests in its comments (Hadoop itself would derive 30 s
// sleeps and a 15 minute wait from the connect.* defaults).
const (
	DefaultFailoverAttempts  = 15
	DefaultFailoverSleepBase = 500 * time.Millisecond
	DefaultFailoverSleepMax  = 15 * time.Second
)

// Failover is how a client of HA ResourceManagers retries: in rm-ids order,
// on to the next RM after a connection error or a StandbyException, with
// Attempts calls in all and a backoff from SleepBase doubling up to SleepMax
// once every RM has been tried.
type Failover struct {
	Attempts  int
	SleepBase time.Duration
	SleepMax  time.Duration
}

// RMFailover returns the failover policy of ResourceManager clients, as
// Hadoop's ConfiguredRMFailoverProxyProvider reads it:
// yarn.client.failover-max-attempts (failovers after the first call),
// yarn.client.failover-sleep-base-ms and yarn.client.failover-sleep-max-ms,
// which default to yarn.resourcemanager.connect.retry-interval.ms; without
// failover-max-attempts, yarn.resourcemanager.connect.max-wait.ms divided by
// the sleep base. Unset keys take the Default* constants. ok is false when HA
// is off.
func (c *Conf) RMFailover() (f Failover, ok bool) {
	if !c.HAEnabled() {
		return Failover{}, false
	}
	ms := func(key string) (time.Duration, bool) {
		v, ok := c.Get(key)
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Millisecond, true
	}
	f = Failover{Attempts: DefaultFailoverAttempts + 1, SleepBase: DefaultFailoverSleepBase, SleepMax: DefaultFailoverSleepMax}
	if d, ok := ms("yarn.resourcemanager.connect.retry-interval.ms"); ok && d > 0 {
		f.SleepBase, f.SleepMax = d, d
	}
	if d, ok := ms("yarn.client.failover-sleep-base-ms"); ok && d > 0 {
		f.SleepBase = d
	}
	if d, ok := ms("yarn.client.failover-sleep-max-ms"); ok && d > 0 {
		f.SleepMax = d
	}
	if f.SleepMax < f.SleepBase {
		f.SleepMax = f.SleepBase
	}
	if n := c.Int("yarn.client.failover-max-attempts", -1); n >= 0 {
		f.Attempts = n + 1
	} else if wait, ok := ms("yarn.resourcemanager.connect.max-wait.ms"); ok && wait > 0 {
		f.Attempts = int(wait/f.SleepBase) + 1
	}
	// Bounded whatever the configuration says (Hadoop's -1, wait forever,
	// included): a client names the RMs and gives up rather than hang.
	f.Attempts = min(max(f.Attempts, len(c.RMIDs())), 1000)
	return f, true
}

func (c *Conf) rmAddresses(key string, port int) ([]string, error) {
	if !c.HAEnabled() {
		a, err := c.address(key, "yarn.resourcemanager.hostname", port)
		if err != nil {
			return nil, err
		}
		return []string{a}, nil
	}
	ids := c.Strings("yarn.resourcemanager.ha.rm-ids")
	if len(ids) == 0 {
		return nil, fmt.Errorf("conf: yarn.resourcemanager.ha.enabled without yarn.resourcemanager.ha.rm-ids: %w", ErrMissing)
	}
	var out []string
	for _, id := range ids {
		a, err := c.address(key+"."+id, "yarn.resourcemanager.hostname."+id, port)
		if err != nil {
			return nil, fmt.Errorf("conf: ResourceManager %s: %w", id, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// address resolves key (host:port), else hostKey plus the default port.
// A per-id address that is unset falls back to the hostname, as Hadoop's
// HAUtil does.
func (c *Conf) address(key, hostKey string, port int) (string, error) {
	v, ok := c.Get(key)
	if !ok || v == "" || strings.Contains(v, "${") {
		h, ok := c.Get(hostKey)
		if !ok || h == "" {
			return "", fmt.Errorf("conf: neither %s nor %s is set: %w", key, hostKey, ErrMissing)
		}
		v = net.JoinHostPort(h, strconv.Itoa(port))
	}
	host, p, err := net.SplitHostPort(v)
	if err != nil {
		// A bare host takes the default port.
		host, p = v, strconv.Itoa(port)
	}
	if host == "0.0.0.0" || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, p), nil
}

// DefaultFS returns fs.defaultFS.
func (c *Conf) DefaultFS() string { return c.String("fs.defaultFS", "file:///") }

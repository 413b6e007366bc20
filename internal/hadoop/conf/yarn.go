package conf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
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

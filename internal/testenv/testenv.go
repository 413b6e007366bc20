// Package testenv gates integration tests on the real minicluster.
//
// Integration tests call HadoopConfDir. Without FLOE_INTEGRATION they are
// skipped, so `go test ./...` works anywhere. With FLOE_INTEGRATION=1 (as
// `make test` sets after `scripts/minicluster up`) a missing
// HADOOP_CONF_DIR or an unreachable ResourceManager fails the test: a
// broken cluster must not pass as skipped.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"

	"floe/internal/hadoop/conf"
)

// EnvIntegration turns integration tests on.
const EnvIntegration = "FLOE_INTEGRATION"

// HadoopConfDir returns HADOOP_CONF_DIR for an integration test, after
// checking that the ResourceManager it names accepts connections.
func HadoopConfDir(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvIntegration) == "" {
		t.Skip("integration test: set " + EnvIntegration + "=1 and HADOOP_CONF_DIR (make test does)")
	}
	dir := os.Getenv(conf.EnvHadoopConfDir)
	if dir == "" {
		t.Fatal(EnvIntegration + " is set but HADOOP_CONF_DIR is not: start the cluster with scripts/minicluster up")
	}
	c, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatalf("integration: %v", err)
	}
	addrs, err := c.RMAddresses()
	if err != nil {
		t.Fatalf("integration: %v", err)
	}
	var last error
	for _, a := range addrs {
		nc, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err == nil {
			nc.Close()
			return dir
		}
		last = err
	}
	t.Fatalf("integration: ResourceManager %v unreachable (HADOOP_CONF_DIR=%s): %v", addrs, dir, last)
	return ""
}

// DirNames are the names of dir's entries, sorted; the test fails if dir
// cannot be read.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

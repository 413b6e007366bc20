package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Tool returns the path of a command a test needs (promtool, prometheus,
// chromium). When it is missing the test fails in CI (CI or FLOE_INTEGRATION
// set) and is skipped elsewhere, saying how to install it.
func Tool(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := strings.Join(names, " or ") + " is not installed; scripts/install-test-deps installs it (apt-get)"
	if os.Getenv("CI") != "" || os.Getenv(EnvIntegration) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Promtool runs `promtool check metrics` on a /metrics answer and fails the
// test with promtool's findings.
func Promtool(t testing.TB, what string, exposition []byte) {
	t.Helper()
	cmd := exec.Command(Tool(t, "promtool"), "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics on %s: %v\n%s", what, err, out)
	}
}

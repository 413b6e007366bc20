package yarn

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"floe/internal/hadoop/ipc"
)

// The RM's ApplicationNotFoundException becomes ErrUnknownApplication with
// its message's first line and no Java class; other errors pass unchanged.
func TestUnknownApplication(t *testing.T) {
	id := ApplicationID{ClusterTimestamp: 1, ID: 1}
	re := &ipc.RemoteError{Class: "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException",
		Message: "Application with id 'application_1_0001' doesn't exist in RM.\n\tat org.apache.hadoop.yarn.server.X.y(X.java:1)"}
	err := unknownApplication(id, fmt.Errorf("ipc: call: %w", re))
	if !errors.Is(err, ErrUnknownApplication) || strings.Contains(err.Error(), "org.apache") || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "application_1_0001 doesn't exist") && !strings.Contains(err.Error(), "'application_1_0001' doesn't exist") {
		t.Fatalf("got %q", err)
	}
	other := fmt.Errorf("x: %w", &ipc.RemoteError{Class: "org.apache.hadoop.security.AccessControlException", Message: "no"})
	if got := unknownApplication(id, other); got != other {
		t.Fatalf("other remote error changed: %v", got)
	}
}

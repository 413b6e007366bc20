package yarn

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestIDs(t *testing.T) {
	app, err := ParseApplicationID("application_1700000000000_0042")
	if err != nil || app.ID != 42 || app.ClusterTimestamp != 1700000000000 || app.String() != "application_1700000000000_0042" {
		t.Fatalf("%v %v", app, err)
	}
	if got := AppIDFromProto(app.Proto()); got != app {
		t.Fatalf("proto round trip %v", got)
	}
	for _, s := range []string{"container_1700000000000_0042_01_000003", "container_e17_1700000000000_0042_02_1000003"} {
		c, err := ParseContainerID(s)
		if err != nil || c.String() != s {
			t.Fatalf("%s: %v %v", s, c, err)
		}
		if got := ContainerIDFromProto(c.Proto()); got != c {
			t.Fatalf("proto round trip %v", got)
		}
	}
	c, _ := ParseContainerID("container_e17_1700000000000_0042_02_000003")
	if c.ID != 17<<40|3 || c.Attempt.String() != "appattempt_1700000000000_0042_000002" {
		t.Fatalf("%d %s", c.ID, c.Attempt)
	}
	if !proto.Equal(c.Proto().GetAppAttemptId(), c.Attempt.Proto()) {
		t.Fatal("attempt proto")
	}
	for _, bad := range []string{"", "application_x_1", "application_1", "container_1_2_3", "container_ex_1_2_3_4", "job_1_2", "application_1_-1"} {
		if _, err := ParseApplicationID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseApplicationID(%q): %v", bad, err)
		}
		if _, err := ParseContainerID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseContainerID(%q): %v", bad, err)
		}
	}
}

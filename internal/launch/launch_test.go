package launch

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"floe/config"
	"floe/internal/role"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every case here returns an error before anything would start or exit the process.
func TestExecuteRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, role, want string
		invalid          bool
	}{
		{name: "invalid role", role: "workr", want: `FLOE_ROLE="workr" is not a role`, invalid: true},
		{name: "client without a graph", role: "", want: "client role needs a job graph"},
		{name: "taskmanager without a graph", role: string(role.TaskManager), want: "role taskmanager needs a job graph"},
		{name: "jobmanager without a graph", role: string(role.JobManager), want: "role jobmanager needs a job graph"},
		{name: "plan without a graph", role: string(role.Plan), want: "role plan needs a job graph"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(role.EnvRole, tc.role)
			r, err := Execute(context.Background(), nil, zerolog.Nop())
			if err == nil || r != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Execute: %v, %v; want an error saying %q", r, err, tc.want)
			}
			if errors.Is(err, config.ErrInvalid) != tc.invalid {
				t.Errorf("errors.Is(%v, config.ErrInvalid) = %v, want %v", err, !tc.invalid, tc.invalid)
			}
		})
	}
}

func TestExecuteAsyncRefusesInvalidRole(t *testing.T) {
	t.Setenv(role.EnvRole, "nope")
	if jc, err := ExecuteAsync(context.Background(), nil, zerolog.Nop()); err == nil || jc != nil {
		t.Fatalf("ExecuteAsync: %v, %v; want an error", jc, err)
	}
}

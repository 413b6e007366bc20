package submit

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

func TestRefusedSaysWhyInOneLine(t *testing.T) {
	report := func(attempt int32, queue, diag string) *hadooppb.ApplicationReportProto {
		st := hadooppb.YarnApplicationStateProto_FAILED
		return &hadooppb.ApplicationReportProto{YarnApplicationState: &st, Queue: proto.String(queue), Diagnostics: proto.String(diag),
			CurrentApplicationAttemptId: &hadooppb.ApplicationAttemptIdProto{AttemptId: proto.Int32(attempt)}}
	}
	const app = "application_1_0001"
	for _, tc := range []struct {
		rep  *hadooppb.ApplicationReportProto
		want string // "" for not refused
	}{
		{report(-1, "nosuch", "Application application_1_0001 submitted by user rootApplication application_1_0001 submitted by user root to unknown queue: nosuch"),
			`YARN queue "nosuch" does not exist (-qu, yarn.application.queue): application application_1_0001 refused by the ResourceManager: Application application_1_0001 submitted by user root to unknown queue: nosuch`},
		{report(-1, "closed", "Queue closed is STOPPED. Cannot accept submission of application: application_1_0001"), `YARN queue "closed" is not accepting applications`},
		{report(-1, "root", "Application application_1_0001 submitted by user root to non-leaf queue: root"), `YARN queue "root" is not accepting applications`},
		{report(-1, "default", "User bob cannot submit applications to queue root.default"), "application application_1_0001 refused by the ResourceManager before it ran: User bob"},
		{report(1, "default", "Application failed 1 times due to AM Container exited with exitCode: 1"), ""}, // the AM ran: its logs say why
	} {
		err := refused(tc.rep, app)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: refused says %v; want nil", tc.rep.GetDiagnostics(), err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v; want one line wrapping ErrRefused with %q", tc.rep.GetDiagnostics(), err, tc.want)
		}
		if strings.Count(err.Error(), "submitted by user") > 1 {
			t.Errorf("the RM's text is doubled: %v", err)
		}
	}
}

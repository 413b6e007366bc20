package submit

import (
	"errors"
	"fmt"
	"strings"

	"floe/internal/hadoop/hadooppb"
)

// ErrRefused is wrapped when the ResourceManager refused an application
// before its ApplicationMaster ever ran (an unknown queue, a queue that does
// not accept applications, an ACL): the request is wrong, so floe exits 2,
// and there are no logs to point to.
var ErrRefused = errors.New("refused by the ResourceManager")

// refused returns ErrRefused wrapped with one line saying why, when rep is
// an application that failed without an attempt of its ApplicationMaster;
// nil otherwise.
func refused(rep *hadooppb.ApplicationReportProto, appID string) error {
	if rep.GetYarnApplicationState() != hadooppb.YarnApplicationStateProto_FAILED ||
		rep.GetCurrentApplicationAttemptId().GetAttemptId() > 0 {
		return nil
	}
	diag := undouble(strings.TrimSpace(firstLine(rep.GetDiagnostics())))
	queue := rep.GetQueue()
	lower := strings.ToLower(diag)
	switch {
	case strings.Contains(lower, "unknown queue"):
		return fmt.Errorf("YARN queue %q does not exist (-qu, yarn.application.queue): application %s %w: %s", queue, appID, ErrRefused, diag)
	case strings.Contains(lower, "stopped") || strings.Contains(lower, "not accept") || strings.Contains(lower, "cannot accept") ||
		strings.Contains(lower, "non-leaf queue") || strings.Contains(lower, "parent queue"):
		return fmt.Errorf("YARN queue %q is not accepting applications (-qu, yarn.application.queue): application %s %w: %s", queue, appID, ErrRefused, diag)
	}
	return fmt.Errorf("application %s %w before it ran: %s", appID, ErrRefused, diag)
}

// undouble drops the start of a message that the ResourceManager repeated
// inside itself ("Application x submitted by user rootApplication x
// submitted by user root to unknown queue: q"): when the message's first
// words occur again, what follows from there is the whole message.
func undouble(s string) string {
	const head = 24
	if len(s) < 2*head {
		return s
	}
	if i := strings.Index(s[1:], s[:head]); i >= 0 {
		return s[i+1:]
	}
	return s
}

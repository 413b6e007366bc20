package appmaster

import (
	"errors"
	"strings"
)

// ErrNotRecoverable is wrapped by a failure that would only repeat if the
// job ran again: a savepoint that is missing, corrupt or does not fit the
// job, a checkpoint directory that cannot be written. The job fails at once,
// without going through its restart strategy, and floe exits 2: the input
// is wrong, not the run.
var ErrNotRecoverable = errors.New("not recoverable")

// NotRecoverable marks err as not recoverable: errors.Is(result,
// ErrNotRecoverable) holds and its text is err's own.
func NotRecoverable(err error) error {
	if err == nil {
		return nil
	}
	return notRecoverable{err}
}

type notRecoverable struct{ error }

func (n notRecoverable) Unwrap() []error { return []error{n.error, ErrNotRecoverable} }

// notRecoverablePrefix starts the failure text (JobResult.Failure, a YARN
// application's diagnostics) of a job failed by a not-recoverable error:
// the one-line failure is all that crosses to the client.
const notRecoverablePrefix = "not recoverable: "

// FailureNotRecoverable reports whether a job's one-line failure, as the
// JobManager wrote it, is not recoverable.
func FailureNotRecoverable(failure string) bool {
	return strings.Contains(failure, notRecoverablePrefix)
}

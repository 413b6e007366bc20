package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// jobCommandError is what cancel, stop and savepoint print when the
// JobManager refuses: an unknown job id is a usage error (exit 2) saying so,
// any other refusal exits 1 with the JobManager's message, never the raw
// "rpc error: code = ... desc = ..." text.
func jobCommandError(verb, jobID string, err error) error {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return cli.Exit(verb+": "+err.Error(), 1)
	}
	st := se.GRPCStatus()
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument:
		return usageError{fmt.Errorf("%s: no job %s there (%s); 'floe list' shows the jobs", verb, jobID, st.Message())}
	}
	// Keep what the caller added around the status, in place of its raw text.
	msg := strings.Replace(err.Error(), st.Err().Error(), st.Message(), 1)
	return cli.Exit(fmt.Sprintf("%s: %s (%s)", verb, msg, st.Code()), 1)
}

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestJobCommandError(t *testing.T) {
	unknown := fmt.Errorf("session application_1_2: %w", status.Error(codes.NotFound, "job 1234 not found"))
	err := jobCommandError("cancel", "1234", unknown)
	msg := oneLine(err)
	if exitCode(context.Background(), err) != exitUsage || strings.Contains(msg, "rpc error") || !strings.Contains(msg, "no job 1234") {
		t.Errorf("unknown id: exit %d, %q", exitCode(context.Background(), err), msg)
	}
	other := fmt.Errorf("session application_1_2: %w", status.Error(codes.FailedPrecondition, "job is not running"))
	err = jobCommandError("stop", "1234", other)
	msg = oneLine(err)
	if exitCode(context.Background(), err) != exitJobFailed || strings.Contains(msg, "rpc error") || msg != "stop: session application_1_2: job is not running (FailedPrecondition)" {
		t.Errorf("other refusal: exit %d, %q", exitCode(context.Background(), err), msg)
	}
}

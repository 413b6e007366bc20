package rpc

import (
	"testing"

	"go.uber.org/goleak"
)

// The Mux starts goroutines: none may outlive its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

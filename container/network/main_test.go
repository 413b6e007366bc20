package network

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" { // a child of the two-process exchange benchmarks
		os.Exit(runExchangeChild(role))
	}
	goleak.VerifyTestMain(m)
}

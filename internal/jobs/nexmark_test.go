package jobs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"floe/datastream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The nexmark job's --cpuprofile and --memprofile write pprof files (gzipped
// protobuf) of the run, and the run's summary is still printed.
func TestNexmarkProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "q0.cpu.pprof"), filepath.Join(dir, "q0.alloc.pprof")
	var out bytes.Buffer
	env := datastream.NewEnvironment(datastream.WithLogger(zerolog.Nop()))
	err := nexmarkJob.Run(context.Background(), env, []string{"--query", "q0", "--events", "20000", "--cpuprofile", cpu, "--memprofile", mem}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nexmark q0: 20000 events") {
		t.Errorf("summary: got %q", out.String())
	}
	for _, f := range []string{cpu, mem} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s: not a gzipped pprof profile (%d bytes)", f, len(b))
		}
	}
}

// A profile that cannot be created fails the job before it runs.
func TestNexmarkProfileUnwritable(t *testing.T) {
	env := datastream.NewEnvironment(datastream.WithLogger(zerolog.Nop()))
	bad := filepath.Join(t.TempDir(), "missing", "x.pprof")
	err := nexmarkJob.Run(context.Background(), env, []string{"--query", "q0", "--events", "10", "--cpuprofile", bad}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "cpu profile") {
		t.Fatalf("got %v, want an error about the cpu profile", err)
	}
}

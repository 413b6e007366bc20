package appmaster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/internal/output"
	"floe/internal/testenv"
)

// A job that ends FINISHED or FAILED is handed to OnEnd, with its output
// directories, before its waiting parts are published or removed (a YARN
// attempt records the end there for a successor); a CANCELED one is not
// (YARN stopping the attempt cancels it too, and a successor goes on with
// the job).
func TestOnEndComesBeforeThePublication(t *testing.T) {
	for _, c := range []struct {
		status   JobStatus
		recorded bool
		visible  []string
	}{
		{Finished, true, []string{"part-0-0"}},
		{Failed, true, nil},
		{Canceled, false, nil},
	} {
		out := t.TempDir()
		ready := filepath.Join(out, output.ReadyName("part-0-0", "j"))
		if err := os.WriteFile(ready, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var calls []string
		var jm *JobManager
		jm, err := New(Options{Log: zerolog.Nop(), OnEnd: func(_ context.Context, job string, status JobStatus, failure string, outputs []string) error {
			mu.Lock()
			defer mu.Unlock()
			_, err := os.Stat(ready)
			calls = append(calls, job, string(status), failure)
			calls = append(calls, outputs...)
			if err != nil {
				calls = append(calls, "the parts were settled first")
			}
			// Nobody polling the job's state hears of its end yet.
			if st := jm.Jobs()[0].State; st.Terminal() {
				calls = append(calls, "shown as "+string(st)+" before its outputs were settled")
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		g := testGraph()
		g.Vertices[1].OutputDirs = []string{out}
		e := &jobEntry{exec: newExecution("j", g, now), done: make(chan struct{})}
		e.exec.status, e.exec.failure = c.status, "why"
		jm.mu.Lock()
		jm.jobs["j"] = e
		jm.apply(e, nil)
		jm.mu.Unlock()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the job's end was not announced", c.status)
		}
		jm.lis.Close()
		var want []string
		if c.recorded {
			want = []string{"j", string(c.status), "why", out}
		}
		mu.Lock()
		if !slices.Equal(calls, want) {
			t.Errorf("%s: OnEnd calls %q, want %q", c.status, calls, want)
		}
		mu.Unlock()
		if visible := testenv.DirNames(t, out); !slices.Equal(visible, c.visible) {
			t.Errorf("%s: output holds %v, want %v", c.status, visible, c.visible)
		}
	}
}

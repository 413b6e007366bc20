package datastream_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"floe/datastream"
)

// A keyed Reduce (here Sum) keeps its running values in the state backend:
// after failures the job recovers them from the last checkpoint, and every
// running sum is written exactly once.
func TestRollingSumExactlyOnce(t *testing.T) {
	for _, backend := range []string{"hashmap", "pebble"} {
		t.Run(backend, func(t *testing.T) {
			const events, keys, failures = 16000, 13, 3
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			env := recoveryEnv(dir, "EXACTLY_ONCE", backend, failures)
			src := datastream.Generate(env, func(i int64) keyCount { return keyCount{fmt.Sprintf("k%d", i%keys), 1} },
				datastream.GeneratorOptions{Count: events, RatePerSecond: 8000}).UID("events")
			sums := datastream.Sum(datastream.KeyBy(src, func(kc keyCount) string { return kc.Key }),
				func(kc *keyCount) *int64 { return &kc.Count }).UID("sum")
			failNow, panics := failingTextSink(sums, out)
			stop := make(chan struct{})
			go func() {
				for i := range failures {
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(300+97*i) * time.Millisecond):
						failNow.Store(true)
					}
				}
			}()
			_, err := env.Execute(context.Background(), "rolling-sum")
			close(stop)
			if err != nil {
				t.Fatal(err)
			}
			if panics.Load() == 0 {
				t.Fatal("no failure was injected: the job ended too soon to test recovery")
			}
			assertExactlyOnce(t, countLines(t, out), expectedCounts(events, keys))
		})
	}
}

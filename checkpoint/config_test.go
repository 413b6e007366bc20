package checkpoint

import (
	"errors"
	"strings"
	"testing"
	"time"

	"floe/config"
)

func TestParseConfig(t *testing.T) {
	def := DefaultConfig()
	for _, tc := range []struct {
		name string
		kv   map[string]string
		want func(c *Config)
		err  string
	}{
		{name: "defaults", kv: nil, want: func(*Config) {}},
		{name: "everything", kv: map[string]string{
			KeyInterval: "1s", KeyMode: "at_least_once", KeyTimeout: "2 min", KeyMinPause: "500",
			KeyMaxConcurrent: "3", KeyTolerableFailures: "2", KeyDir: "hdfs:///floe/checkpoints",
			KeySavepointDir: "hdfs:///floe/savepoints", KeyNumRetained: "5", KeyRetention: "RETAIN_ON_CANCELLATION",
		}, want: func(c *Config) {
			c.Interval, c.Mode, c.Timeout, c.MinPause = time.Second, AtLeastOnce, 2*time.Minute, 500*time.Millisecond
			c.MaxConcurrent, c.TolerableFailures, c.Dir, c.SavepointDir = 3, 2, "hdfs:///floe/checkpoints", "hdfs:///floe/savepoints"
			c.NumRetained, c.Retention = 5, RetainOnCancellation
		}},
		{name: "interval -1 is off", kv: map[string]string{KeyInterval: "-1"}, want: func(*Config) {}},
		{name: "bad interval", kv: map[string]string{KeyInterval: "soon"}, err: KeyInterval},
		{name: "bad mode", kv: map[string]string{KeyMode: "TWICE"}, err: KeyMode},
		{name: "bad retention", kv: map[string]string{KeyRetention: "KEEP"}, err: KeyRetention},
		{name: "zero timeout", kv: map[string]string{KeyTimeout: "0"}, err: KeyTimeout},
		{name: "negative pause", kv: map[string]string{KeyMinPause: "-5"}, err: KeyMinPause},
		{name: "zero concurrent", kv: map[string]string{KeyMaxConcurrent: "0"}, err: KeyMaxConcurrent},
		{name: "negative tolerable", kv: map[string]string{KeyTolerableFailures: "-1"}, err: KeyTolerableFailures},
		{name: "not a number", kv: map[string]string{KeyNumRetained: "many"}, err: KeyNumRetained},
		{name: "zero retained", kv: map[string]string{KeyNumRetained: "0"}, err: KeyNumRetained},
	} {
		got, err := ParseConfigMap(tc.kv)
		if tc.err != "" {
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an invalid-config error naming %s", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := def
		tc.want(&want)
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, want)
		}
	}
	if c, _ := ParseConfig(config.New(map[string]string{KeyInterval: "10s"})); !c.Enabled() {
		t.Error("interval set, not enabled")
	}
	if DefaultConfig().Enabled() {
		t.Error("enabled by default")
	}
}

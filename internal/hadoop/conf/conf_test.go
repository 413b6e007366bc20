package conf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeSite(t *testing.T, dir, name string, props ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<configuration>\n")
	for i := 0; i+1 < len(props); i += 2 {
		final := ""
		name := props[i]
		if n, ok := strings.CutSuffix(name, "!"); ok {
			name, final = n, "<final>true</final>"
		}
		b.WriteString("  <property><name>" + name + "</name><value>" + props[i+1] + "</value>" + final + "</property>\n")
	}
	b.WriteString("</configuration>\n")
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSingleRM(t *testing.T) {
	d := t.TempDir()
	writeSite(t, d, "core-site.xml", "fs.defaultFS", "hdfs://127.0.0.1:19820")
	writeSite(t, d, "yarn-site.xml", "yarn.resourcemanager.hostname", "rm.example", "yarn.resourcemanager.scheduler.address", "rm.example:18030")
	t.Setenv(EnvHadoopConfDir, d)
	t.Setenv(EnvYarnConfDir, "")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultFS() != "hdfs://127.0.0.1:19820" {
		t.Errorf("defaultFS = %s", c.DefaultFS())
	}
	rm, err := c.RMAddresses()
	if err != nil || !reflect.DeepEqual(rm, []string{"rm.example:8032"}) {
		t.Errorf("RMAddresses = %v, %v (expanded from the hostname default)", rm, err)
	}
	sch, err := c.RMSchedulerAddresses()
	if err != nil || !reflect.DeepEqual(sch, []string{"rm.example:18030"}) {
		t.Errorf("RMSchedulerAddresses = %v, %v", sch, err)
	}
	if len(c.Source) != 2 {
		t.Errorf("Source = %v", c.Source)
	}
}

func TestHA(t *testing.T) {
	d := t.TempDir()
	writeSite(t, d, "yarn-site.xml",
		"yarn.resourcemanager.ha.enabled", "true",
		"yarn.resourcemanager.ha.rm-ids", " rm1, rm2 ",
		"yarn.resourcemanager.address.rm1", "a:1",
		"yarn.resourcemanager.hostname.rm2", "b",
		"yarn.resourcemanager.scheduler.address.rm2", "b:2",
		"yarn.resourcemanager.hostname.rm1", "a")
	c, err := LoadDirs(d)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := c.RMAddresses()
	if err != nil || !reflect.DeepEqual(rm, []string{"a:1", "b:8032"}) {
		t.Errorf("RMAddresses = %v, %v", rm, err)
	}
	sch, err := c.RMSchedulerAddresses()
	if err != nil || !reflect.DeepEqual(sch, []string{"a:8030", "b:2"}) {
		t.Errorf("RMSchedulerAddresses = %v, %v", sch, err)
	}
	c.Set("yarn.resourcemanager.ha.rm-ids", "")
	if _, err := c.RMAddresses(); !errors.Is(err, ErrMissing) {
		t.Errorf("no rm-ids: %v", err)
	}
	c.Set("yarn.resourcemanager.ha.rm-ids", "rm3")
	if _, err := c.RMAddresses(); !errors.Is(err, ErrMissing) {
		t.Errorf("rm3 without address: %v", err)
	}
}

func TestOverrideFinalExpand(t *testing.T) {
	h, y := t.TempDir(), t.TempDir()
	writeSite(t, h, "core-site.xml", "a!", "1", "b", "1", "c", "${b}-${env.FLOE_CONF_TEST}-${nope}")
	writeSite(t, y, "yarn-site.xml", "a", "2", "b", "2", "loop", "${loop}")
	t.Setenv("FLOE_CONF_TEST", "e")
	t.Setenv(EnvHadoopConfDir, h)
	t.Setenv(EnvYarnConfDir, y)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("a"); v != "1" {
		t.Errorf("final a = %s", v)
	}
	if v, _ := c.Get("c"); v != "2-e-${nope}" {
		t.Errorf("c = %s", v)
	}
	if v, _ := c.Get("loop"); v != "${loop}" {
		t.Errorf("loop = %s", v)
	}
	if c.Int("b", 0) != 2 || c.Int("c", 7) != 7 || !c.Bool("x", true) {
		t.Error("typed getters")
	}
	if _, ok := c.Map()["yarn.resourcemanager.address"]; !ok {
		t.Error("Map lacks defaults")
	}
}

func TestErrors(t *testing.T) {
	t.Setenv(EnvHadoopConfDir, "")
	t.Setenv(EnvYarnConfDir, "")
	if _, err := Load(); !errors.Is(err, ErrNoConfDir) {
		t.Errorf("no dirs: %v", err)
	}
	if _, err := LoadDirs(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing dir: no error")
	}
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "core-site.xml"), []byte("<configuration><property>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDirs(d); !errors.Is(err, ErrParse) {
		t.Errorf("bad xml: %v", err)
	}
}

func TestRMFailover(t *testing.T) {
	ha := map[string]string{"yarn.resourcemanager.ha.enabled": "true", "yarn.resourcemanager.ha.rm-ids": "rm0,rm1"}
	with := func(kv ...string) *Conf {
		c := New(ha)
		for i := 0; i+1 < len(kv); i += 2 {
			c.Set(kv[i], kv[i+1])
		}
		return c
	}
	if _, ok := New(nil).RMFailover(); ok {
		t.Error("RMFailover without HA: ok")
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		c    *Conf
		want Failover
	}{
		{"defaults", with(), Failover{DefaultFailoverAttempts + 1, DefaultFailoverSleepBase, DefaultFailoverSleepMax}},
		{"client keys", with("yarn.client.failover-max-attempts", "30", "yarn.client.failover-sleep-base-ms", "200",
			"yarn.client.failover-sleep-max-ms", "2000"), Failover{31, 200 * ms, 2000 * ms}},
		// Hadoop: the sleeps fall back to connect.retry-interval.ms, the
		// attempts to connect.max-wait.ms / sleep base.
		{"connect keys", with("yarn.resourcemanager.connect.retry-interval.ms", "1000",
			"yarn.resourcemanager.connect.max-wait.ms", "10000"), Failover{11, time.Second, time.Second}},
		{"max below base", with("yarn.client.failover-sleep-base-ms", "300", "yarn.client.failover-sleep-max-ms", "100"),
			Failover{DefaultFailoverAttempts + 1, 300 * ms, 300 * ms}},
		{"zero failovers still tries every RM", with("yarn.client.failover-max-attempts", "0"),
			Failover{2, DefaultFailoverSleepBase, DefaultFailoverSleepMax}},
		{"bounded", with("yarn.client.failover-max-attempts", "2147483647"), Failover{1000, DefaultFailoverSleepBase, DefaultFailoverSleepMax}},
	} {
		got, ok := tc.c.RMFailover()
		if !ok || got != tc.want {
			t.Errorf("%s: RMFailover = %+v, %v; want %+v", tc.name, got, ok, tc.want)
		}
	}
	if ids := with().RMIDs(); !reflect.DeepEqual(ids, []string{"rm0", "rm1"}) {
		t.Errorf("RMIDs = %v", ids)
	}
}

package role

import (
	"encoding/base64"
	"errors"
	"os"
	"slices"
	"testing"

	"floe/config"
)

func TestCurrent(t *testing.T) {
	for _, r := range []Role{Client, JobManager, TaskManager, Plan, Session, Supervisor} {
		t.Setenv(EnvRole, string(r))
		got, err := Current()
		if err != nil || got != r {
			t.Errorf("%s=%q: got %q, %v", EnvRole, string(r), got, err)
		}
	}
	for _, bad := range []string{"JobManager", "client", "worker", " taskmanager"} {
		t.Setenv(EnvRole, bad)
		if _, err := Current(); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%s=%q: err %v, want config.ErrInvalid", EnvRole, bad, err)
		}
	}
}

func TestRoleNames(t *testing.T) {
	if Client.String() != "client" || TaskManager.String() != "taskmanager" {
		t.Errorf("names: %q, %q", Client.String(), TaskManager.String())
	}
	for r, want := range map[Role]bool{Client: false, JobManager: false, TaskManager: false, Plan: false, Session: true, Supervisor: true} {
		if r.Service() != want {
			t.Errorf("%s.Service() = %v, want %v", r, r.Service(), want)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	const js = `{"parallelism.default":"3","execution.buffer-timeout":"10 ms"}`
	for name, v := range map[string]string{"json": js, "base64": base64.StdEncoding.EncodeToString([]byte(js))} {
		t.Setenv(EnvConfig, v)
		c, err := ConfigFromEnv()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(c.Keys(), []string{"execution.buffer-timeout", "parallelism.default"}) ||
			c.String("parallelism.default", "") != "3" || c.String("execution.buffer-timeout", "") != "10 ms" {
			t.Errorf("%s: got keys %v", name, c.Keys())
		}
	}

	t.Setenv(EnvConfig, "")
	if c, err := ConfigFromEnv(); err != nil || len(c.Keys()) != 0 {
		t.Errorf("unset: %v, %v", c.Keys(), err)
	}
	for name, v := range map[string]string{
		"bad json":        `{"a":`,
		"bad base64":      "not base64!",
		"base64 not json": base64.StdEncoding.EncodeToString([]byte("[1,2]")),
	} {
		t.Setenv(EnvConfig, v)
		if _, err := ConfigFromEnv(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestEnvInt(t *testing.T) {
	t.Setenv(EnvSlots, "4")
	if n := EnvInt(EnvSlots, 1); n != 4 {
		t.Errorf("got %d, want 4", n)
	}
	t.Setenv(EnvSlots, "four")
	if n := EnvInt(EnvSlots, 1); n != 1 {
		t.Errorf("not a number: got %d, want the default 1", n)
	}
}

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"-p", "-p"},
		{"key=value", "key=value"},
		{"hdfs://nn:8020/a/b.txt", "hdfs://nn:8020/a/b.txt"},
		{"a,b+c@d%e_f", "a,b+c@d%e_f"},
		{"", "''"},
		{"two words", "'two words'"},
		{"it's", `'it'\''s'`},
		{`$HOME`, `'$HOME'`},
		{"a;rm -rf /", "'a;rm -rf /'"},
		{`{"k":"v"}`, `'{"k":"v"}'`},
		{"tab\there", "'tab\there'"},
		{"é", "'é'"},
	} {
		if got := ShellQuote(tc.in); got != tc.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestContainerCommand(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = []string{"/path/to/job", "--input", "my file.txt", "-Dk=v"}

	for _, tc := range []struct {
		r        Role
		withArgs bool
		want     string
	}{
		{JobManager, true, "./floe-job --input 'my file.txt' -Dk=v 1><LOG_DIR>/jobmanager.out 2><LOG_DIR>/jobmanager.log"},
		{TaskManager, true, "./floe-job --input 'my file.txt' -Dk=v 1><LOG_DIR>/taskmanager.out 2><LOG_DIR>/taskmanager.log"},
		{Session, false, "./floe-job 1><LOG_DIR>/jobmanager.out 2><LOG_DIR>/jobmanager.log"},
		{Supervisor, false, "./floe-job 1><LOG_DIR>/taskmanager.out 2><LOG_DIR>/taskmanager.log"},
	} {
		if got := ContainerCommand(tc.r, tc.withArgs); got != tc.want {
			t.Errorf("ContainerCommand(%s, %v)\n got %s\nwant %s", tc.r, tc.withArgs, got, tc.want)
		}
	}
}

package yarn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"floe/config"
	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	yarnrpc "floe/internal/hadoop/yarn"
	"floe/internal/role"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func resource(file string, size int64) *hadooppb.LocalResourceProto {
	return &hadooppb.LocalResourceProto{
		Resource:   &hadooppb.URLProto{Scheme: proto.String("hdfs"), Host: proto.String("nn"), Port: proto.Int32(8020), File: proto.String(file)},
		Size:       proto.Int64(size),
		Timestamp:  proto.Int64(1700000000000),
		Type:       hadooppb.LocalResourceTypeProto_FILE.Enum(),
		Visibility: hadooppb.LocalResourceVisibilityProto_APPLICATION.Enum(),
	}
}

func encode(t *testing.T, lr *hadooppb.LocalResourceProto) string {
	t.Helper()
	b, err := proto.Marshal(lr)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// The client hands the ApplicationMaster the job binary and the Hadoop
// configuration files in its environment; every TaskManager container gets
// them as local resources, with the AM's configuration and the JobManager's
// address and secret.
func TestTaskManagerLaunch(t *testing.T) {
	bin := resource("/user/u/.floe/binaries/abc/floe-job", 1234)
	core := resource("/user/u/.floe/staging/app/core-site.xml", 99)
	files, _ := json.Marshal(map[string]string{"core-site.xml": encode(t, core)})
	t.Setenv(role.EnvBinary, encode(t, bin))
	t.Setenv(role.EnvConfFiles, base64.StdEncoding.EncodeToString(files))
	t.Setenv(role.EnvConfig, "eyJhIjoiYiJ9")
	t.Setenv(role.EnvHadoopUser, "alice")

	l, err := TaskManagerLaunch("10.0.0.5:40001", "secret", 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		role.EnvRole: "taskmanager", role.EnvJobManager: "10.0.0.5:40001", role.EnvSecret: "secret", role.EnvSlots: "4",
		role.EnvConfig: "eyJhIjoiYiJ9", role.EnvHadoopUser: "alice", conf.EnvHadoopConfDir: ".", "GOMAXPROCS": "3",
	} {
		if got := l.Env[k]; got != want {
			t.Errorf("env %s=%q, want %q", k, got, want)
		}
	}
	if len(l.Env) != 8 {
		t.Errorf("env has %d entries, want 8: %v", len(l.Env), l.Env)
	}
	if len(l.LocalResources) != 2 || !proto.Equal(l.LocalResources[role.BinaryName], bin) || !proto.Equal(l.LocalResources["core-site.xml"], core) {
		t.Errorf("local resources %v", l.LocalResources)
	}
	if want := role.ContainerCommand(role.TaskManager, true); len(l.Command) != 1 || l.Command[0] != want {
		t.Errorf("command %q, want %q", l.Command, want)
	}
	if !strings.HasPrefix(l.Command[0], "./"+role.BinaryName) || !strings.Contains(l.Command[0], "<LOG_DIR>/taskmanager.log") {
		t.Errorf("command %q does not run the job binary with its log in the container's log directory", l.Command[0])
	}
}

func TestTaskManagerLaunchBadEnvironment(t *testing.T) {
	good := encode(t, resource("/bin", 1))
	files := func(m map[string]string) string {
		b, _ := json.Marshal(m)
		return base64.StdEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name, binary, files, want string
	}{
		{"binary not base64", "%%%", files(nil), role.EnvBinary},
		{"binary not a resource", base64.StdEncoding.EncodeToString([]byte{0xff, 0xff}), files(nil), role.EnvBinary},
		{"files not base64", good, "%%%", role.EnvConfFiles},
		{"files not JSON", good, base64.StdEncoding.EncodeToString([]byte("core-site.xml")), role.EnvConfFiles},
		{"a file not a resource", good, files(map[string]string{"yarn-site.xml": "%%%"}), role.EnvConfFiles + " yarn-site.xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(role.EnvBinary, tc.binary)
			t.Setenv(role.EnvConfFiles, tc.files)
			if _, err := TaskManagerLaunch("jm:1", "s", 1, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestYarnLayout(t *testing.T) {
	for _, tc := range []struct {
		slots       string // -s, "" for the default
		need        int
		tms, perTM  int
		wantInvalid bool
	}{
		{"", 1, 1, 1, false},
		{"", 4, 4, 1, false},
		{"2", 4, 2, 2, false},
		{"3", 4, 2, 3, false},
		{"8", 4, 1, 8, false},
		{"0", 4, 0, 0, true},
		{"-1", 4, 0, 0, true},
		{"many", 4, 0, 0, true},
	} {
		c := config.Config{}
		if tc.slots != "" {
			c = c.With(config.Slots, tc.slots)
		}
		tms, slots, err := yarnLayout(c, tc.need)
		if tc.wantInvalid {
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("-s %s, %d slots needed: got %d x %d, %v; want config.ErrInvalid", tc.slots, tc.need, tms, slots, err)
			}
			continue
		}
		if err != nil || tms != tc.tms || slots != tc.perTM {
			t.Errorf("-s %q, %d slots needed: got %d containers x %d slots, %v; want %d x %d", tc.slots, tc.need, tms, slots, err, tc.tms, tc.perTM)
		}
	}
}

// drain runs the operations queued by Request and Release, as the driver's
// goroutine does before each heartbeat.
func drain(d *ContainerDriver) int {
	ops := d.ops.Take()
	for _, op := range ops {
		op()
	}
	return len(ops)
}

// Request and Release may be called from any goroutine; they only queue
// work, and the allocator (not safe for concurrent use) sees it when the
// driver's goroutine runs it.
func TestContainerDriverQueuesRequestsAndReleases(t *testing.T) {
	am := yarnrpc.NewAM(nil, nil)
	res := yarnrpc.Resource{MemoryMB: 1024, VCores: 2}
	d := NewPoolDriver(am, nil, res, yarnrpc.Launch{}, 2, func(string, string) {}, zerolog.Nop())
	if d.Slots() != 2 {
		t.Errorf("Slots() = %d, want 2", d.Slots())
	}
	if am.Alloc.Pending() != 0 {
		t.Fatalf("a pool driver asked for %d containers up front", am.Alloc.Pending())
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { d.Request(2) })
	}
	wg.Wait()
	if am.Alloc.Pending() != 0 {
		t.Fatalf("Request reached the allocator outside the driver's goroutine: %d pending", am.Alloc.Pending())
	}
	if n := drain(d); n != 8 {
		t.Fatalf("%d operations queued, want 8", n)
	}
	if am.Alloc.Pending() != 16 {
		t.Fatalf("%d containers pending, want 16", am.Alloc.Pending())
	}
	req := am.Alloc.BuildRequest(0.5)
	var asked int32
	for _, a := range req.GetAsk() {
		if a.GetResourceName() == yarnrpc.AnyResource {
			asked = a.GetNumContainers()
			if a.GetCapability().GetMemory() != 1024 || a.GetCapability().GetVirtualCores() != 2 {
				t.Errorf("asked for %v, want 1024 MB and 2 vcores", a.GetCapability())
			}
		}
	}
	if asked != 16 {
		t.Errorf("the allocate request asks for %d containers, want 16: %v", asked, req.GetAsk())
	}

	const id = "container_1700000000000_0001_01_000002"
	d.live[id] = "nm1:4545"
	d.Release(id)
	d.Release("not-a-container")
	if _, ok := d.live[id]; !ok {
		t.Fatal("Release changed the driver's state outside its goroutine")
	}
	if n := drain(d); n != 2 {
		t.Fatalf("%d operations queued, want 2", n)
	}
	if _, ok := d.live[id]; ok {
		t.Error("a released container is still counted as live")
	}
	rel := am.Alloc.BuildRequest(0.5).GetRelease()
	if len(rel) != 1 || yarnrpc.ContainerIDFromProto(rel[0]).String() != id {
		t.Errorf("the allocate request releases %v, want only %s", rel, id)
	}
	if drain(d) != 0 {
		t.Error("operations run twice")
	}
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{"": "", "one": "one", "one\ntwo\n": "one", "\nsecond": ""} {
		if got := firstLine(in); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

package yarn

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/token"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAMRMTokenRollover(t *testing.T) {
	old := &token.Token{Identifier: []byte("old"), Password: []byte("p"), Kind: token.KindAMRMToken, Service: "127.0.0.1:8030"}
	c, err := NewAMRMClientAt([]string{"127.0.0.1:1"}, old)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.setToken(token.FromProto(&hadooppb.TokenProto{Identifier: []byte("new"), Password: []byte("q"), Kind: proto.String(""), Service: proto.String("")}))
	got := c.Token()
	if string(got.Identifier) != "new" || got.Service != old.Service || got.Kind != token.KindAMRMToken {
		t.Fatalf("rolled token %v", got)
	}
	if _, err := NewAMRMClientAt([]string{"x:1"}, nil); !errors.Is(err, ErrNoToken) {
		t.Fatalf("no token: %v", err)
	}
}

func TestAMRMTokenFromEnvironment(t *testing.T) {
	t.Setenv(token.EnvTokenFile, "")
	if _, err := AMRMTokenFromEnvironment(); !errors.Is(err, token.ErrNoTokenFile) {
		t.Fatalf("unset: %v", err)
	}
}

func TestNMClientNeedsToken(t *testing.T) {
	n := NewNMClient(ipc.WithConnectTimeout(time.Second))
	defer n.Close()
	c := container(1, "h", 1)
	if err := n.Start(context.Background(), c, Launch{}.Proto()); !errors.Is(err, ErrNoToken) {
		t.Fatalf("start without NMToken: %v", err)
	}
	n.SetToken("h:4545", &token.Token{Kind: token.KindNMToken})
	if !n.HasToken("h:4545") {
		t.Fatal("token not cached")
	}
	n.Close()
	if _, err := n.Status(context.Background(), "h:4545", ContainerIDFromProto(c.GetId())); !errors.Is(err, ipc.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestFailedContainers(t *testing.T) {
	err := failed([]*hadooppb.ContainerExceptionMapProto{{
		ContainerId: ContainerID{Attempt: testAttempt, ID: 5}.Proto(),
		Exception: &hadooppb.SerializedExceptionProto{ClassName: proto.String("org.apache.hadoop.yarn.exceptions.YarnException"),
			Message: proto.String("Unauthorized request to start container.\nmore")},
	}})
	var re *ipc.RemoteError
	if !errors.Is(err, ErrContainer) || !errors.As(err, &re) || re.SimpleClass() != "YarnException" {
		t.Fatalf("err = %v", err)
	}
	if failed(nil) != nil {
		t.Fatal("no failures is no error")
	}
}

func TestSubmissionContext(t *testing.T) {
	spec := AppSpec{Name: "n", Queue: "q", Type: "FLOE", Tags: []string{"a"}, MaxAttempts: 3, Priority: 2,
		AMResource: Resource{MemoryMB: 512, VCores: 1},
		AM: Launch{Env: map[string]string{"B": "2", "A": "1"}, Command: []string{"./x"},
			LocalResources: map[string]*hadooppb.LocalResourceProto{"z": {}, "y": {}}}}
	p := spec.Proto(ApplicationID{ClusterTimestamp: 9, ID: 1})
	if p.GetApplicationName() != "n" || p.GetQueue() != "q" || p.GetApplicationType() != "FLOE" || p.GetMaxAppAttempts() != 3 ||
		p.GetResource().GetMemory() != 512 || p.GetAmContainerSpec().GetEnvironment()[0].GetKey() != "A" ||
		p.GetAmContainerSpec().GetLocalResources()[0].GetKey() != "y" || p.GetPriority().GetPriority() != 2 {
		t.Fatalf("%v", p)
	}
	d := AppSpec{}.Proto(ApplicationID{})
	if d.GetQueue() != "default" || d.GetApplicationType() != "YARN" || d.MaxAppAttempts != nil {
		t.Fatalf("defaults %v", d)
	}
}

// TestHAClientNamesEveryRM: with ResourceManager HA and no RM answering, a
// call tries each RM in turn for the configured attempts and then fails
// with an error that names them all.
func TestHAClientNamesEveryRM(t *testing.T) {
	var dead []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, l.Addr().String())
		l.Close()
	}
	c := conf.New(map[string]string{
		"yarn.resourcemanager.ha.enabled": "true", "yarn.resourcemanager.ha.rm-ids": "rm0,rm1",
		"yarn.resourcemanager.address.rm0": dead[0], "yarn.resourcemanager.address.rm1": dead[1],
		"yarn.resourcemanager.scheduler.address.rm0": dead[0], "yarn.resourcemanager.scheduler.address.rm1": dead[1],
		"yarn.client.failover-max-attempts": "3", "yarn.client.failover-sleep-base-ms": "10", "yarn.client.failover-sleep-max-ms": "20",
	})
	rm, err := NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	_, _, err = rm.NewApplication(context.Background())
	want := "no ResourceManager answered (tried rm0 (" + dead[0] + "), rm1 (" + dead[1] + "))"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "4 attempts") || !errors.Is(err, ipc.ErrExhausted) {
		t.Fatalf("err = %v, want %q after 4 attempts", err, want)
	}
	am, err := NewAMRMClient(c, &token.Token{Kind: token.KindAMRMToken})
	if err != nil {
		t.Fatal(err)
	}
	defer am.Close()
	if _, err := am.Allocate(context.Background(), &hadooppb.AllocateRequestProto{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("allocate: err = %v, want %q", err, want)
	} else {
		t.Log(err)
	}
	if !NotRegistered(&ipc.RemoteError{Class: "org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException"}) || NotRegistered(err) {
		t.Fatal("NotRegistered")
	}
}

package yarn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"floe/appmaster"
	"floe/config"
	"floe/internal/failover"
	"floe/internal/fsys"
	"floe/internal/hadoop/hadooppb"
	yarnrpc "floe/internal/hadoop/yarn"
	"floe/internal/jobgraph"
	"floe/internal/role"
)

func graph(kv map[string]string) *jobgraph.JobGraph {
	return &jobgraph.JobGraph{Name: "t", Config: config.New(kv), MaxParallelism: 128,
		Vertices: []*jobgraph.Vertex{{ID: 0, Name: "src", Parallelism: 1, IsSource: true}}}
}

func testStaging(t *testing.T, attempt int32) *Staging {
	fs, p, err := fsys.Resolve(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &Staging{fs: fs, dir: p, attempt: attempt}
}

// The first attempt records the job before it starts; the second reads the
// same job id, checkpoint directory and binary back; a third that finds
// another job's metadata refuses to go on.
func TestAttemptsShareTheJobMetadata(t *testing.T) {
	bin := resource("/user/u/.floe/bin/abc", 42)
	t.Setenv(role.EnvBinary, encode(t, bin))
	t.Setenv("CONTAINER_ID", "container_1700000000000_0007_01_000001")
	g := graph(map[string]string{"execution.checkpointing.dir": "hdfs:///ckpt", "execution.checkpointing.interval": "1s",
		appmaster.KeySavepointPath: "hdfs:///sp/savepoint-x"})
	first := testStaging(t, 1)
	ctx := t.Context()
	m1, err := first.prepare(ctx, g, "job-1", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	second := &Staging{fs: first.fs, dir: first.dir, attempt: 2}
	m2, err := second.prepare(ctx, graph(nil), "job-1", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if m2.JobID != "job-1" || m2.Attempt != 1 || m2.CheckpointDir != "hdfs:///ckpt/job-1" || m2.Savepoint != "hdfs:///sp/savepoint-x" ||
		m2.Application != "application_1700000000000_0007" || m2.Config["execution.checkpointing.interval"] != "1s" {
		t.Fatalf("second attempt read %+v", m2)
	}
	var lr hadooppb.LocalResourceProto
	if err := proto.Unmarshal(m2.Binary, &lr); err != nil || !proto.Equal(&lr, bin) {
		t.Fatalf("binary: %v, %v", &lr, err)
	}
	if m1.Written.IsZero() {
		t.Error("no write time")
	}
	if _, err := second.prepare(ctx, g, "job-2", zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "job-1") {
		t.Fatalf("a launch context of another job: %v", err)
	}
	// A second attempt without metadata (the first died before writing it) starts the job.
	fresh := testStaging(t, 2)
	if m, err := fresh.prepare(ctx, g, "job-3", zerolog.Nop()); err != nil || m.JobID != "job-3" {
		t.Fatalf("no metadata: %+v, %v", m, err)
	}
	if m, err := failover.ReadMetadata(ctx, fresh.fs, fresh.dir); err != nil || m.Attempt != 2 {
		t.Fatalf("written by attempt 2: %+v, %v", m, err)
	}
}

// An attempt is fenced once a newer one has published itself.
func TestFenceAfterANewerAttemptPublishes(t *testing.T) {
	one := testStaging(t, 1)
	two := &Staging{fs: one.fs, dir: one.dir, attempt: 2}
	ctx := t.Context()
	if err := one.Publish(ctx, "127.0.0.1:1", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := one.Fence(ctx); err != nil {
		t.Fatalf("attempt 1 fenced by itself: %v", err)
	}
	if err := two.Publish(ctx, "127.0.0.1:2", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := one.Fence(ctx); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("attempt 1 after attempt 2: %v, want ErrSuperseded", err)
	}
	if err := two.Fence(ctx); err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
}

func TestAttemptFromContainerID(t *testing.T) {
	t.Setenv("CONTAINER_ID", "container_e03_1700000000000_0001_02_000001")
	if a, _ := Attempt(); a != 2 {
		t.Fatalf("attempt %d, want 2", a)
	}
	t.Setenv("CONTAINER_ID", "")
	if a, _ := Attempt(); a != 1 {
		t.Fatalf("no container id: attempt %d, want 1", a)
	}
}

// A new attempt adopts the containers of the previous one and asks only for
// the missing; one whose TaskManager does not re-register in time is
// released and replaced.
func TestNewAttemptAdoptsPreviousContainers(t *testing.T) {
	jm, err := appmaster.New(appmaster.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	am := yarnrpc.NewAM(nil, nil)
	prev := "container_1700000000000_0001_01_000002"
	id, _ := yarnrpc.ParseContainerID(prev)
	am.Alloc.AddRunning(&hadooppb.ContainerProto{Id: id.Proto()})
	g := graph(map[string]string{config.HeartbeatTimeout: "50ms"})
	g.Vertices[0].Parallelism = 2
	t.Setenv(role.EnvBinary, encode(t, resource("/b", 1)))
	t.Setenv(role.EnvConfFiles, "e30=") // {}
	d, err := newJobDriver(g, am, jm, "s", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.live[prev]; !ok || am.Alloc.Pending() != 1 {
		t.Fatalf("adopting one of two: live %v, %d pending, want 1", d.live, am.Alloc.Pending())
	}
	d.checkAdopted()
	if _, ok := d.live[prev]; !ok {
		t.Fatal("released before the adoption time is up")
	}
	time.Sleep(60 * time.Millisecond)
	d.checkAdopted()
	if _, ok := d.live[prev]; ok || am.Alloc.Pending() != 2 {
		t.Fatalf("after the adoption time: live %v, %d pending, want the container released and 2 pending", d.live, am.Alloc.Pending())
	}
	rel := am.Alloc.BuildRequest(0).GetRelease()
	if len(rel) != 1 || yarnrpc.ContainerIDFromProto(rel[0]).String() != prev {
		t.Fatalf("releases %v, want %s", rel, prev)
	}
}

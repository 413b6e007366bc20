package yarn

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	"floe/internal/output"
	"floe/internal/role"
	"floe/internal/testenv"
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

// An attempt that saw its job finish records the end before publishing; a
// successor that finds the record publishes what was left waiting and ends
// the job as recorded. A FAILED end removes the waiting parts; the record of
// an attempt that a newer one superseded ends nothing, and a superseded
// attempt records nothing.
func TestSuccessorSettlesARecordedEnd(t *testing.T) {
	ctx := t.Context()
	const job = "job-1"
	write := func(dir, name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		status appmaster.JobStatus
		want   []string
	}{
		{appmaster.Finished, []string{".part-0-0" + ".ready-other", "part-0-0", "part-1-0"}},
		{appmaster.Failed, []string{".part-0-0" + ".ready-other", "part-0-0"}},
	} {
		one := testStaging(t, 1)
		if err := one.Publish(ctx, "127.0.0.1:1", "c1"); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		// Attempt 1 published part-0-0, then died before part-1-0.
		write(out, "part-0-0")
		write(out, output.ReadyName("part-1-0", job))
		write(out, output.ReadyName("part-0-0", "other"))
		if err := one.RecordEnd(ctx, job, c.status, "boom", []string{out}); err != nil {
			t.Fatal(err)
		}
		two := &Staging{fs: one.fs, dir: one.dir, attempt: 2}
		got, ok, err := two.SettleEnded(ctx, job, zerolog.Nop())
		if err != nil || !ok || got.Status != c.status || got.Parts != 1 {
			t.Fatalf("%s: successor settled %+v ok %v, %v", c.status, got, ok, err)
		}
		if n := testenv.DirNames(t, out); !slices.Equal(n, c.want) {
			t.Errorf("%s: output holds %v, want %v", c.status, n, c.want)
		}
		if _, ok, _ := two.SettleEnded(ctx, "job-2", zerolog.Nop()); ok {
			t.Errorf("%s: a job without a record ended", c.status)
		}
	}

	// Attempt 2 took over; attempt 1, still alive, sees the job end.
	one := testStaging(t, 1)
	two := &Staging{fs: one.fs, dir: one.dir, attempt: 2}
	if err := two.Publish(ctx, "127.0.0.1:2", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := one.RecordEnd(ctx, job, appmaster.Failed, "lost its TaskManagers", nil); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("a superseded attempt recorded the end: %v", err)
	}
	// Even a record it wrote before it noticed counts for nobody after attempt 2.
	if err := failover.WriteEnded(ctx, one.fs, one.dir, failover.Ended{JobID: job, Status: "FAILED", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	three := &Staging{fs: one.fs, dir: one.dir, attempt: 3}
	if _, ok, err := three.SettleEnded(ctx, job, zerolog.Nop()); ok || err != nil {
		t.Fatalf("attempt 3 obeyed attempt 1's record after attempt 2 published itself: ok %v, %v", ok, err)
	}
}

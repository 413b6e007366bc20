package state

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"floe/checkpoint"
	"floe/internal/keygroup"
)

// incJob drives incremental checkpoints of p pebble backends (one keyed
// operator "op" at parallelism p) through a real checkpoint.Coordinator,
// carrying out its actions as the JobManager and the tasks do.
type incJob struct {
	t       *testing.T
	store   checkpoint.FS
	root    string // local path of the checkpoint directory
	job     checkpoint.Job
	cfg     checkpoint.Config
	c       *checkpoint.Coordinator
	now     time.Time
	maxP    int
	subs    []*Backend[int64]
	tabs    []*Table[int64, string]
	model   map[int64]string
	sent    int64 // bytes uploaded
	total   int64 // bytes the handles reference
	uploads map[string]bool
}

func newIncJob(t *testing.T, p, maxP int) *incJob {
	root := t.TempDir()
	store, _, err := checkpoint.OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := checkpoint.DefaultConfig()
	cfg.Interval, cfg.NumRetained = time.Second, 2
	j := &incJob{t: t, store: store, root: root, cfg: cfg, now: time.Unix(1_700_000_000, 0), maxP: maxP,
		model: map[int64]string{}, uploads: map[string]bool{}}
	j.job = checkpoint.Job{ID: "job", Dir: checkpoint.JobDir("file://"+root, "job"), MaxParallelism: maxP,
		Vertices: []checkpoint.Vertex{{ID: 0, Parallelism: p, Source: true, Operators: []string{"op"}}}}
	for range p {
		b := newBackend[int64](t, "pebble", maxP)
		tab, err := Value[int64, string](b, "v")
		if err != nil {
			t.Fatal(err)
		}
		j.subs, j.tabs = append(j.subs, b), append(j.tabs, tab)
	}
	j.startCoordinator()
	return j
}

// startCoordinator makes a new coordinator that knows the job directory
// only from storage, as a restarted JobManager does.
func (j *incJob) startCoordinator() {
	ents, err := checkpoint.ListCheckpoints(context.Background(), j.store, j.job.Dir)
	if err != nil {
		j.t.Fatal(err)
	}
	var done []int64
	for _, e := range ents {
		if e.Completed {
			done = append(done, e.ID)
		}
	}
	c, err := checkpoint.NewCoordinator(j.cfg, j.job, checkpoint.WithNextID(checkpoint.NextID(ents)), checkpoint.WithCompleted(done...))
	if err != nil {
		j.t.Fatal(err)
	}
	j.c = c
	j.step(checkpoint.TasksRunning{})
}

func (j *incJob) put(k int64, v string) {
	b := j.subs[0]
	i := keygroup.Subtask(b.KeyGroup(k), j.maxP, len(j.subs))
	j.tabs[i].Put(k, v)
	j.model[k] = v
}

func (j *incJob) step(e checkpoint.Event) {
	ctx := context.Background()
	queue := []checkpoint.Event{e}
	for len(queue) > 0 {
		ev := queue[0]
		queue = queue[1:]
		for _, a := range j.c.Step(j.now, ev) {
			switch a := a.(type) {
			case checkpoint.InjectBarrier:
				for i, b := range j.subs {
					lo, hi := keygroup.Range(j.maxP, len(j.subs), i)
					v, err := b.IncrementalView()
					if err != nil {
						j.t.Fatal(err)
					}
					h, sent, err := v.Upload(ctx, Target{Store: j.store, SharedDir: checkpoint.SharedDir(j.job.Dir), Dir: a.Dir,
						UID: "op", Subtask: i, Start: lo, End: hi})
					if rerr := v.Release(); rerr != nil {
						j.t.Fatal(rerr)
					}
					if err != nil {
						j.t.Fatal(err)
					}
					j.sent += sent
					j.total += h.Bytes()
					for _, f := range h.Files {
						if f.Shared {
							j.uploads[f.Path] = true
						}
					}
					queue = append(queue, checkpoint.Ack{ID: a.ID, Task: checkpoint.TaskID{Vertex: 0, Subtask: i},
						State: map[string]checkpoint.SubtaskState{"op": {Incremental: []checkpoint.IncrementalHandle{h}}}})
				}
			case checkpoint.WriteMetadata:
				queue = append(queue, checkpoint.MetadataWritten{ID: a.ID, Err: checkpoint.StoreMetadata(ctx, j.store, a.Dir, a.Metadata)})
			case checkpoint.Discard:
				var err error
				if a.Retained != nil {
					_, err = checkpoint.DiscardRetained(ctx, j.store, j.job.Dir, a.Dir, a.Retained, nil)
				} else {
					err = j.store.RemoveAll(ctx, a.Dir)
				}
				if err != nil {
					j.t.Fatal(err)
				}
			case checkpoint.FailJob:
				j.t.Fatal(a.Err)
			}
		}
	}
}

// checkpoint runs one periodic checkpoint to completion.
func (j *incJob) checkpoint() {
	before := j.c.Completed()
	j.now = j.now.Add(time.Second)
	j.step(checkpoint.Tick{})
	if after := j.c.Completed(); slices.Equal(before, after) {
		j.t.Fatalf("no checkpoint completed: retained %v", after)
	}
}

// settle waits for the stores' compactions to finish.
func (j *incJob) settle() {
	for _, b := range j.subs {
		for deadline := time.Now().Add(10 * time.Second); b.lsm.db.Metrics().Compact.NumInProgress > 0; {
			if time.Now().After(deadline) {
				j.t.Fatal("compactions still running after 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// checkShared compares the files in shared/ with what the retained
// checkpoints' _metadata reference, read back from storage.
func (j *incJob) checkShared() {
	j.t.Helper()
	ctx := context.Background()
	done, err := checkpoint.ListCompleted(ctx, j.store, j.job.Dir)
	if err != nil {
		j.t.Fatal(err)
	}
	if len(done) != j.cfg.NumRetained {
		j.t.Fatalf("%d completed checkpoints on storage, want %d retained", len(done), j.cfg.NumRetained)
	}
	want := map[string]bool{}
	for _, e := range done {
		m, err := checkpoint.LoadMetadata(ctx, j.store, e.Dir)
		if err != nil {
			j.t.Fatal(err)
		}
		for _, op := range m.Operators {
			for _, s := range op.Subtasks {
				for _, h := range s.Incremental {
					for _, f := range h.Files {
						if f.Shared {
							want[filepath.Base(f.Path)] = true
						}
					}
				}
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(j.root, "job", checkpoint.SharedDirName))
	if err != nil {
		j.t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range ents {
		got[e.Name()] = true
	}
	if !maps.Equal(got, want) {
		var extra, missing []string
		for n := range got {
			if !want[n] {
				extra = append(extra, n)
			}
		}
		for n := range want {
			if !got[n] {
				missing = append(missing, n)
			}
		}
		j.t.Fatalf("shared/ holds %d files, the retained checkpoints reference %d; unreferenced %v, missing %v", len(got), len(want), extra, missing)
	}
}

// churn updates a fraction of the keys and adds new ones, so that each
// checkpoint has new SST files and compactions retire old ones.
func (j *incJob) churn(rng *rand.Rand, round, updates, added int) {
	pad := strings.Repeat("p", 200)
	for range updates {
		k := int64(rng.IntN(max(len(j.model), 1)))
		j.put(k, fmt.Sprint(round, pad))
	}
	n := int64(len(j.model))
	for i := range int64(added) {
		j.put(n+i, fmt.Sprint(round, pad))
	}
}

// Many incremental checkpoints with two retained: shared/ holds exactly
// the files the two retained _metadata reference, also after a JobManager
// restart (a new coordinator that knows the checkpoints from storage only),
// and later checkpoints send only what changed.
func TestIncrementalSharedFilesFollowRetention(t *testing.T) {
	j := newIncJob(t, 2, 16)
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 24 {
		j.churn(rng, round, 300, 400)
		j.checkpoint()
		if round > 0 {
			j.checkShared()
		}
		if round == 11 {
			j.startCoordinator() // the JobManager restarts
		}
	}
	shared, err := os.ReadDir(filepath.Join(j.root, "job", checkpoint.SharedDirName))
	if err != nil {
		t.Fatal(err)
	}
	if len(j.uploads) <= len(shared) {
		t.Fatalf("%d shared files uploaded, %d left: compactions retired none, the test proves nothing", len(j.uploads), len(shared))
	}
	t.Logf("%d shared files uploaded, %d retained; %d of %d referenced bytes sent", len(j.uploads), len(shared), j.sent, j.total)
	// With nothing changed, a checkpoint sends only the small files that
	// describe the stores.
	// (Compactions that the last changes started may still rewrite files:
	// wait for them, and let one checkpoint take their outputs.)
	j.settle()
	j.checkpoint()
	sent, total := j.sent, j.total
	j.checkpoint()
	j.checkShared()
	if s, all := j.sent-sent, j.total-total; s*20 > all {
		t.Fatalf("a checkpoint after no change sent %d of %d bytes: not incremental", s, all)
	}
	j.restoreEverywhere()
}

// restoreEverywhere restores the latest checkpoint at the same parallelism
// (the store's files opened as they are), at others (key groups cut out of
// several old stores) and into the heap backend, and compares each with
// the model; a savepoint (Encode of the view) restores too.
func (j *incJob) restoreEverywhere() {
	t := j.t
	ctx := context.Background()
	m, dir, _, err := checkpoint.LatestUsable(ctx, j.store, j.job.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range kinds {
		for _, p := range []int{len(j.subs), 3, 1} {
			t.Run(fmt.Sprintf("%s-p%d", kind, p), func(t *testing.T) {
				plan, err := checkpoint.PlanRestore(m, dir, []checkpoint.OperatorSpec{{UID: "op", Parallelism: p, MaxParallelism: j.maxP}}, false)
				if err != nil {
					t.Fatal(err)
				}
				got := map[int64]string{}
				for i, ss := range plan["op"] {
					lo, hi := keygroup.Range(j.maxP, p, i)
					b := newBackend[int64](t, kind, j.maxP)
					tab, _ := Value[int64, string](b, "v")
					if err := b.RestoreIncremental(ctx, ss.Incremental, lo, hi, false); err != nil {
						t.Fatal(err)
					}
					for k, v := range contents(tab) {
						if g := b.KeyGroup(k); g < lo || g >= hi {
							t.Fatalf("subtask %d of %d holds key %d of key group %d, outside %d..%d", i, p, k, g, lo, hi-1)
						}
						if _, dup := got[k]; dup {
							t.Fatalf("key %d restored twice", k)
						}
						got[k] = v
					}
					if kind == "pebble" {
						j.checkAfterRestore(t, b, tab, lo, hi, p == len(j.subs))
					}
				}
				if !maps.Equal(got, j.model) {
					t.Fatalf("restored %d keys, want %d", len(got), len(j.model))
				}
			})
		}
	}
}

// checkAfterRestore: the restored store takes an incremental checkpoint
// (sending only its private files when it was opened as it was) and a
// savepoint of it restores into the heap with the same entries.
func (j *incJob) checkAfterRestore(t *testing.T, b *Backend[int64], tab *Table[int64, string], lo, hi int, same bool) {
	ctx := context.Background()
	want := contents(tab)
	tab.Put(-1, "new") // and the store takes writes
	want[-1] = "new"
	v, err := b.IncrementalView()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	dir := t.TempDir()
	store, _, _ := checkpoint.OpenFS(dir)
	h, sent, err := v.Upload(ctx, Target{Store: store, SharedDir: checkpoint.Join(dir, "shared"), Dir: checkpoint.Join(dir, "chk-1"),
		UID: "op", Subtask: 0, Start: lo, End: hi})
	if err != nil {
		t.Fatal(err)
	}
	if same && sent*2 > h.Bytes() {
		t.Fatalf("a store restored as it was sent %d of %d bytes again", sent, h.Bytes())
	}
	blocks, err := v.Encode(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	heap := newBackend[int64](t, "heap", j.maxP)
	ht, _ := Value[int64, string](heap, "v")
	for _, blk := range blocks {
		if err := heap.Restore(blk, false); err != nil {
			t.Fatal(err)
		}
	}
	if g := b.KeyGroup(-1); g < lo || g >= hi {
		delete(want, -1) // not this subtask's key: a savepoint holds its own key groups only
	}
	if got := contents(ht); !maps.Equal(got, want) {
		t.Fatalf("savepoint of the restored store: %d keys, want %d", len(got), len(want))
	}
}

// A savepoint never references shared files; a handle outside its
// subtask's key groups or with a bad file name is refused.
func TestIncrementalHandleValidation(t *testing.T) {
	h := checkpoint.IncrementalHandle{Backend: "pebble", Start: 0, End: 8, Tables: []string{"v"},
		Files: []checkpoint.StoreFile{{Name: "000005.sst", Path: "file:///x/shared/a", Size: 3, Shared: true}, {Name: "MANIFEST-000001", Path: "op-0-lsm-MANIFEST", Size: 1}}}
	meta := func(kind checkpoint.Kind, h checkpoint.IncrementalHandle) *checkpoint.Metadata {
		return &checkpoint.Metadata{ID: 1, JobID: "j", Kind: kind, Operators: []checkpoint.OperatorState{{UID: "op", Parallelism: 2, MaxParallelism: 16,
			Subtasks: []checkpoint.SubtaskState{{Subtask: 0, Incremental: []checkpoint.IncrementalHandle{h}}}}}}
	}
	if err := meta(checkpoint.KindCheckpoint, h).Validate(); err != nil {
		t.Fatalf("a valid handle: %v", err)
	}
	if err := meta(checkpoint.KindSavepoint, h).Validate(); err == nil {
		t.Fatal("a savepoint with incremental state passed")
	}
	bad := h
	bad.End = 9
	if err := meta(checkpoint.KindCheckpoint, bad).Validate(); err == nil {
		t.Fatal("a handle beyond the subtask's key groups passed")
	}
	bad = h
	bad.Files = []checkpoint.StoreFile{{Name: "../x.sst", Path: "file:///x/shared/a", Size: 3, Shared: true}}
	if err := meta(checkpoint.KindCheckpoint, bad).Validate(); err == nil {
		t.Fatal("a store file name with a directory passed")
	}
}

// A store's pebble options are runtime options: checkpoints that stores
// with pebble's defaults took (the options before lsmOptions set file
// sizes, compaction thresholds and a filesystem without fsync) restore into
// stores with today's options, at every parallelism, and the restored
// stores go on checkpointing.
func TestIncrementalRestoreAcrossOptions(t *testing.T) {
	lsmTune = func(o *pebble.Options) {
		o.FS = vfs.Default
		o.TargetFileSizes = [len(o.TargetFileSizes)]int64{}
		o.L0CompactionThreshold, o.L0StopWritesThreshold = 0, 0
		o.CompactionConcurrencyRange = nil
	}
	t.Cleanup(func() { lsmTune = nil })
	j := newIncJob(t, 2, 16)
	if fs := j.subs[0].lsm.opts.FS; fs != vfs.Default {
		t.Fatalf("the old stores' filesystem is %T, want pebble's default: the test would prove nothing", fs)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 6 {
		j.churn(rng, round, 300, 400)
		j.checkpoint()
	}
	// Compactions finished, so that a restored store does not rewrite
	// its files at once (checkAfterRestore counts what it sends again).
	j.settle()
	j.checkpoint()
	lsmTune = nil
	j.restoreEverywhere()
}

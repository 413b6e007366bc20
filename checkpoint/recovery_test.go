package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeCheckpoint writes checkpoint id of a job with one keyed operator at
// parallelism 2 as tasks and the JobManager would: task files, then _metadata.
func writeCheckpoint(t *testing.T, store FS, jobDir string, id int64) string {
	t.Helper()
	ctx := context.Background()
	dir := CheckpointDir(jobDir, id)
	m := &Metadata{ID: id, JobID: "job", Kind: KindCheckpoint, Timestamp: time.Unix(id, 0)}
	op := OperatorState{UID: "count", Parallelism: 2, MaxParallelism: 4}
	for i := range 2 {
		name := StateFileName("count", i, "keyed")
		w, err := store.Create(ctx, Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "%04d", id) // key groups 2i, 2i+1: two bytes each
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		op.Subtasks = append(op.Subtasks, SubtaskState{Subtask: i, Keyed: []KeyedHandle{{Path: name, Size: 4, Start: 2 * i, Offsets: []int64{0, 2, 4}}}})
	}
	m.Operators = []OperatorState{op}
	if err := StoreMetadata(ctx, store, dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLatestUsable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, job string) // to the newest, chk-3
		wantID   int64
		warnings []string
	}{
		{"all good", func(*testing.T, string) {}, 3, nil},
		{"corrupted newest _metadata", func(t *testing.T, job string) {
			p := filepath.Join(job, "chk-3", "_metadata")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x40
			os.WriteFile(p, b, 0o644)
		}, 2, []string{"checkpoint 3 at " + "JOB/chk-3 is not usable", "corrupt metadata", "checksum"}},
		{"truncated newest _metadata", func(t *testing.T, job string) {
			p := filepath.Join(job, "chk-3", "_metadata")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-7], 0o644)
		}, 2, []string{"JOB/chk-3", "corrupt metadata"}},
		{"missing task file", func(t *testing.T, job string) {
			os.Remove(filepath.Join(job, "chk-3", "count-1-keyed"))
		}, 2, []string{"JOB/chk-3", "state file missing: JOB/chk-3/count-1-keyed"}},
		{"short task file", func(t *testing.T, job string) {
			os.WriteFile(filepath.Join(job, "chk-3", "count-0-keyed"), []byte("00"), 0o644)
		}, 2, []string{"count-0-keyed has 2 bytes, the checkpoint needs 4"}},
		{"_metadata of another checkpoint", func(t *testing.T, job string) {
			b, _ := os.ReadFile(filepath.Join(job, "chk-2", "_metadata"))
			os.WriteFile(filepath.Join(job, "chk-3", "_metadata"), b, 0o644)
		}, 2, []string{"JOB/chk-3/_metadata holds checkpoint 2"}},
		{"two bad", func(t *testing.T, job string) {
			os.Remove(filepath.Join(job, "chk-3", "count-1-keyed"))
			os.WriteFile(filepath.Join(job, "chk-2", "_metadata"), []byte("garbage"), 0o644)
		}, 1, []string{"checkpoint 3", "checkpoint 2", "shorter than the header"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			store, _, _ := OpenFS("file://" + root)
			job := JobDir("file://"+root, "job")
			for id := int64(1); id <= 3; id++ {
				writeCheckpoint(t, store, job, id)
			}
			os.MkdirAll(filepath.Join(root, "job", "chk-4"), 0o755) // in progress when the job died
			tc.damage(t, filepath.Join(root, "job"))
			m, dir, warnings, err := LatestUsable(ctx, store, job)
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != tc.wantID || dir != CheckpointDir(job, tc.wantID) {
				t.Fatalf("got %d at %s, want %d", m.ID, dir, tc.wantID)
			}
			if len(warnings) == 0 != (tc.warnings == nil) {
				t.Fatalf("warnings %v", warnings)
			}
			all := strings.ReplaceAll(fmt.Sprint(warnings), job, "JOB")
			for _, w := range tc.warnings {
				if !strings.Contains(all, w) {
					t.Errorf("warnings %s\nlack %q", all, w)
				}
			}
			// What LatestUsable accepts can be planned for restore at another parallelism.
			if _, err := PlanRestore(m, dir, []OperatorSpec{{"count", 3, 4}}, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLatestUsableNone(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, _, _ := OpenFS(root)
	job := JobDir(root, "job")
	if _, _, _, err := LatestUsable(ctx, store, job); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("no job dir: %v", err)
	}
	os.MkdirAll(filepath.Join(job, "chk-1"), 0o755)
	if _, _, _, err := LatestUsable(ctx, store, job); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("only an incomplete checkpoint: %v", err)
	}
	writeCheckpoint(t, store, job, 2)
	writeCheckpoint(t, store, job, 3)
	os.Remove(filepath.Join(job, "chk-2", "count-0-keyed"))
	os.WriteFile(filepath.Join(job, "chk-3", "_metadata"), nil, 0o644)
	_, _, _, err := LatestUsable(ctx, store, job)
	if !errors.Is(err, ErrNoUsableCheckpoint) || !errors.Is(err, ErrMissingFile) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("all bad: %v", err)
	}
	if !strings.Contains(err.Error(), "chk-2") || !strings.Contains(err.Error(), "chk-3") {
		t.Fatalf("error does not name both: %v", err)
	}
}

// flakyFS fails Stat of one path the way a broken namenode connection would.
type flakyFS struct {
	FS
	bad string
}

func (f flakyFS) Stat(ctx context.Context, name string) (FileInfo, error) {
	if name == f.bad {
		return FileInfo{}, errors.New("connection reset")
	}
	return f.FS.Stat(ctx, name)
}

func TestLatestUsableStorageError(t *testing.T) {
	root := t.TempDir()
	store, _, _ := OpenFS(root)
	job := JobDir(root, "job")
	writeCheckpoint(t, store, job, 1)
	dir := writeCheckpoint(t, store, job, 2)
	_, _, _, err := LatestUsable(context.Background(), flakyFS{store, Join(dir, "count-0-keyed")}, job)
	if err == nil || errors.Is(err, ErrNoUsableCheckpoint) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("a storage error must not fall back: %v", err)
	}
}

// driver plays the JobManager around a Coordinator with real storage.
type driver struct {
	t     *testing.T
	c     *Coordinator
	store FS
	now   time.Time
	log   []string
	// crashAfterWrite: write _metadata but never report it.
	crashAfterWrite bool
}

func (d *driver) step(ev Event) {
	d.t.Helper()
	queue := []Event{ev}
	for len(queue) > 0 {
		ev, queue = queue[0], queue[1:]
		for _, a := range d.c.Step(d.now, ev) {
			d.log = append(d.log, a.String())
			ctx := context.Background()
			switch a := a.(type) {
			case InjectBarrier:
				// Every task snapshots and acknowledges.
				for _, task := range d.c.tasks {
					name := StateFileName("count", task.Subtask, "keyed")
					if task.Vertex == 0 {
						queue = append(queue, Ack{ID: a.ID, Task: task, State: map[string]SubtaskState{"src": {Lists: []ListState{{Name: SourcePositions, Distribution: Split, Entries: entries(fmt.Sprint(a.ID))}}}}})
						continue
					}
					if err := WriteFileAtomic(ctx, d.store, Join(a.Dir, name), []byte("abcd")); err != nil {
						d.t.Fatal(err)
					}
					queue = append(queue, Ack{ID: a.ID, Task: task, State: map[string]SubtaskState{
						"count": {Keyed: []KeyedHandle{{Path: Join(a.Dir, name), Size: 4, Start: 0, Offsets: []int64{0, 1, 2, 3, 4}}}},
					}})
				}
			case WriteMetadata:
				err := StoreMetadata(ctx, d.store, a.Dir, a.Metadata)
				if d.crashAfterWrite {
					return
				}
				queue = append(queue, MetadataWritten{ID: a.ID, Err: err})
			case Discard:
				if err := d.store.RemoveAll(ctx, a.Dir); err != nil {
					d.t.Fatal(err)
				}
			}
		}
	}
}

// The JobManager dies between writing _metadata and notifying the tasks:
// the next one finds the checkpoint, restores it, notifies, and continues
// numbering after it; retention then removes it in time.
func TestRecoveryAfterCrashBetweenMetadataAndNotify(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, _, _ := OpenFS(root)
	cfg := cfgWith(nil)
	job := testJob
	job.Dir = JobDir("file://"+root, "job1")
	c, err := NewCoordinator(cfg, job)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, c: c, store: store, now: t0}
	d.step(TasksRunning{})
	d.now = d.now.Add(time.Second)
	d.step(Tick{})
	d.crashAfterWrite = true
	d.now = d.now.Add(time.Second)
	d.step(Tick{})
	want := []string{
		"inject checkpoint 1 at [0/0 0/1] into " + job.Dir + "/chk-1",
		"write metadata 1 to " + job.Dir + "/chk-1",
		"notify complete 1",
		"inject checkpoint 2 at [0/0 0/1] into " + job.Dir + "/chk-2",
		"write metadata 2 to " + job.Dir + "/chk-2",
	}
	if !reflect.DeepEqual(d.log, want) {
		t.Fatalf("first JobManager:\n%s", strings.Join(d.log, "\n"))
	}

	// A new JobManager.
	entries, err := ListCheckpoints(ctx, store, job.Dir)
	if err != nil {
		t.Fatal(err)
	}
	m, dir, warnings, err := LatestUsable(ctx, store, job.Dir)
	if err != nil || len(warnings) > 0 || m.ID != 2 {
		t.Fatalf("recovery: %v %v %v", m, warnings, err)
	}
	if k := m.Operators[0].Subtasks[0].Keyed[0].Path; k != "count-0-keyed" {
		t.Fatalf("task file stored as %s", k)
	}
	plan, err := PlanRestore(m, dir, []OperatorSpec{{"count", 1, 4}, {"src", 2, 4}, {"sink", 1, 4}}, false)
	if err != nil || names(plan["src"][1].Lists[0].Entries) != "2" {
		t.Fatalf("plan %v %v", plan, err)
	}
	var done []int64
	for _, e := range entries {
		if e.Completed {
			done = append(done, e.ID)
		}
	}
	c2, err := NewCoordinator(cfg, job, WithCompleted(done...), WithNextID(NextID(entries)))
	if err != nil {
		t.Fatal(err)
	}
	d2 := &driver{t: t, c: c2, store: store, now: d.now.Add(time.Minute)}
	d2.step(TasksRunning{Restored: m.ID})
	d2.now = d2.now.Add(time.Second)
	d2.step(Tick{})
	want = []string{
		"notify complete 2",
		"inject checkpoint 3 at [0/0 0/1] into " + job.Dir + "/chk-3",
		"write metadata 3 to " + job.Dir + "/chk-3",
		"notify complete 3",
		"discard 1 " + job.Dir + "/chk-1",
		"discard 2 " + job.Dir + "/chk-2",
	}
	if !reflect.DeepEqual(d2.log, want) {
		t.Fatalf("second JobManager:\n%s", strings.Join(d2.log, "\n"))
	}
	left, _ := ListCheckpoints(ctx, store, job.Dir)
	if len(left) != 1 || left[0].ID != 3 || !left[0].Completed {
		t.Fatalf("left on disk: %v", left)
	}
	// Cancelling deletes the job directory.
	d2.step(JobEnded{Status: Cancelled})
	if _, err := os.Stat(filepath.Join(root, "job1")); !os.IsNotExist(err) {
		t.Fatalf("job dir after cancel: %v", err)
	}
}

// What fails every attempt the same way is told from a storage that may
// answer next time.
func TestCannotRestore(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("savepoint /x: %w", os.ErrNotExist), true},
		{fmt.Errorf("x: %w: bad magic", ErrCorrupt), true},
		{fmt.Errorf("x: %w", ErrUnsupportedVersion), true},
		{fmt.Errorf("x: %w: gone", ErrMissingFile), true},
		{fmt.Errorf("restore: %w", ErrUnmatchedState), true},
		{errors.Join(fmt.Errorf("%w: op", ErrMaxParallelismChanged), errors.New("other")), true},
		{fmt.Errorf("%w: p", ErrParallelism), true},
		{fmt.Errorf("recovery: %w", ErrNoUsableCheckpoint), true},
		{fmt.Errorf("recovery: %w", ErrNoCheckpoint), false},
		{errors.New("dial tcp 127.0.0.1:8020: connection refused"), false},
		{context.DeadlineExceeded, false},
	} {
		if got := CannotRestore(tc.err); got != tc.want {
			t.Errorf("CannotRestore(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

package spill

import (
	"context"
	"testing"
)

func TestTaskContext(t *testing.T) {
	var unset context.Context // a TaskInfo's Context may be unset
	if TaskFrom(unset) != nil || TaskFrom(context.Background()) != nil {
		t.Fatal("a context without a task has one")
	}
	var none *Task
	none.AddStats(Stats{SpilledBytes: 1}) // a nil task ignores counters
	if r, b, f := none.Spilled(); r != 0 || b != 0 || f != 0 || none.Options() != nil {
		t.Fatal("a nil task has counters or options")
	}
	task := &Task{Memory: NewBudget(100), Dirs: []string{t.TempDir()}}
	got := TaskFrom(WithTask(context.Background(), task))
	if got != task {
		t.Fatal("TaskFrom does not return the task WithTask stored")
	}
	got.AddStats(Stats{SpilledRecords: 2, SpilledBytes: 30, Files: 1})
	got.AddStats(Stats{SpilledRecords: 3, SpilledBytes: 40, Files: 2})
	if r, b, f := task.Spilled(); r != 5 || b != 70 || f != 3 {
		t.Fatalf("spilled %d records, %d bytes, %d files; want 5, 70, 3", r, b, f)
	}
	if len(task.Options()) != 2 {
		t.Fatal("a task's options are its dirs and logger")
	}
}

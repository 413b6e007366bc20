package datastream_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"floe/datastream"
)

// lastFails passes records on; at the end of its input, subtask 1 waits for
// subtask 0's sink to have finished (its last part left waiting), notes
// what a reader of dir sees then, and fails when fail is set.
type lastFails struct {
	info    datastream.OperatorInfo
	dir     string
	fail    bool
	visible *atomic.Int64 // visible files seen while subtask 0 had finished, -1: not looked
}

func (o *lastFails) Process(v int64, emit func(int64)) { emit(v) }

func (o *lastFails) EndInput(func(int64)) {
	if o.info.Subtask != 1 {
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(o.dir, ".part-0-*.ready-*")); len(m) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	ents, _ := os.ReadDir(o.dir)
	n := int64(0)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	o.visible.Store(n)
	if o.fail {
		panic("injected failure of the last subtask")
	}
}

func publishJob(out string, fail bool, visible *atomic.Int64) *datastream.Environment {
	env := newEnv(2)
	items := make([]int64, 2000)
	for i := range items {
		items[i] = int64(i)
	}
	s := datastream.Transform(datastream.FromSlice(env, items), "Last Fails", datastream.ExchangeRebalance[int64](),
		func(info datastream.OperatorInfo) (datastream.BoundedOperator[int64, int64], error) {
			return &lastFails{info: info, dir: out, fail: fail, visible: visible}, nil
		})
	datastream.WriteText(s, out, func(v int64) string { return strconv.FormatInt(v, 10) })
	return env
}

func readLines(t *testing.T, dir string) (lines []string, hidden []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			hidden = append(hidden, e.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Fields(string(b))...)
	}
	return lines, hidden
}

// A job publishes its parts only when it has finished as a whole: while its
// last subtask runs, a reader sees nothing of the subtasks that finished;
// when that subtask fails, no part is left, attached or detached (the
// JobManager removes the waiting parts, not only the client); when it
// succeeds, the output is the input.
func TestOutputPublishedWhenTheJobFinished(t *testing.T) {
	for _, detached := range []bool{false, true} {
		t.Run(fmt.Sprint("detached=", detached), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			var visible atomic.Int64
			visible.Store(-1)
			env := publishJob(out, true, &visible)
			var err error
			if detached {
				c, aerr := env.ExecuteAsync(context.Background(), "publish-fail")
				if aerr != nil {
					t.Fatal(aerr)
				}
				_, err = c.Wait(context.Background())
			} else {
				_, err = env.Execute(context.Background(), "publish-fail")
			}
			if err == nil {
				t.Fatal("the injected failure did not fail the job")
			}
			if v := visible.Load(); v != 0 {
				t.Fatalf("while the last subtask ran, a reader saw %d files (-1: subtask 0 never finished)", v)
			}
			lines, hidden := readLines(t, out)
			if len(lines) != 0 || len(hidden) != 0 {
				t.Fatalf("the failed job left %d lines of parts and hidden files %v", len(lines), hidden)
			}
		})
	}
	out := filepath.Join(t.TempDir(), "out")
	var visible atomic.Int64
	env := publishJob(out, false, &visible)
	if _, err := env.Execute(context.Background(), "publish"); err != nil {
		t.Fatal(err)
	}
	if v := visible.Load(); v != 0 {
		t.Fatalf("before the job finished, a reader saw %d files", v)
	}
	lines, hidden := readLines(t, out)
	if len(hidden) != 0 {
		t.Fatalf("hidden files left after success: %v", hidden)
	}
	var want []string
	for i := range 2000 {
		want = append(want, strconv.Itoa(i))
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Fatalf("output: %d lines, want the %d input numbers", len(lines), len(want))
	}
}

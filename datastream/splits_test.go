package datastream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"floe/config"
	"floe/datastream"
)

type keyVal struct {
	Key int64
	Val int64
}

// writeKeyVals writes files of "key,value" lines and returns the lines.
func writeKeyVals(t *testing.T, dir string, files, lines int) []keyVal {
	t.Helper()
	r := rand.New(rand.NewPCG(7, uint64(files)))
	var all []keyVal
	for f := range files {
		var b strings.Builder
		for range lines {
			kv := keyVal{Key: r.Int64N(50), Val: r.Int64N(1_000_000)}
			fmt.Fprintf(&b, "%d,%d\n", kv.Key, kv.Val)
			all = append(all, kv)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%d.csv", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

// splitLog records which subtask read which splits.
type splitLog struct {
	mu      sync.Mutex
	readers map[int]map[int]bool // split -> subtasks that read it
}

func (l *splitLog) saw(subtask, split int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readers[split] == nil {
		l.readers[split] = map[int]bool{}
	}
	l.readers[split][subtask] = true
}

// splitsOf returns how many splits each subtask read.
func (l *splitLog) splitsOf(parallelism int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := make([]int, parallelism)
	for _, subs := range l.readers {
		for s := range subs {
			n[s]++
		}
	}
	return n
}

// With splits handed out on demand, a source subtask that is slow reads
// fewer splits than the others, and the job still reads every record once.
func TestSlowSubtaskReadsFewerSplits(t *testing.T) {
	for _, mode := range []string{"BATCH", "STREAMING"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			want := writeKeyVals(t, dir, 4, 1000) // ~11 bytes a line: 40 splits of 1 KiB
			const p = 4
			env := newEnv(p, "execution.runtime-mode", mode, config.BufferTimeout, "5ms")
			log := &splitLog{readers: map[int]map[int]bool{}}
			src := datastream.ReadCSVHooked[keyVal](env, filepath.Join(dir, "part-*.csv"),
				datastream.CSVOptions{FileOptions: datastream.FileOptions{SplitSize: 1024}},
				func(subtask, split int) {
					if subtask == 0 {
						time.Sleep(time.Millisecond) // ~100 ms a split
					}
					log.saw(subtask, split)
				})
			out, _ := datastream.Collect(src)
			sums, _ := datastream.Collect(datastream.KeyBy(src, func(kv keyVal) int64 { return kv.Key }).
				Reduce(func(a, b keyVal) keyVal { a.Val += b.Val; return a }))
			if _, err := env.Execute(context.Background(), "slow-subtask-"+mode); err != nil {
				t.Fatal(err)
			}
			key := func(kv keyVal) string { return fmt.Sprint(kv.Key, ",", kv.Val) }
			sameMultiset(t, multiset(out.Items(), key), multiset(want, key))
			wantSum := map[int64]int64{}
			for _, kv := range want {
				wantSum[kv.Key] += kv.Val
			}
			gotSum := map[int64]int64{}
			for _, kv := range sums.Items() { // a key's updates come in order: the last is its total
				gotSum[kv.Key] = kv.Val
			}
			if fmt.Sprint(gotSum) != fmt.Sprint(wantSum) {
				t.Fatalf("sums per key:\n got %v\nwant %v", gotSum, wantSum)
			}
			total := len(log.readers)
			for k, subs := range log.readers {
				if len(subs) != 1 {
					t.Fatalf("split %d was read by subtasks %v", k, subs)
				}
			}
			n := log.splitsOf(p)
			t.Logf("%d splits; per subtask %v", total, n)
			if total < 30 {
				t.Fatalf("only %d splits: the test needs many", total)
			}
			if fair := total / p; n[0] >= fair/2 {
				t.Fatalf("the slow subtask read %d splits, the others %v: want far fewer than a fair share (%d)", n[0], n[1:], fair)
			}
		})
	}
}

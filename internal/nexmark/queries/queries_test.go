package queries_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"floe/config"
	"floe/datastream"
	"floe/internal/nexmark"
	"floe/internal/nexmark/queries"
)

// The test events: 60 s of event time at 1000 events/s, so the 10 s windows
// of q5, q7, q8 and q11 fire several times.
const testEvents = 60_000

func testConfig() nexmark.Config {
	c := nexmark.DefaultConfig()
	c.Seed, c.EventRate = 42, 1000
	return c
}

func generated(n int64) []nexmark.Event {
	gen := testConfig()
	evs := make([]nexmark.Event, n)
	for i := range evs {
		evs[i] = gen.Event(int64(i))
	}
	return evs
}

// check compares a query's output with its plain-Go result.
type check struct {
	want func(evs []nexmark.Event) []string          // canonical rows of the reference
	got  func(t *testing.T, lines []string) []string // canonical rows of the output
}

func checkOf[T any](ref func([]nexmark.Event) []T) check {
	return check{
		want: func(evs []nexmark.Event) []string { return nexmark.Canonical(ref(evs)) },
		got:  func(t *testing.T, lines []string) []string { return nexmark.Canonical(decode[T](t, lines)) },
	}
}

var checks = map[string]check{
	"q0": checkOf(nexmark.RefQ0), "q1": checkOf(nexmark.RefQ1), "q2": checkOf(nexmark.RefQ2),
	"q3": checkOf(nexmark.RefQ3), "q5": checkOf(nexmark.RefQ5), "q7": checkOf(nexmark.RefQ7),
	"q8": checkOf(nexmark.RefQ8), "q11": checkOf(nexmark.RefQ11),
	// q4 emits an updated average per category as auctions close: its
	// result is each category's last row.
	"q4": {
		want: func(evs []nexmark.Event) []string { return nexmark.Canonical(nexmark.RefQ4(evs)) },
		got: func(t *testing.T, lines []string) []string {
			last := map[int64]nexmark.Q4Row{}
			for _, r := range decode[nexmark.Q4Row](t, lines) {
				last[r.Category] = r
			}
			var rows []nexmark.Q4Row
			for _, r := range last {
				rows = append(rows, r)
			}
			return nexmark.Canonical(rows)
		},
	},
}

func decode[T any](t *testing.T, lines []string) []T {
	t.Helper()
	var rows []T
	for _, l := range lines {
		var r T
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func env(p int, extra ...string) *datastream.Environment {
	return envLog(p, zerolog.Nop(), extra...)
}

func envLog(p int, log zerolog.Logger, extra ...string) *datastream.Environment {
	m := map[string]string{config.Parallelism: strconv.Itoa(p), "restart-strategy.type": "none"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return datastream.NewEnvironment(datastream.WithConfig(config.New(m)), datastream.WithLogger(log))
}

// logBuffer collects a job's log lines (written from many goroutines).
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readLines returns the committed JSON lines under dir, part file by part
// file in the order each subtask wrote them.
func readLines(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type part struct {
		name     string
		sub, seq int
	}
	var parts []part
	for _, e := range ents {
		var p part
		if _, err := fmt.Sscanf(e.Name(), "part-%d-%d", &p.sub, &p.seq); err != nil {
			if !strings.HasPrefix(e.Name(), ".") {
				t.Fatalf("unexpected file %s in the output", e.Name())
			}
			continue
		}
		p.name = e.Name()
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, b part) int {
		if a.sub != b.sub {
			return a.sub - b.sub
		}
		return a.seq - b.seq
	})
	var lines []string
	for _, p := range parts {
		f, err := os.Open(filepath.Join(dir, p.name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
	}
	return lines
}

func runQuery(t *testing.T, e *datastream.Environment, o queries.Options, sink func(queries.Result)) {
	t.Helper()
	if err := queries.Build(e, o, sink); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Execute(context.Background(), "nexmark "+o.Query); err != nil {
		t.Fatal(err)
	}
}

// Every query, at parallelism 1 and 2, against plain Go over the same
// generated events.
func TestQueriesAgainstPlainGo(t *testing.T) {
	evs := generated(testEvents)
	for _, q := range queries.Names() {
		if q == "q12" {
			continue // processing time: TestQ12
		}
		want := checks[q].want(evs)
		if len(want) == 0 {
			t.Fatalf("%s: the reference result is empty: the test events do not exercise it", q)
		}
		for _, p := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/p%d", q, p), func(t *testing.T) {
				dir := t.TempDir()
				runQuery(t, env(p), queries.Options{Query: q, Events: testEvents, Gen: testConfig()}, queries.JSONFiles(dir, false))
				got := checks[q].got(t, readLines(t, dir))
				if !slices.Equal(got, want) {
					t.Fatalf("%s at p=%d: %d rows, want %d; first differences:\n%s", q, p, len(got), len(want), diff(got, want))
				}
			})
		}
	}
}

// Q12's windows follow the wall clock, so only what does not depend on it
// is checked: windows are 10 s long and aligned, no bidder's window appears
// twice, and each bidder's counts add up to its bids.
func TestQ12(t *testing.T) {
	evs := generated(testEvents)
	want := nexmark.RefQ12BidCounts(evs)
	dir := t.TempDir()
	runQuery(t, env(2), queries.Options{Query: "q12", Events: testEvents, Gen: testConfig()}, queries.JSONFiles(dir, false))
	got := map[int64]int64{}
	seen := map[string]bool{}
	for _, l := range readLines(t, dir) {
		var r nexmark.Q12Row
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.EndTime-r.StartTime != 10_000 || r.StartTime%10_000 != 0 {
			t.Fatalf("window %d-%d is not a 10 s tumbling window", r.StartTime, r.EndTime)
		}
		k := fmt.Sprint(r.Bidder, r.StartTime)
		if seen[k] {
			t.Fatalf("bidder %d's window at %d fired twice", r.Bidder, r.StartTime)
		}
		seen[k] = true
		got[r.Bidder] += r.BidCount
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bids per bidder differ: %d bidders, want %d", len(got), len(want))
	}
}

// A windowed query with checkpoints and failures injected while it runs
// recovers from its checkpoints and commits exactly the result of an
// undisturbed run.
func TestWindowedQuerySurvivesFailures(t *testing.T) {
	backends := []struct {
		name string
		keys []string
	}{
		{"heap", nil},
		// The pebble store's files, sent incrementally, two retained: a
		// restore reopens files that several checkpoints share.
		{"pebble-incremental", []string{config.StateBackend, "pebble", config.IncrementalCheckpoints, "true",
			"execution.checkpointing.num-retained", "2"}},
	}
	for _, q := range []string{"q5", "q11"} {
		for _, be := range backends {
			t.Run(q+"/"+be.name, func(t *testing.T) { windowedQuerySurvivesFailures(t, q, be.keys) })
		}
	}
}

func windowedQuerySurvivesFailures(t *testing.T, q string, backend []string) {
	evs := generated(testEvents)
	want := checks[q].want(evs)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	logs := &logBuffer{}
	e := envLog(2, zerolog.New(logs).Level(zerolog.InfoLevel), append([]string{
		config.BufferTimeout, "5ms",
		"execution.checkpointing.interval", "100ms",
		"execution.checkpointing.dir", "file://" + filepath.Join(dir, "checkpoints"),
		"restart-strategy.type", "fixed-delay",
		"restart-strategy.fixed-delay.attempts", "10",
		"restart-strategy.fixed-delay.delay", "20ms"}, backend...)...)
	var failNow atomic.Bool
	var panics atomic.Int32
	failing := func(r queries.Result) {
		switch s := r.Stream.(type) {
		case datastream.Stream[nexmark.Q5Row]:
			datastream.WriteJSON(failingMap(s, &failNow, &panics), out).UID("sink")
		case datastream.Stream[nexmark.Q11Row]:
			datastream.WriteJSON(failingMap(s, &failNow, &panics), out).UID("sink")
		default:
			t.Fatalf("unexpected result %T", r.Stream)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	var shared atomic.Int32
	go func() { // failures at irregular moments while the job runs
		defer close(done)
		completed := 0
		for i := range 3 {
			// Each failure follows a checkpoint completed since the last
			// one, so the job restores from a checkpoint however slowly it
			// starts (a loaded machine, the race detector).
			for strings.Count(logs.String(), `"checkpoint complete"`) <= completed {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			completed = strings.Count(logs.String(), `"checkpoint complete"`)
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(50+70*i) * time.Millisecond):
				failNow.Store(true)
				// What the checkpoints share so far (the job's end removes it).
				files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*", "shared", "*"))
				shared.Store(max(shared.Load(), int32(len(files))))
			}
		}
	}()
	// 20000 events/s: the run takes about 3 s, with a checkpoint every 100 ms.
	runQuery(t, e, queries.Options{Query: q, Events: testEvents, Rate: 20_000, Gen: testConfig()}, failing)
	close(stop)
	<-done
	if panics.Load() == 0 {
		t.Fatal("no failure was injected: the job ended too soon to test recovery")
	}
	if !strings.Contains(logs.String(), "restoring from checkpoint") {
		t.Fatal("the job never restored from a checkpoint")
	}
	if incremental := slices.Contains(backend, config.IncrementalCheckpoints); incremental != (shared.Load() > 0) {
		t.Fatalf("incremental checkpoints %v, but %d files were seen in shared/", incremental, shared.Load())
	}
	got := checks[q].got(t, readLines(t, out))
	if !slices.Equal(got, want) {
		t.Fatalf("%s after %d failures: %d rows, want %d; first differences:\n%s", q, panics.Load(), len(got), len(want), diff(got, want))
	}
	t.Logf("%s: %d failures, %d rows exactly once", q, panics.Load(), len(got))
}

func failingMap[T any](s datastream.Stream[T], failNow *atomic.Bool, panics *atomic.Int32) datastream.Stream[T] {
	return datastream.Map(s, func(v T) T {
		if failNow.CompareAndSwap(true, false) {
			panics.Add(1)
			panic("injected failure")
		}
		return v
	}).UID("fail")
}

func diff(got, want []string) string {
	var b strings.Builder
	n := 0
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok && n < 3 {
			fmt.Fprintf(&b, "  extra   %s\n", g)
			n++
		}
	}
	n = 0
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok && n < 3 {
			fmt.Fprintf(&b, "  missing %s\n", w)
			n++
		}
	}
	return b.String()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Windowed queries move: stopped with a savepoint at parallelism 2, restored
// at 3, stopped again, finished at 1. Open windows, sessions and timers
// travel with their keys, and the committed output equals the plain-Go
// result.
func TestWindowedQueryRescales(t *testing.T) {
	for _, q := range []string{"q5", "q11"} {
		t.Run(q, func(t *testing.T) {
			want := checks[q].want(generated(testEvents))
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			savepoint := ""
			for phase, p := range []int{2, 3, 1} {
				extra := []string{config.BufferTimeout, "5ms",
					"execution.checkpointing.interval", "200ms",
					"execution.checkpointing.dir", "file://" + filepath.Join(dir, "checkpoints"),
					"execution.checkpointing.savepoint-dir", "file://" + filepath.Join(dir, "savepoints")}
				if savepoint != "" {
					extra = append(extra, "execution.savepoint.path", savepoint)
				}
				e := env(p, extra...)
				if err := queries.Build(e, queries.Options{Query: q, Events: testEvents, Rate: 20_000, Gen: testConfig()}, queries.JSONFiles(out, false)); err != nil {
					t.Fatal(err)
				}
				client, err := e.ExecuteAsync(context.Background(), "nexmark "+q)
				if err != nil {
					t.Fatal(err)
				}
				if phase == 2 {
					if _, err := client.Wait(context.Background()); err != nil {
						t.Fatal(err)
					}
					break
				}
				time.Sleep(800 * time.Millisecond)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				savepoint, err = client.Savepoint(ctx, "", true)
				cancel()
				if err != nil {
					client.Cancel()
					client.Wait(context.Background())
					t.Fatalf("phase %d: savepoint: %v", phase, err)
				}
				client.Wait(context.Background())
			}
			got := checks[q].got(t, readLines(t, out))
			if !slices.Equal(got, want) {
				t.Fatalf("%s across 2 -> 3 -> 1: %d rows, want %d; first differences:\n%s", q, len(got), len(want), diff(got, want))
			}
		})
	}
}

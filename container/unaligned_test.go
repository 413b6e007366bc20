package container_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"floe/appmaster"
	"floe/config"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
)

// The unaligned cycle test's job: sources (parallelism 2) that keep their
// position in list state, rebalanced to throttled sinks that keep a digest
// of what they received (count, sum, sum of squares) and the last value of
// each producer, all in list state. Each producer's values increase, so a
// sink sees them increase on every channel unless a record is lost,
// duplicated or reordered by a restore.

type ucSource struct {
	info operator.TaskInfo
	n    int64
	next int64
	out  *network.RecordWriter[int64]
}

func (c *ucSource) Run(ctx context.Context, sc *operator.SourceContext) error {
	for ; c.next < c.n; c.next++ {
		if sc.Poll() {
			return ctx.Err()
		}
		c.out.Collect(int64(c.info.Subtask)*1_000_000 + c.next)
	}
	c.out.Emit(network.Event{Kind: network.EndOfInput})
	return nil
}
func (c *ucSource) NewDecoder(int) (network.Decoder, error) {
	return nil, fmt.Errorf("a source has no input")
}
func (c *ucSource) EndInput(int)      {}
func (c *ucSource) Flush()            { c.out.Flush() }
func (c *ucSource) Tick()             {}
func (c *ucSource) Close() error      { return nil }
func (c *ucSource) RecordsOut() int64 { return c.out.RecordsOut() }
func (c *ucSource) SnapshotState(int64) (map[string]operator.OperatorState, error) {
	return map[string]operator.OperatorState{"src": {List: [][]byte{binary.BigEndian.AppendUint64(nil, uint64(c.next))}}}, nil
}
func (c *ucSource) RestoreState(st map[string]operator.OperatorState) error {
	if s, ok := st["src"]; ok && len(s.List) == 1 {
		c.next = int64(binary.BigEndian.Uint64(s.List[0]))
	}
	return nil
}
func (c *ucSource) EmitBarrier(id int64, dir string, unaligned bool) {
	c.out.Emit(network.Event{Kind: network.Barrier, Value: id, Text: dir, Priority: unaligned})
}
func (c *ucSource) NotifyCheckpointComplete(int64) error { return nil }
func (c *ucSource) NotifyCheckpointAborted(int64)        {}

// digest is what a sink received.
type digest struct{ count, sum, squares uint64 }

type ucSink struct {
	info  operator.TaskInfo
	d     digest
	last  [2]int64
	delay time.Duration
	err   error
	env   *ucEnv
}

type ucEnv struct {
	mu        sync.Mutex
	final     map[int]digest // by sink subtask, written at the end of input
	completed atomic.Int64   // checkpoints completed (sink 0's notifications)
	fail      atomic.Bool    // the next record fails the sink once
	errs      []error
}

func (s *ucSink) Collect(v int64) {
	p := v / 1_000_000
	if v <= s.last[p] {
		s.err = fmt.Errorf("sink %d: %d after %d from producer %d: reordered or duplicated", s.info.Subtask, v, s.last[p], p)
	}
	s.last[p] = v
	s.d.count++
	s.d.sum += uint64(v)
	s.d.squares += uint64(v) * uint64(v)
	if s.d.count%16 == 0 {
		time.Sleep(s.delay) // the throttle: the sources fill the queues
	}
	if s.env.fail.Load() && s.env.completed.Load() >= 2 && s.env.fail.CompareAndSwap(true, false) {
		panic("injected failure after two completed checkpoints")
	}
}
func (s *ucSink) Emit(network.Event) {}
func (s *ucSink) NewDecoder(int) (network.Decoder, error) {
	return network.NewDecoder[int64](s)
}
func (s *ucSink) Run(context.Context, *operator.SourceContext) error { return nil }
func (s *ucSink) EndInput(int) {
	s.env.mu.Lock()
	defer s.env.mu.Unlock()
	s.env.final[s.info.Subtask] = s.d
	if s.err != nil {
		s.env.errs = append(s.env.errs, s.err)
	}
}
func (s *ucSink) Flush()            {}
func (s *ucSink) Tick()             {}
func (s *ucSink) Close() error      { return nil }
func (s *ucSink) RecordsOut() int64 { return 0 }
func (s *ucSink) SnapshotState(int64) (map[string]operator.OperatorState, error) {
	b := binary.BigEndian.AppendUint64(nil, s.d.count)
	b = binary.BigEndian.AppendUint64(b, s.d.sum)
	b = binary.BigEndian.AppendUint64(b, s.d.squares)
	b = binary.BigEndian.AppendUint64(b, uint64(s.last[0]))
	b = binary.BigEndian.AppendUint64(b, uint64(s.last[1]))
	return map[string]operator.OperatorState{"sink": {List: [][]byte{b}}}, nil
}
func (s *ucSink) RestoreState(st map[string]operator.OperatorState) error {
	if x, ok := st["sink"]; ok && len(x.List) == 1 && len(x.List[0]) == 40 {
		b := x.List[0]
		s.d = digest{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])}
		s.last = [2]int64{int64(binary.BigEndian.Uint64(b[24:])), int64(binary.BigEndian.Uint64(b[32:]))}
	}
	return nil
}
func (s *ucSink) EmitBarrier(int64, string, bool) {}
func (s *ucSink) NotifyCheckpointComplete(int64) error {
	if s.info.Subtask == 0 {
		s.env.completed.Add(1)
	}
	return nil
}
func (s *ucSink) NotifyCheckpointAborted(int64) {}

func unalignedGraph(env *ucEnv, n int64, delay time.Duration, kv map[string]string) *jobgraph.JobGraph {
	src := &jobgraph.Vertex{ID: 0, Name: "Source: numbers", Parallelism: 2, IsSource: true,
		Operators: []jobgraph.Operator{{ID: 0, UID: "src", Name: "numbers"}},
		Build: func(info operator.TaskInfo, outs []network.ChannelSink) (operator.Task, error) {
			w, err := network.NewWriter[int64](outs[0], info.Subpartitions[0], network.RoundRobin[int64](info.Subtask), 64)
			if err != nil {
				return nil, err
			}
			return &ucSource{info: info, n: n, out: w}, nil
		}}
	sink := &jobgraph.Vertex{ID: 1, Name: "Sink: throttled", Parallelism: 2,
		Operators: []jobgraph.Operator{{ID: 1, UID: "sink", Name: "throttled"}},
		Build: func(info operator.TaskInfo, _ []network.ChannelSink) (operator.Task, error) {
			return &ucSink{info: info, delay: delay, env: env, last: [2]int64{-1, 999_999}}, nil
		}}
	e := &jobgraph.Edge{Source: 0, Target: 1, Partitioning: jobgraph.Rebalance}
	src.Outputs, sink.Inputs = []*jobgraph.Edge{e}, []*jobgraph.Edge{e}
	return &jobgraph.JobGraph{Name: "unaligned", Vertices: []*jobgraph.Vertex{src, sink}, MaxParallelism: 128, Config: config.New(kv)}
}

// model is the plain-Go digest of what the sinks must receive together.
func model(n int64) digest {
	var d digest
	for s := range int64(2) {
		for i := range n {
			v := uint64(s*1_000_000 + i)
			d.count++
			d.sum += v
			d.squares += v * v
		}
	}
	return d
}

// The whole unaligned cycle in one process: a back-pressured job takes
// unaligned checkpoints (their channel state is not empty), a sink fails
// after two completed, the job restores the operator state and the
// channel state, and the sinks received every record exactly once, in
// order per producer, as the plain-Go model says.
func TestUnalignedCheckpointRestoreExactlyOnce(t *testing.T) {
	for _, mode := range []struct {
		name string
		kv   map[string]string
	}{
		{"unaligned", map[string]string{}},
		{"timeout-switch", map[string]string{"execution.checkpointing.aligned-checkpoint-timeout": "1ms"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			const n = 30_000
			dir := t.TempDir()
			kv := map[string]string{
				config.BufferTimeout:                                   "5ms",
				"execution.checkpointing.interval":                     "40ms",
				"execution.checkpointing.dir":                          "file://" + dir,
				"execution.checkpointing.num-retained":                 "1000",
				"execution.checkpointing.unaligned.enabled":            "true",
				"execution.checkpointing.tolerable-failed-checkpoints": "1000",
				"restart-strategy.type":                                "fixed-delay",
				"restart-strategy.fixed-delay.attempts":                "5",
				"restart-strategy.fixed-delay.delay":                   "10ms",
			}
			for k, v := range mode.kv {
				kv[k] = v
			}
			// Whether a run is back-pressured enough for its checkpoints to
			// switch to unaligned depends on scheduling: a run without
			// channel state is repeated, at most three times in all.
			for attempt := 0; ; attempt++ {
				env := &ucEnv{final: map[int]digest{}}
				env.fail.Store(true)
				g := unalignedGraph(env, n, time.Duration(50+rand.N(100))*time.Microsecond, kv)
				jm, _ := cluster(t, 4, g)
				rs, err := appmaster.ParseRestartStrategy(g.Config)
				if err != nil {
					t.Fatal(err)
				}
				h, err := jm.Submit(g, appmaster.SubmitOptions{Restart: rs})
				if err != nil {
					t.Fatal(err)
				}
				var channelFiles atomic.Int64
				stop := make(chan struct{})
				watched := make(chan struct{})
				go func() { // the job's end removes its checkpoints: count channel state while it runs
					defer close(watched)
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						files, _ := filepath.Glob(filepath.Join(dir, "*", "chk-*", "*-channels"))
						for _, f := range files {
							if st, err := os.Stat(f); err == nil && st.Size() > 0 {
								channelFiles.Store(max(channelFiles.Load(), int64(len(files))))
							}
						}
					}
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				r, err := h.Wait(ctx)
				close(stop)
				<-watched
				if err != nil || r.Status != appmaster.Finished {
					t.Fatalf("job: %v %+v", err, r)
				}
				if env.fail.Load() {
					t.Fatal("the failure was never injected: fewer than two checkpoints completed")
				}
				if channelFiles.Load() == 0 {
					if attempt < 2 {
						t.Logf("run %d: no checkpoint had channel state; again", attempt+1)
						continue
					}
					t.Fatal("no checkpoint had channel state in 3 runs: the job was not back-pressured or checkpoints were aligned")
				}
				env.mu.Lock()
				defer env.mu.Unlock()
				for _, e := range env.errs {
					t.Error(e)
				}
				var got digest
				for _, d := range env.final {
					got.count += d.count
					got.sum += d.sum
					got.squares += d.squares
				}
				if want := model(n); got != want || len(env.final) != 2 {
					t.Fatalf("sinks received %+v from %d sinks, want %+v from 2", got, len(env.final), want)
				}
				t.Logf("%d channel-state files seen", channelFiles.Load())
				break
			}
		})
	}
}

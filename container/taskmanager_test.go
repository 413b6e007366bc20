package container_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/config"
	"floe/container"
	"floe/container/network"
	"floe/container/operator"
	"floe/internal/jobgraph"
	"floe/internal/rpc"
)

// chain is a hand-built operator chain: a source that writes count records
// (forever when count < 0) to its one output, or a sink that adds up what it
// decodes. It implements operator.Task without the datastream API, so these
// tests see the TaskManager alone.
type chain struct {
	info   operator.TaskInfo
	count  int64
	out    *network.RecordWriter[int64]
	sum    *atomic.Int64
	closed *atomic.Int32
}

func (c *chain) Run(ctx context.Context, sc *operator.SourceContext) error {
	if c.out == nil {
		return nil
	}
	for i := int64(0); c.count < 0 || i < c.count; i++ {
		if sc.Poll() {
			return ctx.Err()
		}
		c.out.Collect(int64(c.info.Subtask)*1_000_000 + i)
	}
	c.out.Emit(network.Event{Kind: network.EndOfInput})
	return nil
}

type adder struct{ sum *atomic.Int64 }

func (a adder) Collect(v int64)    { a.sum.Add(v) }
func (a adder) Emit(network.Event) {}
func (c *chain) NewDecoder(int) (network.Decoder, error) {
	return network.NewDecoder[int64](adder{c.sum})
}
func (c *chain) EndInput(int) {}
func (c *chain) Flush() {
	if c.out != nil {
		c.out.Flush()
	}
}
func (c *chain) Tick() {}
func (c *chain) Close() error {
	c.closed.Add(1)
	return nil
}
func (c *chain) RecordsOut() int64 {
	if c.out == nil {
		return 0
	}
	return c.out.RecordsOut()
}
func (c *chain) SnapshotState(int64) (map[string]operator.OperatorState, error) { return nil, nil }
func (c *chain) RestoreState(map[string]operator.OperatorState) error           { return nil }
func (c *chain) EmitBarrier(id int64, dir string, unaligned bool) {
	if c.out != nil {
		c.out.Emit(network.Event{Kind: network.Barrier, Value: id, Text: dir, Priority: unaligned})
	}
}
func (c *chain) NotifyCheckpointComplete(int64) error { return nil }
func (c *chain) NotifyCheckpointAborted(int64)        {}

// graph is source (p) -REBALANCE-> sink (p); name goes into the fingerprint.
func graph(name string, p int, count int64, sum *atomic.Int64, closed *atomic.Int32) *jobgraph.JobGraph {
	src := &jobgraph.Vertex{ID: 0, Name: "Source: " + name, Parallelism: p, IsSource: true,
		Operators: []jobgraph.Operator{{ID: 0, UID: "src", Name: name}},
		Build: func(info operator.TaskInfo, outs []network.ChannelSink) (operator.Task, error) {
			w, err := network.NewWriter[int64](outs[0], info.Subpartitions[0], network.RoundRobin[int64](info.Subtask), 64)
			if err != nil {
				return nil, err
			}
			return &chain{info: info, count: count, out: w, sum: sum, closed: closed}, nil
		}}
	sink := &jobgraph.Vertex{ID: 1, Name: "Sink", Parallelism: p,
		Operators: []jobgraph.Operator{{ID: 1, UID: "sink", Name: "Sink"}},
		Build: func(info operator.TaskInfo, _ []network.ChannelSink) (operator.Task, error) {
			return &chain{info: info, sum: sum, closed: closed}, nil
		}}
	e := &jobgraph.Edge{Source: 0, Target: 1, Partitioning: jobgraph.Rebalance}
	src.Outputs, sink.Inputs = []*jobgraph.Edge{e}, []*jobgraph.Edge{e}
	return &jobgraph.JobGraph{Name: name, Vertices: []*jobgraph.Vertex{src, sink}, MaxParallelism: 128,
		Config: config.New(map[string]string{config.BufferTimeout: "10ms"})}
}

// cluster runs a JobManager and one TaskManager per graph in tms, each with
// slots slots, until the test ends.
func cluster(t testing.TB, slots int, tms ...*jobgraph.JobGraph) (*appmaster.JobManager, []chan error) {
	t.Helper()
	secret := rpc.NewSecret()
	jm, err := appmaster.New(appmaster.Options{Secret: secret, Log: zerolog.Nop(), SlotTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	jmDone := make(chan struct{})
	go func() { defer close(jmDone); jm.Run(ctx) }()
	var ended []chan error
	for i, g := range tms {
		tm, err := container.New(container.Options{ResourceID: fmt.Sprintf("tm-%d", i), JobManager: jm.Address(),
			Slots: slots, Secret: secret, Log: zerolog.Nop(), Graph: g})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- tm.Run(ctx) }()
		ended = append(ended, done)
	}
	t.Cleanup(func() {
		cancel()
		<-jmDone
		for _, done := range ended {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("a TaskManager did not stop within 30 s of its context ending")
			}
		}
	})
	return jm, ended
}

// Two TaskManagers run a job to its end: every record the sources wrote
// reaches a sink across the network (over each data transport), and every
// task is closed.
func TestTaskManagersRunAJobToItsEnd(t *testing.T) {
	for _, tr := range []string{container.TransportTCP, container.TransportGRPC} {
		t.Run(tr, func(t *testing.T) { testRunAJobToItsEnd(t, tr) })
	}
}

func testRunAJobToItsEnd(t *testing.T, transport string) {
	const n, p = 20_000, 2
	var sum atomic.Int64
	var closed atomic.Int32
	g := graph("numbers", p, n, &sum, &closed)
	g.Config = config.New(map[string]string{config.BufferTimeout: "10ms", config.TaskManagerDataTransport: transport})
	jm, _ := cluster(t, 2, g, g)
	h, err := jm.Submit(g, appmaster.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := h.Wait(ctx)
	if err != nil || r.Status != appmaster.Finished {
		t.Fatalf("job: %v %+v", err, r)
	}
	var want int64
	for s := range int64(p) {
		for i := range int64(n) {
			want += s*1_000_000 + i
		}
	}
	if got := sum.Load(); got != want {
		t.Fatalf("sinks summed %d, want %d", got, want)
	}
	if c := closed.Load(); c != 2*p {
		t.Fatalf("%d tasks closed, want %d", c, 2*p)
	}
}

// Cancelling a job stops its never-ending sources and their consumers on
// the TaskManagers, which go on running (goleak in TestMain checks that the
// tasks' goroutines ended).
func TestCancelStopsTheTasks(t *testing.T) {
	var sum atomic.Int64
	var closed atomic.Int32
	g := graph("endless", 2, -1, &sum, &closed)
	jm, ended := cluster(t, 2, g)
	h, err := jm.Submit(g, appmaster.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for sum.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if sum.Load() == 0 {
		t.Fatal("no record reached a sink within 30 s")
	}
	h.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := h.Wait(ctx)
	if err != nil || r.Status != appmaster.Canceled {
		t.Fatalf("job after cancel: %v %+v", err, r)
	}
	if c := closed.Load(); c != 4 {
		t.Fatalf("%d tasks closed after cancel, want 4", c)
	}
	select {
	case err := <-ended[0]:
		t.Fatalf("the TaskManager stopped with the job: %v", err)
	default:
	}
}

// An unknown data transport is refused when the TaskManager starts.
func TestUnknownDataTransport(t *testing.T) {
	_, err := container.New(container.Options{ResourceID: "tm", JobManager: "127.0.0.1:1", Log: zerolog.Nop(), DataTransport: "udp"})
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("data transport udp: %v, want config.ErrInvalid", err)
	}
}

// A TaskManager without the application's secret is refused at
// registration: it fails instead of waiting for work.
func TestRegistrationNeedsTheSecret(t *testing.T) {
	var sum atomic.Int64
	var closed atomic.Int32
	jm, _ := cluster(t, 1)
	tm, err := container.New(container.Options{ResourceID: "intruder", JobManager: jm.Address(), Slots: 1,
		Secret: rpc.NewSecret(), Log: zerolog.Nop(), Graph: graph("any", 1, 10, &sum, &closed)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tm.Run(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a TaskManager with another secret: Run returned %v, want a refusal", err)
	}
}

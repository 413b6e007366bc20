package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"floe/config"
	"floe/internal/benchutil"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// The two-process exchange benchmarks: the test binary runs itself again as
// a child process (childEnv names its role), so that both ends of a
// TaskManager-to-TaskManager exchange, or of a plain TCP stream, are
// separate processes on loopback, as on a cluster's host. The child prints
// its address on stdout, serves one consumer, then prints its CPU time
// (getrusage) and exits; the parent adds it to its own. With
// FLOE_EXCHANGE_CHILD_CPUPROFILE=file the child writes its CPU profile
// there (-cpuprofile profiles the parent, the consumer).

const childEnv = "FLOE_EXCHANGE_CHILD"

// exchangeRec is a 100-byte record: two int64 and an 84-byte string.
type exchangeRec struct {
	K, V int64
	S    string
}

const (
	recBytes = 100
	tcpChunk = 64 << 10
)

// runExchangeChild runs the child's role and returns its exit code.
func runExchangeChild(role string) int {
	args := strings.Fields(role) // "<role> <records or bytes>"
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "bad child role", role)
		return 2
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	if path := os.Getenv(childEnv + "_CPUPROFILE"); path != "" && err == nil { // the producer's side of a profile
		f, ferr := os.Create(path)
		if ferr != nil {
			fmt.Fprintln(os.Stderr, "exchange child:", ferr)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "exchange child:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err == nil {
		switch args[0] {
		case "producer":
			err = exchangeProducer(n, "grpc")
		case "producer-tcp":
			err = exchangeProducer(n, "tcp")
		case "tcp":
			err = tcpWriter(n)
		default:
			err = fmt.Errorf("unknown role %q", args[0])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "exchange child:", err)
		return 1
	}
	fmt.Printf("cpu %d\n", benchutil.CPUTime().Nanoseconds())
	return 0
}

// exchangeProducer serves n records through a RecordWriter, a
// ResultPartition and the DataExchange gRPC service or the TCP data plane
// (transport), as a producing TaskManager does (the TaskManager's defaults:
// batches of 1024, four messages of queue and of credit; the TCP plane
// behind an rpc.Mux).
func exchangeProducer(n int64, transport string) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	reg := NewPartitionRegistry()
	var stats BufferStats
	key := KeyOf(&floepb.TaskRef{JobId: "bench", Vertex: 0}, 0)
	part := NewResultPartition(key, 1, 4, &stats)
	reg.Register(part)
	served := make(chan error, 1)
	serve := func(s ProducerStream) error {
		err := reg.Serve(s, time.Minute)
		served <- err
		return err
	}
	if transport == "tcp" {
		mux, srv := rpc.NewMux(lis, 0), NewTCPServer("secret", serve)
		go mux.Serve(srv.ServeConn) //nolint:errcheck // closed below
		defer func() { mux.Close(); srv.Close() }()
	} else {
		srv := grpc.NewServer(rpc.DataServerOptions("secret")...)
		floepb.RegisterDataExchangeServer(srv, DataExchangeServer(serve))
		go srv.Serve(lis)        //nolint:errcheck // stopped below
		defer srv.GracefulStop() // after the consumer closed its connection: Stop could cut off what is still in flight
	}
	fmt.Printf("addr %s\n", lis.Addr())
	w, err := NewWriter(part.Sink(context.Background()), 1, Forward[exchangeRec](), 1024)
	if err != nil {
		return err
	}
	if err := produce(w, n); err != nil {
		return err
	}
	return <-served
}

func produce(w *RecordWriter[exchangeRec], n int64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if a, ok := p.(Abort); ok {
				err = a.Err
				return
			}
			panic(p)
		}
	}()
	r := exchangeRec{S: strings.Repeat("x", recBytes-16)}
	for i := range n {
		r.K, r.V = i, -i
		w.Collect(r)
	}
	w.Emit(Event{Kind: EndOfInput})
	return nil
}

// tcpWriter writes n bytes to one TCP connection in 64 KB chunks.
func tcpWriter(n int64) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer lis.Close()
	fmt.Printf("addr %s\n", lis.Addr())
	c, err := lis.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, tcpChunk)
	for n > 0 {
		k, err := c.Write(buf[:min(int64(len(buf)), n)])
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// child is a running child process of one role.
type child struct {
	cmd  *exec.Cmd
	out  *bufio.Scanner
	addr string
}

func startChild(tb testing.TB, role string) *child {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{cmd: cmd, out: bufio.NewScanner(stdout)}
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := c.line("addr ")
	if err != nil {
		tb.Fatal(err)
	}
	c.addr = line
	return c
}

// line reads the child's next line, which must start with prefix.
func (c *child) line(prefix string) (string, error) {
	if !c.out.Scan() {
		return "", fmt.Errorf("child ended before %q: %w", prefix, errors.Join(c.out.Err(), io.ErrUnexpectedEOF))
	}
	l, ok := strings.CutPrefix(c.out.Text(), prefix)
	if !ok {
		return "", fmt.Errorf("child said %q, want %q...", c.out.Text(), prefix)
	}
	return l, nil
}

// finish reads the child's CPU time and waits for it to exit.
func (c *child) finish() (time.Duration, error) {
	l, err := c.line("cpu ")
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(l, 10, 64)
	if err != nil {
		return 0, err
	}
	if err := c.cmd.Wait(); err != nil {
		return 0, fmt.Errorf("child: %w", err)
	}
	return time.Duration(ns), nil
}

// consume subscribes to the producer child at addr like a consuming
// TaskManager's task: an InputGate over gRPC or the TCP data plane
// (transport), a Decoder into the chain (here a counter, checking each
// record), credit returned per message processed.
func consume(addr, transport string) (records int64, err error) {
	sub := TCPSubscriber(addr, "secret")
	if transport != "tcp" {
		conn, err := grpc.NewClient(addr, rpc.DataDialOptions("secret")...)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		sub = GRPCSubscriber(conn)
	}
	var stats BufferStats
	gate, err := NewInputGate([]*floepb.InputGateDescriptor{{Channels: []*floepb.InputChannelDescriptor{{
		Address: addr, Producer: &floepb.TaskRef{JobId: "bench", Vertex: 0}}}}},
		func(string) (Subscriber, error) { return sub, nil }, 4, &stats)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); gate.Wait() }()
	gate.Start(ctx)
	out := &checkRecs{}
	dec, err := NewDecoder[exchangeRec](out)
	if err != nil {
		return 0, err
	}
	for {
		select {
		case d := <-gate.Queue():
			if EventKind(d.Msg.GetKind()) == EndOfInput {
				return out.n, out.err
			}
			if _, err := dec.Decode(d.Msg.GetPayload()); err != nil {
				return out.n, err
			}
			d.Recycle()
			d.Channel.Release()
		case <-gate.Failed():
			return out.n, gate.Err()
		}
	}
}

// checkRecs counts records and checks that they come in order, whole.
type checkRecs struct {
	n   int64
	err error
}

func (c *checkRecs) Collect(r exchangeRec) {
	if c.err == nil && (r.K != c.n || r.V != -c.n || len(r.S) != recBytes-16) {
		c.err = fmt.Errorf("record %d: got {%d %d %d bytes}", c.n, r.K, r.V, len(r.S))
	}
	c.n++
}
func (c *checkRecs) Emit(Event) {}

// TestProcessExchange runs the two-process exchange once on a small input
// over each transport: every record arrives, in order, whole.
func TestProcessExchange(t *testing.T) {
	const n = 50_000
	for _, tr := range []string{"grpc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			c := startChild(t, fmt.Sprintf("%s %d", producerRole(tr), n))
			got, err := consume(c.addr, tr)
			if err != nil {
				t.Fatal(err)
			}
			if got != n {
				t.Fatalf("%d records, want %d", got, n)
			}
			if _, err := c.finish(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// producerRole is the child role of a producer over transport.
func producerRole(transport string) string {
	if transport == "tcp" {
		return "producer-tcp"
	}
	return "producer"
}

// BenchmarkProcessExchange measures, between two processes over loopback,
// the ceiling (one TCP stream written in 64 KB chunks by a plain Go loop and
// read and dropped by another) and floe's TaskManager-to-TaskManager
// exchange of 100-byte records (RecordWriter, ResultPartition, gRPC or the
// TCP data plane, InputGate, Decoder). Both report payload MB/s (wall) and CPU seconds of
// both processes per GB moved.
func BenchmarkProcessExchange(b *testing.B) {
	ceiling := func(b *testing.B) {
		const n = 2 << 30
		var wall, cpu time.Duration
		for b.Loop() {
			c := startChild(b, fmt.Sprint("tcp ", n))
			m := benchutil.Start()
			conn, err := net.Dial("tcp", c.addr)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, tcpChunk)
			var got int64
			for {
				k, err := conn.Read(buf)
				got += int64(k)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			conn.Close()
			childCPU, err := c.finish()
			if err != nil {
				b.Fatal(err)
			}
			w, own := m.Stop()
			if got != n {
				b.Fatalf("read %d bytes, want %d", got, n)
			}
			wall += w
			cpu += own + childCPU
		}
		report(b, float64(n)*float64(b.N), wall, cpu)
	}
	b.Run("ceiling=tcp", ceiling)
	exchange := func(transport string) func(b *testing.B) {
		return func(b *testing.B) {
			const n = 4_000_000
			var wall, cpu time.Duration
			for b.Loop() {
				c := startChild(b, fmt.Sprintf("%s %d", producerRole(transport), n))
				m := benchutil.Start()
				got, err := consume(c.addr, transport)
				if err != nil {
					b.Fatal(err)
				}
				childCPU, err := c.finish()
				if err != nil {
					b.Fatal(err)
				}
				w, own := m.Stop()
				if got != n {
					b.Fatalf("%d records, want %d", got, n)
				}
				wall += w
				cpu += own + childCPU
			}
			report(b, float64(n)*recBytes*float64(b.N), wall, cpu)
		}
	}
	b.Run("exchange=100B", exchange("grpc"))
	b.Run("exchange=100B,transport=tcp", exchange("tcp"))
	// Both processes as a YARN TaskManager of one virtual core runs: one
	// scheduler processor (the GOMAXPROCS its launch context sets) and the
	// TaskManagers' GC percentage; the ceiling again in the same setting.
	b.Run("ceiling=tcp,taskmanager=1core", asTaskManager(ceiling))
	b.Run("exchange=100B,transport=tcp,taskmanager=1core", asTaskManager(exchange("tcp")))
}

// asTaskManager runs bench in this process and its children with the Go
// runtime settings of a one-core TaskManager container.
func asTaskManager(bench func(*testing.B)) func(*testing.B) {
	return func(b *testing.B) {
		b.Setenv("GOMAXPROCS", "1")
		b.Setenv("GOGC", strconv.Itoa(config.DefaultTaskManagerGCPercent))
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		defer debug.SetGCPercent(debug.SetGCPercent(config.DefaultTaskManagerGCPercent))
		bench(b)
	}
}

func report(b *testing.B, bytes float64, wall, cpu time.Duration) {
	b.ReportMetric(bytes/wall.Seconds()/1e6, "MB/s")
	b.ReportMetric(cpu.Seconds()/(bytes/1e9), "cpu-s/GB")
	b.ReportMetric(bytes/cpu.Seconds()/1e6, "MB/cpu-s")
}

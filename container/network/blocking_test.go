package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"floe/internal/rpc/floepb"
)

// blockingMessages is what a producer sends to one subpartition: data with
// growing payloads, a watermark, then the end.
func blockingMessages(sub, n int) []Message {
	var ms []Message
	for i := range n {
		ms = append(ms, Message{Payload: bytes.Repeat([]byte{byte(sub), byte(i)}, i*37+1), Records: i + 1})
	}
	return append(ms, Message{Event: Watermark, Value: -12345}, Message{Event: EndOfInput})
}

func writeBlocking(t *testing.T, dir string, subs, n int) *BlockingPartition {
	t.Helper()
	p, err := NewBlockingPartition(PartitionKey{job: "j", vertex: 1, edge: 0}, subs, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n + 2 { // interleaved, as a record writer sends
		for s := range subs {
			if ms := blockingMessages(s, n); i < len(ms) {
				if err := p.Send(s, ms[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	return p
}

// readSub subscribes to subpartition sub through the registry, granting
// one credit at a time, and returns what arrived.
func readSub(ctx context.Context, reg *PartitionRegistry, key PartitionKey, sub int) ([]Message, error) {
	return readSubVia(ctx, LocalSubscriber(func(s ProducerStream) error { return reg.Serve(s, time.Second) }), key, sub)
}

// readSubVia is readSub through open.
func readSubVia(ctx context.Context, open Subscriber, key PartitionKey, sub int) ([]Message, error) {
	stream, closeFn, err := open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	ref := &floepb.TaskRef{JobId: key.job, Vertex: key.vertex, Subtask: key.subtask, Attempt: key.attempt}
	if err := stream.Send(&floepb.ConsumerMessage{Producer: ref, Edge: key.edge, Subpartition: int32(sub), Credit: 1}); err != nil {
		return nil, err
	}
	var got []Message
	for {
		m, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, Message{Event: EventKind(m.GetKind()), Value: m.GetValue(), Payload: m.GetPayload(), Records: int(m.GetRecords())})
		if EventKind(m.GetKind()) == EndOfInput {
			return got, nil
		}
		if err := stream.Send(&floepb.ConsumerMessage{Credit: 1}); err != nil {
			return got, err
		}
	}
}

func sameMessages(got, want []Message) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Event != w.Event || g.Value != w.Value || g.Records != w.Records || !bytes.Equal(g.Payload, w.Payload) {
			return fmt.Errorf("message %d = %v/%d/%d/%d bytes, want %v/%d/%d/%d bytes", i, g.Event, g.Value, g.Records, len(g.Payload), w.Event, w.Value, w.Records, len(w.Payload))
		}
	}
	return nil
}

func TestBlockingPartitionServesEverySubpartitionTwice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "part")
	p := writeBlocking(t, dir, 3, 50)
	if p.Bytes() == 0 {
		t.Fatal("no bytes counted")
	}
	reg := NewPartitionRegistry()
	reg.RegisterBlocking(p)
	ctx := context.Background()
	for round := range 2 { // a consumer stage that reruns reads the same files again
		for s := range 3 {
			got, err := readSub(ctx, reg, p.Key(), s)
			if err != nil {
				t.Fatalf("round %d subpartition %d: %v", round, s, err)
			}
			if err := sameMessages(got, blockingMessages(s, 50)); err != nil {
				t.Fatalf("round %d subpartition %d: %v", round, s, err)
			}
		}
	}
	reg.ReleaseJobFiles("j", ErrPartitionReleased)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partition's files are still there after the job's release: %v", err)
	}
	if _, err := readSub(ctx, reg, p.Key(), 0); err == nil {
		t.Fatal("a released partition was served")
	}
}

// A blocking partition's files are served over gRPC and the TCP plane as
// over a local channel.
func TestBlockingPartitionOverTheNetwork(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			p := writeBlocking(t, filepath.Join(t.TempDir(), "part"), 2, 50)
			tm := newTM(t, tr)
			tm.partitions.RegisterBlocking(p)
			for s := range 2 {
				got, err := readSubVia(context.Background(), tm.subscribe, p.Key(), s)
				if err != nil {
					t.Fatalf("subpartition %d: %v", s, err)
				}
				if err := sameMessages(got, blockingMessages(s, 50)); err != nil {
					t.Fatalf("subpartition %d: %v", s, err)
				}
			}
			tm.partitions.ReleaseJobFiles("j", ErrPartitionReleased)
		})
	}
}

func TestBlockingPartitionWaitsForFinish(t *testing.T) {
	p, err := NewBlockingPartition(PartitionKey{job: "j"}, 1, filepath.Join(t.TempDir(), "p"))
	if err != nil {
		t.Fatal(err)
	}
	reg := NewPartitionRegistry()
	reg.RegisterBlocking(p)
	res := make(chan error, 1)
	go func() {
		_, err := readSub(context.Background(), reg, p.Key(), 0)
		res <- err
	}()
	want := blockingMessages(0, 3)
	for _, m := range want {
		if err := p.Send(0, m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-res:
		t.Fatalf("served before the producer finished: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	p.Release(ErrPartitionReleased)
}

func TestBlockingPartitionReleasedProducer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	p, err := NewBlockingPartition(PartitionKey{job: "j"}, 2, dir)
	if err != nil {
		t.Fatal(err)
	}
	p.Release(fmt.Errorf("%w: producer FAILED", ErrPartitionReleased))
	if err := p.Send(0, Message{Payload: []byte("x")}); !errors.Is(err, ErrPartitionReleased) {
		t.Fatalf("send after release: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed producer's files are still there: %v", err)
	}
}

func readAll(path string) ([]Message, error) {
	r, err := OpenBlockingReader(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var ms []Message
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ms, nil
		}
		if err != nil {
			return ms, err
		}
		ms = append(ms, m)
	}
}

func TestBlockingReaderTruncatedAndCorrupt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	writeBlocking(t, dir, 1, 20)
	path := filepath.Join(dir, "sub-0.arrows")
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(path); err != nil || sameMessages(got, blockingMessages(0, 20)) != nil {
		t.Fatalf("whole file: %v", err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated in a payload", whole[:len(whole)-frameHeaderBytes-30]},
		{"truncated in a header", whole[:len(blockingMagic)+5]},
		{"a flipped payload byte", flip(whole, len(whole)/2)},
		{"no magic", whole[3:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "sub-0.arrows")
			if err := os.WriteFile(bad, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readAll(bad)
			if !errors.Is(err, ErrCorruptPartition) || !strings.Contains(err.Error(), bad) {
				t.Fatalf("err = %v, want ErrCorruptPartition naming %s", err, bad)
			}
		})
	}
	// Served, a file cut at a frame boundary fails too: END_OF_PARTITION is missing.
	cut := whole[:len(whole)-2*frameHeaderBytes-8]
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := NewPartitionRegistry()
	p := &BlockingPartition{key: PartitionKey{job: "j"}, dir: dir, paths: []string{path}, done: make(chan struct{})}
	close(p.done)
	reg.RegisterBlocking(p)
	_, err = readSub(context.Background(), reg, p.key, 0)
	if !errors.Is(err, ErrCorruptPartition) || !strings.Contains(fmt.Sprint(err), path) {
		t.Fatalf("serving a cut file: %v, want an error naming %s", err, path)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x55
	return c
}

// FuzzBlockingReader reads arbitrary bytes from disk as a subpartition file:
// it never panics, and never allocates past the file's size.
func FuzzBlockingReader(f *testing.F) {
	var buf bytes.Buffer
	buf.WriteString(blockingMagic)
	for _, m := range blockingMessages(0, 4) {
		writeFrame(&buf, m)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(blockingMagic))
	f.Add(append([]byte(blockingMagic), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "sub-0.arrows")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ms, err := readAll(path)
		if err != nil && !errors.Is(err, ErrCorruptPartition) {
			t.Fatalf("error without ErrCorruptPartition: %v", err)
		}
		total := 0
		for _, m := range ms {
			total += len(m.Payload)
		}
		if total > len(data) {
			t.Fatalf("read %d payload bytes from a %d-byte file", total, len(data))
		}
	})
}

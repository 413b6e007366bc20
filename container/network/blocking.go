package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/bufpool"
	"floe/internal/rpc/floepb"
)

// A blocking partition is BATCH mode's exchange: the producer writes each
// subpartition to a file of its own in the TaskManager's local directories
// (the same messages a pipelined partition queues: Arrow IPC batches, the
// channel's schema first, then events), and consumers read the files once
// the producer finished, as often as they are deployed. So a consumer stage
// can run again without its producers, and the producing stage's slots are
// free before the consuming stage starts.
//
// A subpartition file is the magic blockingMagic, then one frame per
// message: a header (kind u8, value i64, records u32, payload length u32,
// CRC-32C of the header's first 17 bytes and the payload, all little
// endian) and the payload.

// ErrCorruptPartition is wrapped by errors about a blocking partition's file
// that cannot be read back (truncated, bad checksum, not such a file).
var ErrCorruptPartition = errors.New("corrupt blocking partition file")

const (
	blockingMagic    = "FLOEBP01"
	frameHeaderBytes = 1 + 8 + 4 + 4 + 4
	// maxFramePayload bounds one payload (a batch of execution.batch-size
	// records): a larger length is corruption, never an allocation.
	maxFramePayload = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BlockingPartition is one producer attempt's output on one edge, written
// to files. The producing task owns it: it writes through Send from its
// goroutine and calls Finish once at the end; Release may be called from any
// goroutine, and the partition registry serves its subpartitions to any
// number of consumers, one after another or at once, after Finish.
type BlockingPartition struct {
	key   PartitionKey
	dir   string
	paths []string
	files []*os.File
	bufs  []*bufio.Writer
	bytes atomic.Int64 // written to the files so far

	done chan struct{} // closed by Finish or Release
	once sync.Once
	mu   sync.Mutex
	err  error // set by Release (or a failed Finish): readers fail with it
}

// NewBlockingPartition creates dir and one file per subpartition in it.
func NewBlockingPartition(key PartitionKey, subpartitions int, dir string) (*BlockingPartition, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blocking partition %s: %w", key, err)
	}
	p := &BlockingPartition{key: key, dir: dir, done: make(chan struct{})}
	for i := range subpartitions {
		path := filepath.Join(dir, fmt.Sprintf("sub-%d.arrows", i))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			p.Release(fmt.Errorf("%w: cannot create its files", ErrPartitionReleased))
			return nil, fmt.Errorf("blocking partition %s: %w", key, err)
		}
		w := bufio.NewWriterSize(f, 32<<10)
		if _, err := w.WriteString(blockingMagic); err != nil {
			f.Close()
			p.Release(fmt.Errorf("%w: cannot write its files", ErrPartitionReleased))
			return nil, fmt.Errorf("blocking partition %s: %w", key, err)
		}
		p.paths, p.files, p.bufs = append(p.paths, path), append(p.files, f), append(p.bufs, w)
	}
	return p, nil
}

// Key is the partition's key.
func (p *BlockingPartition) Key() PartitionKey { return p.key }

// Dir is the directory of the partition's files.
func (p *BlockingPartition) Dir() string { return p.dir }

// Bytes is the number of bytes written to the files so far.
func (p *BlockingPartition) Bytes() int64 { return p.bytes.Load() }

// Send appends m to subpartition sub's file (ChannelSink; producer's goroutine only).
func (p *BlockingPartition) Send(sub int, m Message) error {
	if err := p.failed(); err != nil {
		return err
	}
	n, err := writeFrame(p.bufs[sub], m)
	if pl := m.Payload; pl != nil { // written (or lost): the sink owns it, back to the pool
		bufpool.Messages.Put(&pl)
	}
	p.bytes.Add(int64(n))
	if err != nil {
		return fmt.Errorf("write %s: %w", p.paths[sub], err)
	}
	return nil
}

func writeFrame(w io.Writer, m Message) (int, error) {
	if len(m.Payload) > maxFramePayload {
		return 0, fmt.Errorf("payload of %d bytes exceeds the frame limit", len(m.Payload))
	}
	var h [frameHeaderBytes]byte
	h[0] = byte(m.Event)
	binary.LittleEndian.PutUint64(h[1:], uint64(m.Value))
	binary.LittleEndian.PutUint32(h[9:], uint32(m.Records))
	binary.LittleEndian.PutUint32(h[13:], uint32(len(m.Payload)))
	crc := crc32.Update(crc32.Checksum(h[:17], castagnoli), castagnoli, m.Payload)
	binary.LittleEndian.PutUint32(h[17:], crc)
	if _, err := w.Write(h[:]); err != nil {
		return 0, err
	}
	n, err := w.Write(m.Payload)
	return frameHeaderBytes + n, err
}

// Finish flushes and closes the files; from then on consumers can read
// them. On an error the partition is released.
func (p *BlockingPartition) Finish() error {
	var first error
	for i, f := range p.files {
		err := p.bufs[i].Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil && first == nil {
			first = fmt.Errorf("blocking partition %s: finish %s: %w", p.key, p.paths[i], err)
		}
	}
	p.files, p.bufs = nil, nil
	if first != nil {
		p.Release(fmt.Errorf("%w: %w", ErrPartitionReleased, first))
		return first
	}
	p.once.Do(func() { close(p.done) })
	return p.failed()
}

// Release removes the files; readers that are still serving fail with err
// (which should wrap ErrPartitionReleased). Only the first call counts.
func (p *BlockingPartition) Release(err error) {
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return
	}
	p.err = err
	p.mu.Unlock()
	p.once.Do(func() { close(p.done) })
	for _, f := range p.files {
		f.Close()
	}
	os.RemoveAll(p.dir)
}

func (p *BlockingPartition) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// serve sends subpartition sub to one consumer within its credit, once the
// producer finished. It returns after END_OF_PARTITION.
func (p *BlockingPartition) serve(stream ProducerStream, sub int, credit int32) error {
	ctx := stream.Context()
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := p.failed(); err != nil {
		return err
	}
	r, err := OpenBlockingReader(p.paths[sub])
	if err != nil {
		return err
	}
	defer r.Close()
	c := newCreditor(stream, credit)
	for {
		if err := c.take(ctx); err != nil {
			return err
		}
		if err := p.failed(); err != nil {
			return err
		}
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s ends before END_OF_PARTITION", ErrCorruptPartition, r.path)
		}
		if err != nil {
			return err
		}
		if err := sendOwned(stream, &floepb.ProducerMessage{Kind: floepb.EventKind(m.Event), Payload: m.Payload, Value: m.Value, Records: int32(m.Records)}); err != nil {
			return fmt.Errorf("send to consumer: %w", err)
		}
		if m.Event == EndOfInput {
			return nil
		}
	}
}

// creditor counts the credit a consumer grants on its stream (read by a
// goroutine of its own, which ends with the stream).
type creditor struct {
	credits atomic.Int64
	granted chan struct{}
	recvErr chan error
}

func newCreditor(stream ProducerStream, credit int32) *creditor {
	c := &creditor{granted: make(chan struct{}, 1), recvErr: make(chan error, 1)}
	c.credits.Add(int64(credit))
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				c.recvErr <- err
				return
			}
			c.credits.Add(int64(m.GetCredit()))
			signal(c.granted)
		}
	}()
	return c
}

// take waits for one credit and uses it.
func (c *creditor) take(ctx context.Context) error {
	for c.credits.Load() <= 0 {
		select {
		case <-c.granted:
		case err := <-c.recvErr:
			return fmt.Errorf("consumer went away: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.credits.Add(-1)
	return nil
}

// BlockingReader reads one subpartition file back, frame by frame. It is
// for one goroutine; Close releases the file.
type BlockingReader struct {
	path string
	f    *os.File
	r    *bufio.Reader
	left int64 // bytes of the file not yet read
}

// OpenBlockingReader opens a subpartition file and checks its magic.
func OpenBlockingReader(path string) (*BlockingReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open blocking partition file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	r := &BlockingReader{path: path, f: f, r: bufio.NewReaderSize(f, 64<<10), left: st.Size()}
	var magic [len(blockingMagic)]byte
	if _, err := io.ReadFull(r.r, magic[:]); err != nil || string(magic[:]) != blockingMagic {
		f.Close()
		return nil, fmt.Errorf("%w: %s: no %s header", ErrCorruptPartition, path, blockingMagic)
	}
	r.left -= int64(len(magic))
	return r, nil
}

// Next returns the next message; io.EOF after the last whole frame.
func (r *BlockingReader) Next() (Message, error) {
	if r.left == 0 {
		return Message{}, io.EOF
	}
	var h [frameHeaderBytes]byte
	if r.left < frameHeaderBytes {
		return Message{}, fmt.Errorf("%w: %s: truncated frame header (%d bytes left)", ErrCorruptPartition, r.path, r.left)
	}
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return Message{}, fmt.Errorf("%w: %s: read frame header: %w", ErrCorruptPartition, r.path, err)
	}
	r.left -= frameHeaderBytes
	n := int64(binary.LittleEndian.Uint32(h[13:]))
	if n > r.left || n > maxFramePayload {
		return Message{}, fmt.Errorf("%w: %s: frame of %d bytes, %d left in the file", ErrCorruptPartition, r.path, n, r.left)
	}
	payload := *bufpool.Messages.Get(int(n)) // the consumer gives it back (Delivery.Recycle)
	if _, err := io.ReadFull(r.r, payload); err != nil {
		return Message{}, fmt.Errorf("%w: %s: read frame: %w", ErrCorruptPartition, r.path, err)
	}
	r.left -= n
	crc := crc32.Update(crc32.Checksum(h[:17], castagnoli), castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(h[17:]) {
		return Message{}, fmt.Errorf("%w: %s: checksum mismatch", ErrCorruptPartition, r.path)
	}
	m := Message{Event: EventKind(h[0]), Value: int64(binary.LittleEndian.Uint64(h[1:])),
		Records: int(binary.LittleEndian.Uint32(h[9:]))}
	if n > 0 {
		m.Payload = payload
	}
	return m, nil
}

// Close closes the file.
func (r *BlockingReader) Close() error { return r.f.Close() }

// RegisterBlocking makes a blocking partition available to subscribers.
func (r *PartitionRegistry) RegisterBlocking(p *BlockingPartition) {
	r.mu.Lock()
	r.blocking[p.key] = p
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Jobs returns the jobs with a partition, pipelined or blocking, in the
// registry: after a JobManager failover those of finished tasks are still
// here, and the new attempt's producers must not find their files.
func (r *PartitionRegistry) Jobs() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	jobs := map[string]bool{}
	for k := range r.parts {
		jobs[k.job] = true
	}
	for k := range r.blocking {
		jobs[k.job] = true
	}
	return jobs
}

// ReleaseJobFiles releases (removes the files of) and forgets every blocking
// partition of job: its consumers will not read them again.
func (r *PartitionRegistry) ReleaseJobFiles(job string, err error) {
	r.mu.Lock()
	var rel []*BlockingPartition
	for k, p := range r.blocking {
		if k.job == job {
			rel = append(rel, p)
			delete(r.blocking, k)
		}
	}
	r.mu.Unlock()
	for _, p := range rel {
		p.Release(err)
	}
}

// serveBlocking serves subpartition sub of a blocking partition.
func serveBlocking(p *BlockingPartition, stream ProducerStream, sub int, credit int32) error {
	if sub < 0 || sub >= len(p.paths) {
		return status.Errorf(codes.InvalidArgument, "partition %s has no subpartition %d", p.key, sub)
	}
	return p.serve(stream, sub, credit)
}

package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// ErrPartitionReleased is returned to senders and subscribers of a partition
// whose producer failed or was cancelled.
var ErrPartitionReleased = errors.New("result partition released")

// BufferStats counts the bytes of record batches that a TaskManager holds in
// its network queues (produced but not yet sent, and received but not yet
// processed). The TaskManager owns one; its partitions, input gates and task
// loops add to it. It is safe for concurrent use.
type BufferStats struct {
	queued, maxQueued atomic.Int64
}

// Add counts n more bytes held (negative: released).
func (s *BufferStats) Add(n int64) {
	v := s.queued.Add(n)
	for {
		m := s.maxQueued.Load()
		if v <= m || s.maxQueued.CompareAndSwap(m, v) {
			return
		}
	}
}

// Queued is the number of bytes held now.
func (s *BufferStats) Queued() int64 { return s.queued.Load() }

// MaxQueued is the largest number of bytes held at once so far.
func (s *BufferStats) MaxQueued() int64 { return s.maxQueued.Load() }

// PartitionKey names the partition of one producer attempt's output edge.
// It is a value, safe to copy and compare.
type PartitionKey struct {
	job                      string
	vertex, subtask, attempt int32
	edge                     int32
}

// KeyOf is the key of producer t's partition on its output edge edge.
func KeyOf(t *floepb.TaskRef, edge int32) PartitionKey {
	return PartitionKey{t.GetJobId(), t.GetVertex(), t.GetSubtask(), t.GetAttempt(), edge}
}

func (k PartitionKey) String() string {
	return fmt.Sprintf("%s/v%d/s%d/a%d/e%d", k.job, k.vertex, k.subtask, k.attempt, k.edge)
}

// Availability tells a producing task whether its next push could wait: it
// counts the subpartitions at capacity over the partitions that share it
// (one task's) and signals Space when one gets room again. A task checks it
// between records and waits there, handling its mail (checkpoint triggers),
// instead of blocking inside a push in the middle of a record. Safe for
// concurrent use.
type Availability struct {
	full  atomic.Int32
	space chan struct{}
}

// NewAvailability returns an Availability with nothing full.
func NewAvailability() *Availability { return &Availability{space: make(chan struct{}, 1)} }

// Available reports whether every subpartition has room for a message.
func (a *Availability) Available() bool { return a.full.Load() <= 0 }

// Space is signalled when a full subpartition got room or was released.
func (a *Availability) Space() <-chan struct{} { return a.space }

// ResultPartition is the output of one producer subtask on one edge: one
// bounded queue (subpartition) per consumer subtask. The producing task owns
// it and writes to it through Sink from its goroutine; the partition registry
// serves its subpartitions to consumers. Release may be called from any
// goroutine; a partition is safe for concurrent use in that way.
type ResultPartition struct {
	key  PartitionKey
	subs []*subpartition

	mu   sync.Mutex
	over map[int][]Message // overtaken by SendPriority, until TakeOvertaken
}

// NewResultPartition returns a partition of n subpartitions of capacity
// messages each, counting the bytes it holds in stats.
func NewResultPartition(key PartitionKey, n, capacity int, stats *BufferStats) *ResultPartition {
	p := &ResultPartition{key: key, subs: make([]*subpartition, n)}
	for i := range p.subs {
		p.subs[i] = &subpartition{capacity: capacity, stats: stats,
			wake: make(chan struct{}, 1), space: make(chan struct{}, 1), done: make(chan struct{})}
	}
	return p
}

// Key is the partition's key.
func (p *ResultPartition) Key() PartitionKey { return p.key }

// Track makes a count p's full subpartitions. Call it before p is used.
func (p *ResultPartition) Track(a *Availability) {
	for _, s := range p.subs {
		s.avail = a
	}
}

// Release fails the partition: queued messages are dropped, and its producer
// and consumers get err (which should wrap ErrPartitionReleased). Only the
// first call counts.
func (p *ResultPartition) Release(err error) {
	for _, s := range p.subs {
		s.release(err)
	}
}

// Sink is the producing task's ChannelSink into p: Send blocks while the
// subpartition is full and fails once ctx ends or p is released.
func (p *ResultPartition) Sink(ctx context.Context) ChannelSink { return sink{ctx: ctx, p: p} }

// sink adapts a partition to ChannelSink for the producing task.
type sink struct {
	ctx context.Context
	p   *ResultPartition
}

func (s sink) Send(sub int, m Message) error { return s.p.subs[sub].push(s.ctx, m) }

func (s sink) SendPriority(sub int, barrier Message, pending []Message) error {
	return s.p.SendPriority(sub, barrier, pending)
}

// PrioritySink is a ChannelSink that can queue an unaligned checkpoint's
// barrier ahead of the messages it holds (a ResultPartition's).
type PrioritySink interface {
	ChannelSink
	// SendPriority queues pending (in order) and then barrier ahead of
	// every queued message but earlier barriers, without waiting for space.
	SendPriority(sub int, barrier Message, pending []Message) error
}

// SendPriority is Overtake, keeping the overtaken messages for TakeOvertaken.
func (p *ResultPartition) SendPriority(sub int, barrier Message, pending []Message) error {
	over, err := p.Overtake(sub, barrier, pending...)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.over == nil {
		p.over = map[int][]Message{}
	}
	p.over[sub] = append(p.over[sub], over...)
	p.mu.Unlock()
	return nil
}

// TakeOvertaken returns, by subpartition, what SendPriority overtook since
// the last call: the producing task's output channel state.
func (p *ResultPartition) TakeOvertaken() map[int][]Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.over
	p.over = nil
	return o
}

// subpartition is a bounded FIFO of messages for one consumer. The producer
// blocks in push while it is full; the serving goroutine pops as credit allows.
type subpartition struct {
	capacity int
	stats    *BufferStats

	mu     sync.Mutex
	queue  []Message
	err    error
	served bool // a consumer is attached
	// wrote: a live data message was queued (the next is not a stream start).
	wrote bool
	// full: counted in avail (len(queue) >= capacity when last updated).
	full  bool
	avail *Availability

	wake  chan struct{} // something was queued, or released
	space chan struct{} // something was popped, or released
	done  chan struct{} // closed by release
	once  sync.Once
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *subpartition) push(ctx context.Context, m Message) error {
	for {
		s.mu.Lock()
		if s.err != nil {
			s.mu.Unlock()
			return s.err
		}
		if len(s.queue) < s.capacity {
			s.queue = append(s.queue, s.mark(m))
			s.updateFull()
			s.mu.Unlock()
			s.stats.Add(int64(len(m.Payload)))
			signal(s.wake)
			return nil
		}
		s.mu.Unlock()
		select {
		case <-s.space:
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("send to subpartition: %w", ctx.Err())
		}
	}
}

// updateFull counts a change of fullness in s.avail (call with s.mu held).
func (s *subpartition) updateFull() {
	f := len(s.queue) >= s.capacity && s.err == nil
	if f == s.full || s.avail == nil {
		s.full = f
		return
	}
	s.full = f
	if f {
		s.avail.full.Add(1)
		return
	}
	s.avail.full.Add(-1)
	signal(s.avail.space)
}

// mark sets m.Start on the first live data message (call with s.mu held).
func (s *subpartition) mark(m Message) Message {
	if m.Event == 0 && m.Value == 0 {
		m.Start = !s.wrote
		s.wrote = true
	}
	return m
}

// Overtake queues barrier ahead of every message in subpartition sub but
// earlier barriers (an unaligned checkpoint's barrier), after appending
// pending (the writer's partly filled batch), and returns the messages it
// overtook: the subpartition's share of the checkpoint's channel state.
// It never waits for space: a full subpartition holds a few more for a while.
func (p *ResultPartition) Overtake(sub int, barrier Message, pending ...Message) ([]Message, error) {
	s := p.subs[sub]
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	var added int64
	for _, m := range pending {
		s.queue = append(s.queue, s.mark(m))
		added += int64(len(m.Payload))
	}
	i := 0
	for i < len(s.queue) && s.queue[i].Event == Barrier {
		i++
	}
	// The overtaken messages are still sent after the barrier, and a sent
	// payload goes back to the buffer pool: the channel state keeps copies.
	over := append([]Message(nil), s.queue[i:]...)
	for j := range over {
		over[j].Payload = bytes.Clone(over[j].Payload)
	}
	barrier.Priority = true
	s.queue = slices.Insert(s.queue, i, barrier)
	s.updateFull()
	s.mu.Unlock()
	s.stats.Add(added + int64(len(barrier.Payload)))
	signal(s.wake)
	return over, nil
}

// Recover queues msgs, recovered channel state, in subpartition sub before
// anything the new attempt sends: data goes marked RecoveredData or
// RecoveredStart so its consumer decodes it apart from the new stream.
// Call it before the task produces; it never waits for space.
func (p *ResultPartition) Recover(sub int, msgs []Message) error {
	if sub < 0 || sub >= len(p.subs) {
		return fmt.Errorf("partition %s: channel state of subpartition %d, but it has %d (restored at another parallelism?)", p.key, sub, len(p.subs))
	}
	s := p.subs[sub]
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	var added int64
	for _, m := range msgs {
		if m.Event == 0 {
			m.Value = RecoveredData
			if m.Start {
				m.Value = RecoveredStart
			}
		}
		s.queue = append(s.queue, m)
		added += int64(len(m.Payload))
	}
	s.updateFull()
	s.mu.Unlock()
	s.stats.Add(added)
	signal(s.wake)
	return nil
}

func (s *subpartition) pop() (Message, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Message{}, false, s.err
	}
	if len(s.queue) == 0 {
		return Message{}, false, nil
	}
	m := s.queue[0]
	s.queue[0] = Message{}
	s.queue = s.queue[1:]
	s.updateFull()
	s.stats.Add(-int64(len(m.Payload)))
	signal(s.space)
	return m, true, nil
}

// headPriority reports whether the next message is a priority barrier.
func (s *subpartition) headPriority() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0 && s.queue[0].Priority
}

func (s *subpartition) release(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		for _, m := range s.queue {
			s.stats.Add(-int64(len(m.Payload)))
		}
		s.queue = nil
		s.updateFull()
		s.mu.Unlock()
		close(s.done)
	})
}

// serve sends the subpartition to one consumer stream, never more messages
// than the consumer granted credit for. It returns after END_OF_PARTITION.
func (s *subpartition) serve(stream ProducerStream, credit int32) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return errors.New("subpartition already has a consumer")
	}
	s.served = true
	s.mu.Unlock()

	var credits atomic.Int64
	credits.Add(int64(credit))
	granted := make(chan struct{}, 1)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			credits.Add(int64(m.GetCredit()))
			signal(granted)
		}
	}()
	ctx := stream.Context()
	for {
		// A priority barrier goes without credit: it holds no buffer of
		// the consumer's, which takes it ahead of its queue.
		for credits.Load() <= 0 && !s.headPriority() {
			select {
			case <-granted:
			case <-s.wake:
			case err := <-recvErr:
				return fmt.Errorf("consumer went away: %w", err)
			case <-s.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if s.isReleased() {
				return s.err
			}
		}
		m, ok, err := s.pop()
		if err != nil {
			return err
		}
		if !ok {
			select {
			case <-s.wake:
			case err := <-recvErr:
				return fmt.Errorf("consumer went away: %w", err)
			case <-s.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		var flags int64
		if m.Priority {
			flags = FlagPriority
		} else {
			credits.Add(-1)
		}
		if err := sendOwned(stream, &floepb.ProducerMessage{Kind: floepb.EventKind(m.Event), Payload: m.Payload, Value: m.Value, Flags: flags, Records: int32(m.Records)}); err != nil {
			return fmt.Errorf("send to consumer: %w", err)
		}
		if m.Event == EndOfInput {
			return nil
		}
	}
}

// sendOwned sends m, whose payload nothing else refers to (a ChannelSink
// owns what it was sent). Over gRPC the payload then goes back to
// bufpool.Messages once written, and so over the TCP data plane; a local
// stream hands m itself over.
func sendOwned(stream ProducerStream, m *floepb.ProducerMessage) error {
	if s, ok := stream.(interface {
		SendOwned(*floepb.ProducerMessage) error
	}); ok {
		return s.SendOwned(m)
	}
	if s, ok := stream.(interface{ SendMsg(any) error }); ok {
		return s.SendMsg((*rpc.OwnedProducerMessage)(m))
	}
	return stream.Send(m)
}

func (s *subpartition) isReleased() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// PartitionRegistry finds partitions for subscribers; a subscriber may come
// before the producer is deployed, so lookups wait for a while. A
// TaskManager owns one for the partitions of all its tasks. It is safe for
// concurrent use.
type PartitionRegistry struct {
	mu       sync.Mutex
	parts    map[PartitionKey]*ResultPartition
	blocking map[PartitionKey]*BlockingPartition // BATCH mode's (blocking.go)
	changed  chan struct{}                       // closed and replaced on every registration
}

// NewPartitionRegistry returns an empty registry.
func NewPartitionRegistry() *PartitionRegistry {
	return &PartitionRegistry{parts: map[PartitionKey]*ResultPartition{}, blocking: map[PartitionKey]*BlockingPartition{}, changed: make(chan struct{})}
}

// Register makes p available to subscribers.
func (r *PartitionRegistry) Register(p *ResultPartition) {
	r.mu.Lock()
	r.parts[p.key] = p
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// ReleaseJob releases and forgets every partition of job.
func (r *PartitionRegistry) ReleaseJob(job string, err error) {
	r.mu.Lock()
	var rel []*ResultPartition
	for k, p := range r.parts {
		if k.job == job {
			rel = append(rel, p)
			delete(r.parts, k)
		}
	}
	r.mu.Unlock()
	for _, p := range rel {
		p.Release(err)
	}
}

func (r *PartitionRegistry) wait(ctx context.Context, key PartitionKey, timeout time.Duration) (*ResultPartition, *BlockingPartition, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		r.mu.Lock()
		p, ok := r.parts[key]
		b, bok := r.blocking[key]
		ch := r.changed
		r.mu.Unlock()
		if ok || bok {
			return p, b, nil
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, nil, fmt.Errorf("partition %s: not produced on this TaskManager within %s", key, timeout)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// Serve serves one consumer's subscription, remote (gRPC) or local: the
// first message names the subpartition and grants the first credit; the
// partition may be registered up to timeout later. It returns when the
// subpartition ended (nil), was released, or the consumer went away. Errors
// carry gRPC status codes.
func (r *PartitionRegistry) Serve(stream ProducerStream, timeout time.Duration) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	key := KeyOf(first.GetProducer(), first.GetEdge())
	p, b, err := r.wait(stream.Context(), key, timeout)
	if err != nil {
		return status.Error(codes.NotFound, err.Error())
	}
	sub := int(first.GetSubpartition())
	if b != nil {
		return serveBlocking(b, stream, sub, first.GetCredit())
	}
	if sub < 0 || sub >= len(p.subs) {
		return status.Errorf(codes.InvalidArgument, "partition %s has no subpartition %d", key, sub)
	}
	return p.subs[sub].serve(stream, first.GetCredit())
}

// Full reports whether subpartition sub is at capacity: a push would wait
// (back-pressure). Safe for concurrent use.
func (p *ResultPartition) Full(sub int) bool {
	s := p.subs[sub]
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) >= s.capacity
}

// Queued is the number of messages queued in all subpartitions, and the
// fullest subpartition's share of its capacity (0 to 1). Safe for
// concurrent use.
func (p *ResultPartition) Queued() (messages int, maxUsage float64) {
	for _, s := range p.subs {
		s.mu.Lock()
		n := len(s.queue)
		s.mu.Unlock()
		messages += n
		maxUsage = max(maxUsage, float64(n)/float64(max(s.capacity, 1)))
	}
	return messages, maxUsage
}

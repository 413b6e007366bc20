package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"floe/container/network"
	"floe/container/operator"
	"floe/internal/rpc/floepb"
)

// ErrPartitionReleased is returned to senders and subscribers of a partition
// whose producer failed or was cancelled.
var ErrPartitionReleased = errors.New("result partition released")

// BufferStats counts the bytes of record batches that a TaskManager holds in
// its network queues (produced but not yet sent, and received but not yet
// processed). It is safe for concurrent use.
type BufferStats struct {
	queued, maxQueued atomic.Int64
}

func (s *BufferStats) add(n int64) {
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

// partitionKey names the partition of one producer attempt's output edge.
type partitionKey struct {
	job                     string
	vertex, subtask, attemp int32
	edge                    int32
}

func keyOf(t *floepb.TaskRef, edge int32) partitionKey {
	return partitionKey{t.GetJobId(), t.GetVertex(), t.GetSubtask(), t.GetAttempt(), edge}
}

func (k partitionKey) String() string {
	return fmt.Sprintf("%s/v%d/s%d/a%d/e%d", k.job, k.vertex, k.subtask, k.attemp, k.edge)
}

// resultPartition is the output of one producer subtask on one edge: one
// bounded queue per consumer subtask.
type resultPartition struct {
	key  partitionKey
	subs []*subpartition
}

func newResultPartition(key partitionKey, n, capacity int, stats *BufferStats) *resultPartition {
	p := &resultPartition{key: key, subs: make([]*subpartition, n)}
	for i := range p.subs {
		p.subs[i] = &subpartition{capacity: capacity, stats: stats,
			wake: make(chan struct{}, 1), space: make(chan struct{}, 1), done: make(chan struct{})}
	}
	return p
}

func (p *resultPartition) release(err error) {
	for _, s := range p.subs {
		s.release(err)
	}
}

// sink adapts a partition to network.ChannelSink for the producing task.
type sink struct {
	ctx context.Context
	p   *resultPartition
}

func (s sink) Send(sub int, m network.Message) error { return s.p.subs[sub].push(s.ctx, m) }

// subpartition is a bounded FIFO of messages for one consumer. The producer
// blocks in push while it is full; the serving goroutine pops as credit allows.
type subpartition struct {
	capacity int
	stats    *BufferStats

	mu     sync.Mutex
	queue  []network.Message
	err    error
	served bool // a consumer is attached

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

func (s *subpartition) push(ctx context.Context, m network.Message) error {
	for {
		s.mu.Lock()
		if s.err != nil {
			s.mu.Unlock()
			return s.err
		}
		if len(s.queue) < s.capacity {
			s.queue = append(s.queue, m)
			s.mu.Unlock()
			s.stats.add(int64(len(m.Payload)))
			signal(s.wake)
			return nil
		}
		s.mu.Unlock()
		select {
		case <-s.space:
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("send to subpartition: %w", operator.ErrCanceled)
		}
	}
}

func (s *subpartition) pop() (network.Message, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return network.Message{}, false, s.err
	}
	if len(s.queue) == 0 {
		return network.Message{}, false, nil
	}
	m := s.queue[0]
	s.queue[0] = network.Message{}
	s.queue = s.queue[1:]
	s.stats.add(-int64(len(m.Payload)))
	signal(s.space)
	return m, true, nil
}

func (s *subpartition) release(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		for _, m := range s.queue {
			s.stats.add(-int64(len(m.Payload)))
		}
		s.queue = nil
		s.mu.Unlock()
		close(s.done)
	})
}

// serve sends the subpartition to one consumer stream, never more messages
// than the consumer granted credit for. It returns after END_OF_PARTITION.
func (s *subpartition) serve(stream producerStream, credit int32) error {
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
		for credits.Load() <= 0 {
			select {
			case <-granted:
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
		credits.Add(-1)
		if err := stream.Send(&floepb.ProducerMessage{Kind: floepb.EventKind(m.Event), Payload: m.Payload, Value: m.Value, Records: int32(m.Records)}); err != nil {
			return fmt.Errorf("send to consumer: %w", err)
		}
		if m.Event == network.EndOfInput {
			return nil
		}
	}
}

func (s *subpartition) isReleased() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// partitionRegistry finds partitions for subscribers; a subscriber may come
// before the producer is deployed, so lookups wait for a while.
type partitionRegistry struct {
	mu      sync.Mutex
	parts   map[partitionKey]*resultPartition
	changed chan struct{} // closed and replaced on every registration
}

func newPartitionRegistry() *partitionRegistry {
	return &partitionRegistry{parts: map[partitionKey]*resultPartition{}, changed: make(chan struct{})}
}

func (r *partitionRegistry) register(p *resultPartition) {
	r.mu.Lock()
	r.parts[p.key] = p
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *partitionRegistry) unregister(key partitionKey) {
	r.mu.Lock()
	delete(r.parts, key)
	r.mu.Unlock()
}

// releaseJob releases and forgets every partition of job.
func (r *partitionRegistry) releaseJob(job string, err error) {
	r.mu.Lock()
	var rel []*resultPartition
	for k, p := range r.parts {
		if k.job == job {
			rel = append(rel, p)
			delete(r.parts, k)
		}
	}
	r.mu.Unlock()
	for _, p := range rel {
		p.release(err)
	}
}

func (r *partitionRegistry) wait(ctx context.Context, key partitionKey, timeout time.Duration) (*resultPartition, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		r.mu.Lock()
		p, ok := r.parts[key]
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return p, nil
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, fmt.Errorf("partition %s: not produced on this TaskManager within %s", key, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

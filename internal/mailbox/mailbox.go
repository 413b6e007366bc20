// Package mailbox queues work posted from any goroutine for one owner
// goroutine to run, in the order it was posted. A TaskManager task's
// checkpoint triggers and notices, a source's mail between two records, the
// YARN container driver's requests and the JobManager's ordered RPCs to one
// TaskManager all go through it.
//
// The owner either polls (Pending, one atomic load when the box is empty),
// waits on Signal, or is started on demand: Post reports when the box was
// idle, so a caller can start an owner that takes until the box is empty.
package mailbox

import (
	"sync"
	"sync/atomic"
)

// Mailbox holds items of type T (usually a func) for one owner. The zero
// value is an empty, idle mailbox. Safe for concurrent use; Take is meant to
// be called by one owner at a time.
type Mailbox[T any] struct {
	pending atomic.Bool // items may wait; read without the lock

	mu     sync.Mutex
	items  []T
	busy   bool          // posted to since a Take last found the box empty
	signal chan struct{} // created by Signal; one token while items wait
}

// Post queues item. It reports whether the box was idle: nothing was posted
// since a Take last found it empty. An owner started on demand is started by
// the caller that sees true, and runs until Take returns nothing.
func (m *Mailbox[T]) Post(item T) (wasIdle bool) {
	m.mu.Lock()
	m.items = append(m.items, item)
	wasIdle = !m.busy
	m.busy = true
	m.pending.Store(true)
	if m.signal != nil {
		select {
		case m.signal <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	return wasIdle
}

// Pending reports whether items may wait. It costs one atomic load, so a
// loop can call it between two records.
func (m *Mailbox[T]) Pending() bool { return m.pending.Load() }

// Signal returns a channel that holds a token while items wait: an owner
// selects on it and then calls Take. Call it once and keep the channel.
func (m *Mailbox[T]) Signal() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.signal == nil {
		m.signal = make(chan struct{}, 1)
		if len(m.items) > 0 {
			m.signal <- struct{}{}
		}
	}
	return m.signal
}

// Take removes and returns the waiting items in the order they were posted.
// When none wait it returns nil and the box becomes idle.
func (m *Mailbox[T]) Take() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending.Store(false)
	items := m.items
	m.items = nil
	if len(items) == 0 {
		m.busy = false
	}
	return items
}

// Drain calls the funcs waiting in m, in order; those they post wait for
// the next Drain. It is the owner's step for a Mailbox of func().
func Drain(m *Mailbox[func()]) {
	for _, fn := range m.Take() {
		fn()
	}
}

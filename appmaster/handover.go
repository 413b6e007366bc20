package appmaster

import (
	"context"
	"sync"
	"time"
)

// handover tracks whether a client that follows a job (it asked for the
// job through the Dispatcher) has been told the job's end: a per-job
// ApplicationMaster waits for that, boundedly, before it unregisters and
// exits, so the client's summary holds the final counters (a BATCH job's
// stages) rather than those of its poll before the end.
type handover struct {
	mu       sync.Mutex
	followed bool
	told     chan struct{} // closed once a client got the job's terminal info
}

func (h *handover) asked(terminal bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.followed = true
	if h.told == nil {
		h.told = make(chan struct{})
	}
	if terminal {
		select {
		case <-h.told:
		default:
			close(h.told)
		}
	}
}

// WaitReported waits until a client that has asked the Dispatcher for this
// job was told it ended, at most max; it returns at once when no client has
// asked (a detached run). It reports whether a client was told.
func (h *JobHandle) WaitReported(ctx context.Context, max time.Duration) bool {
	ho := &h.entry.handover
	ho.mu.Lock()
	followed, told := ho.followed, ho.told
	ho.mu.Unlock()
	if !followed {
		return false
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-told:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

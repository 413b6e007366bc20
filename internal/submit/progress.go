package submit

import (
	"fmt"
	"os"
	"time"

	"floe/internal/hadoop/hadooppb"
)

// containerWait decides what the client says while a per-job application
// runs without all its TaskManager containers: what it asked for, what
// YARN granted, and what the cluster has free. Quiet while containers come
// quickly (the first line after firstAfter); then, on a terminal, a line
// every interval, elsewhere a line whenever the count granted changes. It
// does no I/O: follow feeds it the application's reports and the nodes'.
type containerWait struct {
	asked      int // TaskManager containers
	memoryMB   int64
	vcores     int32
	tty        bool
	firstAfter time.Duration
	interval   time.Duration

	since   time.Time // when the wait was first seen; zero: not waiting
	printed time.Time
	granted int
	done    bool
	last    string // the last line said
}

func newContainerWait(asked int, memoryMB int64, vcores int32, tty bool) *containerWait {
	return &containerWait{asked: asked, memoryMB: memoryMB, vcores: vcores, tty: tty,
		firstAfter: 3 * time.Second, interval: 5 * time.Second, granted: -1}
}

// due reports whether, with granted TaskManager containers at now, a line
// should be said: the caller then fetches the nodes and calls line.
func (w *containerWait) due(now time.Time, granted int) bool {
	if w.done {
		return false
	}
	if granted >= w.asked {
		w.done = true
		return false
	}
	if w.since.IsZero() {
		w.since = now
	}
	switch {
	case now.Sub(w.since) < w.firstAfter:
		return false
	case w.printed.IsZero():
		return true
	case w.tty:
		return now.Sub(w.printed) >= w.interval
	default:
		return granted != w.granted
	}
}

// line is what the client says, given the RUNNING nodes' reports.
func (w *containerWait) line(now time.Time, granted int, nodes []*hadooppb.NodeReportProto) string {
	w.printed, w.granted = now, granted
	var freeMB, largestMB int64
	var freeVCores int32
	for _, n := range nodes {
		mb := n.GetCapability().GetMemory() - n.GetUsed().GetMemory()
		freeMB += mb
		largestMB = max(largestMB, mb)
		freeVCores += n.GetCapability().GetVirtualCores() - n.GetUsed().GetVirtualCores()
	}
	w.last = fmt.Sprintf("waiting %s for TaskManager containers: %d asked (%d MB, %d vcores each), %d granted; "+
		"the cluster has %d MB and %d vcores free on %d nodes (at most %d MB on one)",
		now.Sub(w.since).Round(time.Second), w.asked, w.memoryMB, w.vcores, granted, freeMB, freeVCores, len(nodes), largestMB)
	return w.last
}

// grantedTaskManagers is how many TaskManager containers the application
// holds: its containers but the ApplicationMaster's.
func grantedTaskManagers(rep *hadooppb.ApplicationReportProto) int {
	return max(int(rep.GetAppResource_Usage().GetNumUsedContainers())-1, 0)
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

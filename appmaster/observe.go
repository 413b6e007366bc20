package appmaster

import (
	"math"
	"net"
	"slices"
	"time"

	"floe/checkpoint"
	"floe/internal/metrics"
	"floe/internal/rpc/floepb"
)

// What the JobManager keeps for people and Prometheus to see: checkpoint
// statistics, the exceptions of a job, the live task metrics the
// TaskManagers report with their heartbeats.

// maxHistory bounds the checkpoint and exception histories per job.
const maxHistory = 20

// CheckpointStats is one checkpoint at /jobs/<id>/checkpoints (Flink's field names).
type CheckpointStats struct {
	ID              int64  `json:"id"`
	Status          string `json:"status"` // IN_PROGRESS, COMPLETED, FAILED
	IsSavepoint     bool   `json:"is_savepoint"`
	TriggerTime     int64  `json:"trigger_timestamp"`
	LatestAck       int64  `json:"latest_ack_timestamp"`
	Duration        int64  `json:"end_to_end_duration"` // ms
	StateSize       int64  `json:"state_size"`          // bytes
	AlignmentMs     int64  `json:"alignment_duration"`  // ms: the longest barrier alignment of a subtask
	NumAcknowledged int    `json:"num_acknowledged_subtasks"`
	NumSubtasks     int    `json:"num_subtasks"`
	FailureMessage  string `json:"failure_message,omitempty"`
	// Subtasks: per-subtask acknowledgements, by vertex id.
	Subtasks map[int][]SubtaskCheckpoint `json:"subtasks,omitempty"`
}

// SubtaskCheckpoint is one subtask's part of a checkpoint.
type SubtaskCheckpoint struct {
	Subtask     int   `json:"index"`
	AckTime     int64 `json:"ack_timestamp"`
	Duration    int64 `json:"end_to_end_duration"`
	StateSize   int64 `json:"state_size"`
	AlignmentMs int64 `json:"alignment_duration"`
}

// cpStats accumulates a job's checkpoint statistics. Owned by the
// JobManager, under its mu.
type cpStats struct {
	history           []*CheckpointStats // newest last
	completed, failed int
}

func (s *cpStats) find(id int64) *CheckpointStats {
	for _, c := range s.history {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (s *cpStats) triggered(a checkpoint.InjectBarrier, subtasks int) {
	s.history = append(s.history, &CheckpointStats{ID: a.ID, Status: "IN_PROGRESS", IsSavepoint: a.Kind == checkpoint.KindSavepoint,
		TriggerTime: a.Timestamp.UnixMilli(), NumSubtasks: subtasks, Subtasks: map[int][]SubtaskCheckpoint{}})
	if len(s.history) > maxHistory {
		s.history = slices.Delete(s.history, 0, len(s.history)-maxHistory)
	}
}

func (s *cpStats) acked(id int64, task checkpoint.TaskID, alignMs int64, state map[string]checkpoint.SubtaskState, now time.Time) {
	c := s.find(id)
	if c == nil {
		return
	}
	var size int64
	for _, st := range state {
		for _, k := range st.Keyed {
			size += k.Size
		}
		for _, h := range st.Incremental {
			size += h.Bytes()
		}
		for _, l := range st.Lists {
			for _, e := range l.Entries {
				size += int64(len(e.Inline)) + e.Length
			}
		}
	}
	c.NumAcknowledged++
	c.StateSize += size
	c.LatestAck = now.UnixMilli()
	d := c.LatestAck - c.TriggerTime
	c.AlignmentMs = max(c.AlignmentMs, alignMs)
	c.Subtasks[task.Vertex] = append(c.Subtasks[task.Vertex], SubtaskCheckpoint{Subtask: task.Subtask, AckTime: c.LatestAck, Duration: d, StateSize: size, AlignmentMs: alignMs})
}

func (s *cpStats) ended(id int64, err error, now time.Time) {
	c := s.find(id)
	if c == nil || c.Status != "IN_PROGRESS" {
		return
	}
	c.Duration = now.UnixMilli() - c.TriggerTime
	if err != nil {
		c.Status, c.FailureMessage = "FAILED", err.Error()
		s.failed++
		return
	}
	c.Status = "COMPLETED"
	s.completed++
}

func (s *cpStats) last() *CheckpointStats {
	for i := len(s.history) - 1; i >= 0; i-- {
		if c := s.history[i]; c.Status == "COMPLETED" {
			return c
		}
	}
	return nil
}

// ExceptionInfo is one failure at /jobs/<id>/exceptions.
type ExceptionInfo struct {
	Name        string `json:"exceptionName"`
	Stacktrace  string `json:"stacktrace"`
	Timestamp   int64  `json:"timestamp"`
	TaskName    string `json:"taskName,omitempty"`
	Location    string `json:"location,omitempty"` // TaskManager
	Subtask     int    `json:"subtaskIndex"`
	TaskManager string `json:"taskManagerId,omitempty"`
}

// recordException adds a failure to the job's history. Call with mu held.
func (e *execution) recordException(x ExceptionInfo) {
	e.exceptions = append(e.exceptions, x)
	if len(e.exceptions) > maxHistory {
		e.exceptions = slices.Delete(e.exceptions, 0, len(e.exceptions)-maxHistory)
	}
}

// heartbeatMetrics keeps the TaskManager's latest task metrics. Call with mu held.
func (jm *JobManager) heartbeatMetrics(ms []*floepb.TaskMetrics) {
	for _, m := range ms {
		e, ok := jm.jobs[m.GetTask().GetJobId()]
		if !ok {
			continue
		}
		if st := e.exec.find(m.GetTask()); st != nil {
			st.live = m
		}
	}
}

// SetRESTAddress tells the JobManager where its REST interface (and so its
// own /metrics) listens, for /metrics/targets.
func (jm *JobManager) SetRESTAddress(addr string) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	jm.restAddr = addr
}

// Targets is the Prometheus HTTP service discovery of this JobManager's
// processes: itself (when SetRESTAddress was called) and every live
// TaskManager with a metrics listener.
func (jm *JobManager) Targets() []metrics.Target {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	out := []metrics.Target{}
	if jm.restAddr != "" {
		out = append(out, metrics.Target{Targets: []string{jm.restAddr}, Labels: map[string]string{"floe_role": "jobmanager",
			"__meta_floe_application_id": jm.opts.Application, "__meta_floe_container_id": jm.opts.Container}})
	}
	for _, id := range jm.tmOrder() {
		tm := jm.tms[id]
		if tm.metricsAddr == "" {
			continue
		}
		out = append(out, metrics.Target{Targets: []string{tm.metricsAddr}, Labels: map[string]string{"floe_role": "taskmanager",
			"__meta_floe_tm_id": tm.resourceID, "__meta_floe_application_id": jm.opts.Application}})
	}
	return out
}

// jobSamples are the job metrics at scrape time.
func (jm *JobManager) jobSamples() []metrics.JobSample {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	now := time.Now()
	out := make([]metrics.JobSample, 0, len(jm.jobs))
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range jm.jobs {
			if !yield(id) {
				return
			}
		}
	}) {
		e := jm.jobs[id]
		s := metrics.JobSample{JobID: id, JobName: e.exec.graph.Name, Restarts: e.exec.restarts}
		if e.exec.status == Running {
			s.UptimeMs = now.Sub(e.exec.started).Milliseconds()
		}
		st := &e.exec.cpStats
		s.CompletedCheckpoints, s.FailedCheckpoints = st.completed, st.failed
		if c := st.last(); c != nil {
			s.LastCheckpointDurationMs, s.LastCheckpointSize, s.LastCheckpointAlignmentMs = c.Duration, c.StateSize, c.AlignmentMs
		}
		out = append(out, s)
	}
	return out
}

// live returns a subtask's latest heartbeat metrics, or its final counts.
func (st *subtaskState) liveMetrics() *floepb.TaskMetrics {
	if terminalTask(st.state) || st.live == nil {
		return &floepb.TaskMetrics{RecordsIn: st.recordsIn, RecordsOut: st.recordsOut,
			InputWatermark: math.MinInt64, OutputWatermark: math.MinInt64}
	}
	return st.live
}

// hostOf returns the host of a host:port address.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// numSubtasks is the number of subtasks of every vertex.
func (e *execution) numSubtasks() int {
	n := 0
	for _, row := range e.subtasks {
		n += len(row)
	}
	return n
}

package appmaster

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"floe/internal/logging"
	"floe/internal/metrics"
	"floe/internal/rpc/floepb"
)

// SecretHeader is the HTTP header that carries the application's secret to
// the REST calls that change a job (cancel, savepoint). Everything else is
// read-only and open, as the tracking URL is.
const SecretHeader = "X-Floe-Secret"

// Back-pressure levels from the share of time a subtask was back-pressured, with Flink's thresholds.
func backPressureLevel(msPerSecond float64) string {
	switch r := msPerSecond / 1000; {
	case r > 0.5:
		return "HIGH"
	case r >= 0.1:
		return "LOW"
	}
	return "OK"
}

func (e *execution) vertexMetrics(v int) VertexMetrics {
	var m VertexMetrics
	in, out := int64(math.MaxInt64), int64(math.MaxInt64)
	for _, st := range e.subtasks[v] {
		l := st.liveMetrics()
		m.RecordsIn += l.GetRecordsIn()
		m.RecordsOut += l.GetRecordsOut()
		m.BytesIn += l.GetBytesIn()
		m.BytesOut += l.GetBytesOut()
		m.RecordsInPerSecond += l.GetRecordsInPerSecond()
		m.RecordsOutPerSecond += l.GetRecordsOutPerSecond()
		m.BusyMsPerSecond = max(m.BusyMsPerSecond, l.GetBusyMsPerSecond())
		m.BackPressuredMsPerSec = max(m.BackPressuredMsPerSec, l.GetBackPressuredMsPerSecond())
		m.IdleMsPerSecond = max(m.IdleMsPerSecond, l.GetIdleMsPerSecond())
		in, out = min(in, l.GetInputWatermark()), min(out, l.GetOutputWatermark())
	}
	m.BackPressure = backPressureLevel(m.BackPressuredMsPerSec)
	if in != math.MinInt64 && in != math.MaxInt64 {
		m.InputWatermark = &in
	}
	if out != math.MinInt64 && out != math.MaxInt64 {
		m.OutputWatermark = &out
	}
	return m
}

// SubtaskDetails is one subtask at /jobs/<id>/vertices/<vid>.
type SubtaskDetails struct {
	Subtask      int    `json:"subtask"`
	Status       string `json:"status"`
	Attempt      int    `json:"attempt"`
	TaskManager  string `json:"taskmanager-id"`
	Host         string `json:"host"`
	BackPressure string `json:"backpressure-level"`
	Metrics      struct {
		RecordsIn           int64   `json:"read-records"`
		RecordsOut          int64   `json:"write-records"`
		BytesIn             int64   `json:"read-bytes"`
		BytesOut            int64   `json:"write-bytes"`
		RecordsInPerSecond  float64 `json:"read-records-per-second"`
		RecordsOutPerSecond float64 `json:"write-records-per-second"`
		Busy                float64 `json:"busyTimeMsPerSecond"`
		Idle                float64 `json:"idleTimeMsPerSecond"`
		BackPressured       float64 `json:"backPressuredTimeMsPerSecond"`
		InputQueueUsage     float64 `json:"inPoolUsage"`
		OutputQueueUsage    float64 `json:"outPoolUsage"`
		InputWatermark      *int64  `json:"currentInputWatermark,omitempty"`
		OutputWatermark     *int64  `json:"currentOutputWatermark,omitempty"`
	} `json:"metrics"`
}

// VertexInfo is /jobs/<id>/vertices/<vid>.
type VertexInfo struct {
	ID          int              `json:"id"`
	Name        string           `json:"name"`
	Parallelism int              `json:"parallelism"`
	Status      string           `json:"status"`
	Now         int64            `json:"now"`
	Metrics     VertexMetrics    `json:"metrics"`
	Subtasks    []SubtaskDetails `json:"subtasks"`
}

func watermarkPtr(v int64) *int64 {
	if v == math.MinInt64 || v == math.MaxInt64 {
		return nil
	}
	return &v
}

func (jm *JobManager) vertexInfo(h *JobHandle, v int) (VertexInfo, bool) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	e := h.entry.exec
	if v < 0 || v >= len(e.graph.Vertices) {
		return VertexInfo{}, false
	}
	vx := e.graph.Vertices[v]
	info := VertexInfo{ID: v, Name: vx.Name, Parallelism: vx.Parallelism, Status: e.vertexStatus(v), Now: time.Now().UnixMilli(), Metrics: e.vertexMetrics(v)}
	for _, st := range e.subtasks[v] {
		l := st.liveMetrics()
		sd := SubtaskDetails{Subtask: st.subtask, Status: st.state.String(), Attempt: st.attempt, TaskManager: st.slot.tm,
			Host: hostOf(st.slot.addr), BackPressure: backPressureLevel(l.GetBackPressuredMsPerSecond())}
		if tm := jm.tms[st.slot.tm]; tm != nil {
			sd.TaskManager = tm.resourceID
		}
		if st.state == 0 {
			sd.Status = "CREATED"
		}
		m := &sd.Metrics
		m.RecordsIn, m.RecordsOut, m.BytesIn, m.BytesOut = l.GetRecordsIn(), l.GetRecordsOut(), l.GetBytesIn(), l.GetBytesOut()
		m.RecordsInPerSecond, m.RecordsOutPerSecond = l.GetRecordsInPerSecond(), l.GetRecordsOutPerSecond()
		m.Busy, m.Idle, m.BackPressured = l.GetBusyMsPerSecond(), l.GetIdleMsPerSecond(), l.GetBackPressuredMsPerSecond()
		m.InputQueueUsage, m.OutputQueueUsage = l.GetInputQueueUsage(), l.GetOutputQueueUsage()
		m.InputWatermark, m.OutputWatermark = watermarkPtr(l.GetInputWatermark()), watermarkPtr(l.GetOutputWatermark())
		info.Subtasks = append(info.Subtasks, sd)
	}
	return info, true
}

// CheckpointingStatistics is /jobs/<id>/checkpoints (Flink's shape, trimmed).
type CheckpointingStatistics struct {
	Counts struct {
		Completed  int `json:"completed"`
		Failed     int `json:"failed"`
		InProgress int `json:"in_progress"`
	} `json:"counts"`
	Latest struct {
		Completed *CheckpointStats `json:"completed"`
		Failed    *CheckpointStats `json:"failed"`
		Restored  *int64           `json:"restored"`
	} `json:"latest"`
	History []CheckpointStats `json:"history"` // newest first
	Config  map[string]string `json:"config"`
}

func (jm *JobManager) checkpointStats(h *JobHandle) CheckpointingStatistics {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	e := h.entry.exec
	st := &e.cpStats
	var out CheckpointingStatistics
	out.Counts.Completed, out.Counts.Failed = st.completed, st.failed
	for i := len(st.history) - 1; i >= 0; i-- {
		c := *st.history[i]
		out.History = append(out.History, c)
		switch c.Status {
		case "IN_PROGRESS":
			out.Counts.InProgress++
		case "FAILED":
			if out.Latest.Failed == nil {
				out.Latest.Failed = &c
			}
		}
	}
	if c := st.last(); c != nil {
		cc := *c
		out.Latest.Completed = &cc
	}
	if e.restoredID > 0 {
		id := e.restoredID
		out.Latest.Restored = &id
	}
	out.Config = map[string]string{}
	for _, k := range e.graph.Config.Keys() {
		if strings.HasPrefix(k, "execution.checkpointing") || strings.HasPrefix(k, "state.") {
			out.Config[k] = e.graph.Config.String(k, "")
		}
	}
	return out
}

// TaskManagerInfo is one TaskManager at /taskmanagers.
type TaskManagerInfo struct {
	ID             string `json:"id"` // its resource id: the YARN container id, or local-<n>
	Address        string `json:"path"`
	MetricsAddress string `json:"metrics-address,omitempty"`
	Slots          int    `json:"slotsNumber"`
	FreeSlots      int    `json:"freeSlots"`
	LastHeartbeat  int64  `json:"timeSinceLastHeartbeat"` // a timestamp, as Flink's
	Registered     int64  `json:"registered"`
	PID            int    `json:"pid"`
	Job            string `json:"job,omitempty"`
	HeapBytes      int64  `json:"heap-bytes"`
	HeapGoalBytes  int64  `json:"heap-goal-bytes"`
	RSSBytes       int64  `json:"rss-bytes"`
	Goroutines     int64  `json:"goroutines"`
	GCCycles       int64  `json:"gc-cycles"`
}

func (jm *JobManager) taskManagers() []TaskManagerInfo {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	out := []TaskManagerInfo{}
	for _, id := range jm.tmOrder() {
		tm := jm.tms[id]
		free := 0
		for _, u := range tm.used {
			if !u {
				free++
			}
		}
		p := tm.process
		out = append(out, TaskManagerInfo{ID: tm.resourceID, Address: tm.addr, MetricsAddress: tm.metricsAddr, Slots: tm.slots, FreeSlots: free,
			LastHeartbeat: tm.lastHeartbeat.UnixMilli(), Registered: millis(tm.registered), PID: tm.pid, Job: tm.job,
			HeapBytes: p.GetHeapBytes(), HeapGoalBytes: p.GetHeapGoalBytes(), RSSBytes: p.GetRssBytes(), Goroutines: p.GetGoroutines(), GCCycles: p.GetGcCycles()})
	}
	return out
}

func (jm *JobManager) tmByResource(id string) *tmInfo {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for _, tm := range jm.tms {
		if tm.resourceID == id || tm.id == id {
			return tm
		}
	}
	return nil
}

// authorized reports whether r carries the application's secret.
func (jm *JobManager) authorized(r *http.Request) bool {
	got := r.Header.Get(SecretHeader)
	return jm.opts.Secret != "" && subtle.ConstantTimeCompare([]byte(got), []byte(jm.opts.Secret)) == 1
}

func errorJSON(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"errors": []string{msg}})
}

// jobFor resolves the {id} of a request, answering the error itself.
func (jm *JobManager) jobFor(w http.ResponseWriter, r *http.Request) (*JobHandle, bool) {
	h, err := jm.Job(r.PathValue("id"))
	switch {
	case errors.Is(err, ErrNoSuchJob):
		errorJSON(w, http.StatusNotFound, err.Error())
		return nil, false
	case err != nil:
		errorJSON(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return h, true
}

// observeRoutes adds the metrics, Flink's read-only paths, the dashboard
// and the two calls that need the secret.
func (jm *JobManager) observeRoutes(mux *http.ServeMux) {
	mux.Handle("GET /metrics", metrics.Handler(jm.registry))
	mux.HandleFunc("GET /metrics/targets", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, jm.Targets()) })
	mux.HandleFunc("GET /jobs/{id}/vertices/{vid}", func(w http.ResponseWriter, r *http.Request) {
		h, ok := jm.jobFor(w, r)
		if !ok {
			return
		}
		v, err := strconv.Atoi(r.PathValue("vid"))
		info, found := jm.vertexInfo(h, v)
		if err != nil || !found {
			errorJSON(w, http.StatusNotFound, "no vertex "+r.PathValue("vid"))
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /jobs/{id}/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		if h, ok := jm.jobFor(w, r); ok {
			writeJSON(w, http.StatusOK, jm.checkpointStats(h))
		}
	})
	mux.HandleFunc("GET /jobs/{id}/exceptions", func(w http.ResponseWriter, r *http.Request) {
		h, ok := jm.jobFor(w, r)
		if !ok {
			return
		}
		jm.mu.Lock()
		xs := append([]ExceptionInfo(nil), h.entry.exec.exceptions...)
		root := h.entry.exec.failure // the first cause of the latest failure
		jm.mu.Unlock()
		out := map[string]any{"exceptionHistory": map[string]any{"entries": reverse(xs)}, "root-exception": nil}
		if root != "" && len(xs) > 0 {
			out["root-exception"], out["timestamp"] = root, xs[len(xs)-1].Timestamp
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /jobs/{id}/config", func(w http.ResponseWriter, r *http.Request) {
		if h, ok := jm.jobFor(w, r); ok {
			writeJSON(w, http.StatusOK, map[string]any{"jid": h.id, "name": h.entry.exec.graph.Name, "execution-config": configMap(h.entry.exec.graph.Config.Keys(), h.entry.exec.graph.Config.String)})
		}
	})
	mux.HandleFunc("GET /taskmanagers", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"taskmanagers": jm.taskManagers()})
	})
	mux.HandleFunc("GET /taskmanagers/{tm}/log", func(w http.ResponseWriter, r *http.Request) {
		tm := jm.tmByResource(r.PathValue("tm"))
		if tm == nil {
			errorJSON(w, http.StatusNotFound, "no TaskManager "+r.PathValue("tm"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		resp, err := tm.client.LogTail(ctx, &floepb.LogTailRequest{MaxBytes: 256 << 10})
		if err != nil {
			errorJSON(w, http.StatusBadGateway, "TaskManager "+tm.resourceID+": "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if resp.GetPath() == "" {
			w.Write([]byte("(TaskManager " + tm.resourceID + " has no log file: it logs to the client's terminal)\n"))
			return
		}
		w.Write(resp.GetData())
	})
	mux.HandleFunc("GET /jobmanager/config", func(w http.ResponseWriter, _ *http.Request) {
		type kv struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		out := []kv{{"floe.version", Version}, {"jobmanager.rpc.address", jm.Address()}, {"rest.address", jm.restAddress()},
			{"heartbeat.interval", jm.opts.HeartbeatInterval.String()}, {"heartbeat.timeout", jm.opts.HeartbeatTimeout.String()},
			{"slot.request.timeout", jm.opts.SlotTimeout.String()}}
		if jm.opts.Application != "" {
			out = append(out, kv{"yarn.application.id", jm.opts.Application}, kv{"yarn.container.id", jm.opts.Container})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /jobmanager/log", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if jm.opts.LogFile == "" {
			w.Write([]byte("(the JobManager has no log file: it logs to the client's terminal)\n"))
			return
		}
		data, _, err := logging.Tail(jm.opts.LogFile, 256<<10)
		if err != nil && !os.IsNotExist(err) {
			w.Write([]byte(err.Error()))
			return
		}
		w.Write(data)
	})
	cancelJob := func(w http.ResponseWriter, r *http.Request) {
		if !jm.authorized(r) {
			errorJSON(w, http.StatusForbidden, "cancelling a job needs the application's secret in the "+SecretHeader+" header")
			return
		}
		if h, ok := jm.jobFor(w, r); ok {
			h.Cancel()
			writeJSON(w, http.StatusAccepted, map[string]any{"jid": h.id, "status": "CANCELLING"})
		}
	}
	mux.HandleFunc("POST /jobs/{id}/cancel", cancelJob)
	mux.HandleFunc("PATCH /jobs/{id}", func(w http.ResponseWriter, r *http.Request) { // Flink: PATCH /jobs/<id>?mode=cancel
		if m := r.URL.Query().Get("mode"); m != "" && m != "cancel" {
			errorJSON(w, http.StatusBadRequest, "mode must be cancel")
			return
		}
		cancelJob(w, r)
	})
	mux.HandleFunc("POST /jobs/{id}/savepoints", func(w http.ResponseWriter, r *http.Request) {
		if !jm.authorized(r) {
			errorJSON(w, http.StatusForbidden, "a savepoint needs the application's secret in the "+SecretHeader+" header")
			return
		}
		h, ok := jm.jobFor(w, r)
		if !ok {
			return
		}
		var req struct {
			Dir    string `json:"target-directory"`
			Cancel bool   `json:"cancel-job"`
		}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				errorJSON(w, http.StatusBadRequest, "savepoint request: "+err.Error())
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
		defer cancel()
		path, err := h.TriggerSavepoint(ctx, req.Dir, req.Cancel)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"status": map[string]string{"id": "COMPLETED"}, "operation": map[string]string{"failure-cause": err.Error()}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": map[string]string{"id": "COMPLETED"}, "operation": map[string]string{"location": path}})
	})
}

func (jm *JobManager) restAddress() string {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	return jm.restAddr
}

func configMap(keys []string, get func(string, string) string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = get(k, "")
	}
	return m
}

func reverse[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

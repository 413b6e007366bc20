package appmaster

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"
)

// The REST interface answers like Flink's for the paths a YARN user opens
// from the ResourceManager's tracking URL: /overview, /jobs, /jobs/<id>.

// Overview is the cluster summary at /overview.
type Overview struct {
	TaskManagers   int    `json:"taskmanagers"`
	SlotsTotal     int    `json:"slots-total"`
	SlotsAvailable int    `json:"slots-available"`
	JobsRunning    int    `json:"jobs-running"`
	JobsFinished   int    `json:"jobs-finished"`
	JobsCancelled  int    `json:"jobs-cancelled"`
	JobsFailed     int    `json:"jobs-failed"`
	FloeVersion    string `json:"floe-version"`
}

// JobDetails is one job at /jobs/<id>.
type JobDetails struct {
	ID        string          `json:"jid"`
	Name      string          `json:"name"`
	State     JobStatus       `json:"state"`
	StartTime int64           `json:"start-time"`
	EndTime   int64           `json:"end-time"`
	Duration  int64           `json:"duration"`
	Failure   string          `json:"failure-cause,omitempty"`
	Vertices  []VertexDetails `json:"vertices"`
	Restarts  int             `json:"num-restarts"`
	Plan      Plan            `json:"plan"`
}

// Plan is the job graph as Flink's REST API draws it: nodes with their inputs.
type Plan struct {
	Nodes []PlanNode `json:"nodes"`
}

// PlanNode is one vertex of the plan.
type PlanNode struct {
	ID          int         `json:"id"`
	Description string      `json:"description"`
	Parallelism int         `json:"parallelism"`
	Operators   []string    `json:"operators"`
	Inputs      []PlanInput `json:"inputs,omitempty"`
}

// PlanInput is one edge into a node.
type PlanInput struct {
	ID           int    `json:"id"`
	ShipStrategy string `json:"ship_strategy"`
}

// VertexDetails is one vertex of a job.
type VertexDetails struct {
	ID          int           `json:"id"`
	Name        string        `json:"name"`
	Parallelism int           `json:"parallelism"`
	Status      string        `json:"status"`
	Metrics     VertexMetrics `json:"metrics"`
}

// VertexMetrics sums (counts, rates) or summarises (the busiest, the least
// watermark) the subtasks of a vertex, as reported with their heartbeats.
type VertexMetrics struct {
	RecordsIn             int64   `json:"read-records"`
	RecordsOut            int64   `json:"write-records"`
	BytesIn               int64   `json:"read-bytes"`
	BytesOut              int64   `json:"write-bytes"`
	RecordsInPerSecond    float64 `json:"read-records-per-second"`
	RecordsOutPerSecond   float64 `json:"write-records-per-second"`
	BusyMsPerSecond       float64 `json:"accumulated-busy-time"` // the busiest subtask's, 0..1000
	BackPressuredMsPerSec float64 `json:"accumulated-backpressured-time"`
	IdleMsPerSecond       float64 `json:"accumulated-idle-time"`
	// BackPressure is OK, LOW or HIGH, from the most back-pressured subtask (Flink's thresholds).
	BackPressure string `json:"backpressure-level"`
	// Watermarks: the least of the subtasks', ms; absent before every subtask has one.
	InputWatermark  *int64 `json:"current-input-watermark,omitempty"`
	OutputWatermark *int64 `json:"current-output-watermark,omitempty"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

// Jobs returns the details of every job, newest first.
func (jm *JobManager) Jobs() []JobDetails {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	var out []JobDetails
	for _, e := range jm.jobs {
		out = append(out, e.reported())
	}
	slices.SortFunc(out, func(a, b JobDetails) int { return int(b.StartTime - a.StartTime) })
	return out
}

func (e *execution) details() JobDetails {
	d := JobDetails{ID: e.id, Name: e.graph.Name, State: e.status, StartTime: millis(e.started), EndTime: millis(e.ended), Failure: e.failure, Restarts: e.restarts}
	end := e.ended
	if end.IsZero() {
		end = time.Now()
	}
	d.Duration = end.Sub(e.started).Milliseconds()
	for _, v := range e.graph.Vertices {
		vd := VertexDetails{ID: v.ID, Name: v.Name, Parallelism: v.Parallelism, Status: e.vertexStatus(v.ID), Metrics: e.vertexMetrics(v.ID)}
		d.Vertices = append(d.Vertices, vd)
		n := PlanNode{ID: v.ID, Description: v.Name, Parallelism: v.Parallelism}
		for _, op := range v.Operators {
			n.Operators = append(n.Operators, op.Name)
		}
		for _, in := range v.Inputs {
			n.Inputs = append(n.Inputs, PlanInput{ID: in.Source, ShipStrategy: string(in.Partitioning)})
		}
		d.Plan.Nodes = append(d.Plan.Nodes, n)
	}
	return d
}

// vertexStatus summarises the subtasks' states the way Flink names them.
func (e *execution) vertexStatus(v int) string {
	counts := map[string]int{}
	for _, st := range e.subtasks[v] {
		counts[st.state.String()]++
	}
	n := len(e.subtasks[v])
	for _, s := range []string{"FAILED", "CANCELED", "FINISHED", "RUNNING"} {
		if counts[s] == n {
			return s
		}
	}
	switch {
	case counts["FAILED"] > 0:
		return "FAILED"
	case counts["RUNNING"] > 0:
		return "RUNNING"
	case counts["DEPLOYING"] > 0:
		return "DEPLOYING"
	}
	return "CREATED"
}

// Overview returns the cluster summary.
func (jm *JobManager) Overview() Overview {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	o := Overview{TaskManagers: len(jm.tms), FloeVersion: Version}
	for _, tm := range jm.tms {
		o.SlotsTotal += tm.slots
		for _, used := range tm.used {
			if !used {
				o.SlotsAvailable++
			}
		}
	}
	for _, e := range jm.jobs {
		switch e.reported().State {
		case Finished:
			o.JobsFinished++
		case Canceled:
			o.JobsCancelled++
		case Failed:
			o.JobsFailed++
		default:
			o.JobsRunning++
		}
	}
	return o
}

// Version is the floe build this binary is: the JobManager reports it at
// /overview and `floe version` prints it. The linker sets it (the Makefile's
// -ldflags "-X floe/appmaster.Version=..."); a plain go build says "dev".
var Version = "dev"

// Handler serves the REST interface.
func (jm *JobManager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /overview", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, jm.Overview()) })
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, _ *http.Request) {
		type entry struct {
			ID     string    `json:"id"`
			Status JobStatus `json:"status"`
		}
		jobs := []entry{}
		for _, j := range jm.Jobs() {
			jobs = append(jobs, entry{j.ID, j.State})
		}
		writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
	})
	mux.HandleFunc("GET /jobs/overview", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"jobs": jm.Jobs()})
	})
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		h, err := jm.Job(r.PathValue("id"))
		switch {
		case errors.Is(err, ErrNoSuchJob):
			writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{err.Error()}})
		case err != nil: // an ambiguous or too short prefix
			writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []string{err.Error()}})
		default:
			writeJSON(w, http.StatusOK, h.Status())
		}
	})
	jm.observeRoutes(mux)
	dashboardRoutes(mux)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{"not found: " + r.URL.Path}})
			return
		}
		if wantsHTML(r) {
			serveDashboard(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"overview": jm.Overview(), "jobs": jm.Jobs()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

package metrics

import (
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Process identity labels, with Flink's names where Flink has one.
const (
	LabelTaskManager = "tm_id"
	LabelApplication = "application_id"
	LabelContainer   = "container_id"
)

// NewRegistry returns a registry with the Go runtime and process collectors
// (heap, GC pauses, goroutines, resident memory). Every metric registered
// through it carries the non-empty labels of process (the TaskManager id,
// YARN application and container ids).
func NewRegistry(process map[string]string) (*prometheus.Registry, prometheus.Registerer) {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{}
	for k, v := range process {
		if v != "" {
			labels[k] = v
		}
	}
	r := prometheus.WrapRegistererWith(labels, reg)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, r
}

// Handler serves reg in Prometheus' text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// TaskSample is one subtask's metrics as the TaskManager sees them.
type TaskSample struct {
	JobID, JobName string
	Vertex         int
	TaskName       string
	Subtask        int
	Attempt        int

	RecordsIn, RecordsOut, BytesIn, BytesOut int64
	RecordsInRate, RecordsOutRate            float64 // per second
	BytesInRate, BytesOutRate                float64 // per second
	BusyMs, IdleMs, BackPressuredMs          float64 // ms per second, as Flink
	InputQueueLength, OutputQueueLength      int
	InPoolUsage, OutPoolUsage                float64 // 0..1
	InputWatermark, OutputWatermark          int64   // ms; math.MinInt64 when none
	SpilledRecords, SpilledBytes             int64   // written to spill files by batch operators
}

// TaskSource returns the samples of the tasks running now.
type TaskSource func() []TaskSample

// Task metric names (Flink: the task scope's metrics, named in each help).
const (
	taskPrefix             = "floe_taskmanager_job_task_"
	NameNumRecordsIn       = taskPrefix + "num_records_in_total"
	NameNumRecordsOut      = taskPrefix + "num_records_out_total"
	NameBackPressuredRatio = taskPrefix + "back_pressured_time_seconds_per_second"
)

var taskLabels = []string{"job_id", "job_name", "task_id", "task_name", "subtask_index", "task_attempt_num"}

type taskDesc struct {
	d     *prometheus.Desc
	kind  prometheus.ValueType
	value func(s *TaskSample) float64
}

func newTaskDesc(name, help string, kind prometheus.ValueType, value func(s *TaskSample) float64) taskDesc {
	return taskDesc{prometheus.NewDesc(taskPrefix+name, help, taskLabels, nil), kind, value}
}

var taskDescs = []taskDesc{
	newTaskDesc("num_records_in_total", "Records this task received (Flink: numRecordsIn).", prometheus.CounterValue, func(s *TaskSample) float64 { return float64(s.RecordsIn) }),
	newTaskDesc("num_records_out_total", "Records this task sent (Flink: numRecordsOut).", prometheus.CounterValue, func(s *TaskSample) float64 { return float64(s.RecordsOut) }),
	newTaskDesc("num_bytes_in_total", "Bytes of record batches this task received (Flink: numBytesIn).", prometheus.CounterValue, func(s *TaskSample) float64 { return float64(s.BytesIn) }),
	newTaskDesc("num_bytes_out_total", "Bytes of record batches this task sent (Flink: numBytesOut).", prometheus.CounterValue, func(s *TaskSample) float64 { return float64(s.BytesOut) }),
	newTaskDesc("num_records_in_per_second", "Records received per second over the last seconds (Flink: numRecordsInPerSecond).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.RecordsInRate }),
	newTaskDesc("num_records_out_per_second", "Records sent per second over the last seconds (Flink: numRecordsOutPerSecond).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.RecordsOutRate }),
	newTaskDesc("num_bytes_in_per_second", "Bytes received per second over the last seconds (Flink: numBytesInPerSecond).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.BytesInRate }),
	newTaskDesc("num_bytes_out_per_second", "Bytes sent per second over the last seconds (Flink: numBytesOutPerSecond).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.BytesOutRate }),
	newTaskDesc("busy_time_seconds_per_second", "Share of time the task was neither idle nor back-pressured, 0..1 (Flink: busyTimeMsPerSecond / 1000).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.BusyMs / 1000 }),
	newTaskDesc("idle_time_seconds_per_second", "Share of time the task waited for input, 0..1 (Flink: idleTimeMsPerSecond / 1000).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.IdleMs / 1000 }),
	newTaskDesc("back_pressured_time_seconds_per_second", "Share of time the task waited for room in a full output queue, 0..1 (Flink: backPressuredTimeMsPerSecond / 1000).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.BackPressuredMs / 1000 }),
	newTaskDesc("buffers_input_queue_length", "Batches received and not yet processed (Flink: buffers.inputQueueLength).", prometheus.GaugeValue, func(s *TaskSample) float64 { return float64(s.InputQueueLength) }),
	newTaskDesc("buffers_output_queue_length", "Batches produced and not yet sent (Flink: buffers.outputQueueLength).", prometheus.GaugeValue, func(s *TaskSample) float64 { return float64(s.OutputQueueLength) }),
	newTaskDesc("buffers_in_pool_usage", "Use of the input queue, 0..1 (Flink: buffers.inPoolUsage).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.InPoolUsage }),
	newTaskDesc("buffers_out_pool_usage", "Use of the fullest output subpartition queue, 0..1 (Flink: buffers.outPoolUsage).", prometheus.GaugeValue, func(s *TaskSample) float64 { return s.OutPoolUsage }),
	newTaskDesc("spilled_records_total", "Records the task's batch operators (sort, hash aggregation, hash join) wrote to local spill files past their memory budget (floe only).", prometheus.CounterValue, func(s *TaskSample) float64 { return float64(s.SpilledRecords) }),
	newTaskDesc("spilled_bytes_total", "Bytes the task's batch operators wrote to local spill files, as written.", prometheus.CounterValue, func(s *TaskSample) float64 { return float64(s.SpilledBytes) }),
	newTaskDesc("current_input_watermark_seconds", "The task's event time, from its inputs; absent before the first watermark (Flink: currentInputWatermark / 1000).", prometheus.GaugeValue, func(s *TaskSample) float64 { return watermarkSeconds(s.InputWatermark) }),
	newTaskDesc("current_output_watermark_seconds", "The last watermark the task sent; absent before the first (Flink: currentOutputWatermark / 1000).", prometheus.GaugeValue, func(s *TaskSample) float64 { return watermarkSeconds(s.OutputWatermark) }),
}

func watermarkSeconds(ms int64) float64 {
	if ms == math.MinInt64 {
		return math.NaN()
	}
	return float64(ms) / 1000
}

type taskCollector struct{ src TaskSource }

// NewTaskCollector collects the task metrics of src at scrape time.
func NewTaskCollector(src TaskSource) prometheus.Collector { return taskCollector{src} }

func (c taskCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range taskDescs {
		ch <- d.d
	}
}

func (c taskCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src() {
		lv := []string{s.JobID, s.JobName, strconv.Itoa(s.Vertex), s.TaskName, strconv.Itoa(s.Subtask), strconv.Itoa(s.Attempt)}
		for _, d := range taskDescs {
			v := d.value(&s)
			if math.IsNaN(v) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(d.d, d.kind, v, lv...)
		}
	}
}

// JobSample is one job's metrics as the JobManager sees them.
type JobSample struct {
	JobID, JobName string
	UptimeMs       int64 // 0 unless running
	Restarts       int
	// The latest completed checkpoint; zero values before the first.
	LastCheckpointDurationMs, LastCheckpointSize, LastCheckpointAlignmentMs int64
	CompletedCheckpoints, FailedCheckpoints                                 int
}

// JobSource returns the samples of the JobManager's jobs.
type JobSource func() []JobSample

var jobLabels = []string{"job_id", "job_name"}

type jobDesc struct {
	d     *prometheus.Desc
	value func(s *JobSample) float64
}

func newJobDesc(name, help string, value func(s *JobSample) float64) jobDesc {
	return jobDesc{prometheus.NewDesc("floe_jobmanager_job_"+name, help, jobLabels, nil), value}
}

var jobDescs = []jobDesc{
	newJobDesc("uptime_seconds", "How long the job has been running, 0 when it is not (Flink: uptime / 1000).", func(s *JobSample) float64 { return float64(s.UptimeMs) / 1000 }),
	newJobDesc("num_restarts", "Restarts of the job since it was submitted (Flink: numRestarts).", func(s *JobSample) float64 { return float64(s.Restarts) }),
	newJobDesc("last_checkpoint_duration_seconds", "Duration of the latest completed checkpoint (Flink: lastCheckpointDuration / 1000).", func(s *JobSample) float64 { return float64(s.LastCheckpointDurationMs) / 1000 }),
	newJobDesc("last_checkpoint_size_bytes", "State size of the latest completed checkpoint (Flink: lastCheckpointSize).", func(s *JobSample) float64 { return float64(s.LastCheckpointSize) }),
	newJobDesc("last_checkpoint_alignment_time_seconds", "Longest barrier alignment of a subtask in the latest completed checkpoint (Flink: lastCheckpointAlignmentTime / 1000).", func(s *JobSample) float64 { return float64(s.LastCheckpointAlignmentMs) / 1000 }),
	newJobDesc("number_of_completed_checkpoints", "Checkpoints completed (Flink: numberOfCompletedCheckpoints).", func(s *JobSample) float64 { return float64(s.CompletedCheckpoints) }),
	newJobDesc("number_of_failed_checkpoints", "Checkpoints that failed or were aborted (Flink: numberOfFailedCheckpoints).", func(s *JobSample) float64 { return float64(s.FailedCheckpoints) }),
}

type jobCollector struct{ src JobSource }

// NewJobCollector collects the job metrics of src at scrape time.
func NewJobCollector(src JobSource) prometheus.Collector { return jobCollector{src} }

func (c jobCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range jobDescs {
		ch <- d.d
	}
}

func (c jobCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src() {
		for _, d := range jobDescs {
			ch <- prometheus.MustNewConstMetric(d.d, prometheus.GaugeValue, d.value(&s), s.JobID, s.JobName)
		}
	}
}

// Target is one entry of Prometheus' HTTP service discovery (http_sd_configs):
// the addresses to scrape and the labels they get.
type Target struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

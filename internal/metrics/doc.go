// Package metrics holds floe's Prometheus registry and metric definitions,
// shared by the JobManager (appmaster) and the TaskManagers (container).
//
// Names follow Flink's system metrics and scopes so that dashboards written
// for Flink translate mechanically: Flink's flink_taskmanager_job_task_numRecordsIn
// is floe_taskmanager_job_task_num_records_in_total here. The translation is
// the one Prometheus' naming rules (promtool check metrics) ask for: the
// prefix floe_ for flink_, camelCase as snake_case, counters end in _total,
// and times are in seconds (busyTimeMsPerSecond, 0..1000, becomes
// busy_time_seconds_per_second, 0..1). Each metric's help names the Flink metric.
//
// Nothing here is updated per record. Task metrics are read at scrape time
// from the counters the task already keeps (TaskSample, filled by a
// TaskSource the TaskManager provides), job metrics from the JobManager's
// state (JobSample). A Meter turns cumulative counters into per-second rates
// from samples the owner takes on its own clock (the heartbeat).
package metrics

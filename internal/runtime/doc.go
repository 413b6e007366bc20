// Package runtime holds the contracts between the DataStream/DataSet APIs,
// which build operator chains from user functions, and the TaskManager, which
// runs them: events that travel in-band with records, the Output interface
// operators push into, the network RecordWriter that turns typed records into
// Arrow batches per channel, and the Task a vertex builds for one subtask.
//
// Threading: everything a Task owns (its operators, its RecordWriters, its
// decoders) is driven by one goroutine, the task's loop in the TaskManager.
// Nothing here is safe for concurrent use unless it says so.
//
// Failure: operators do not return errors per record. A user function that
// panics, or a writer whose task is being cancelled, unwinds with a panic that
// the task loop recovers (see UserPanic and Abort); this keeps the per-record
// path free of error checks.
package runtime

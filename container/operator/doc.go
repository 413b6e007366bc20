// Package operator is the contract between the APIs that build operator
// chains from user functions (datastream, dataset) and the TaskManager that
// runs them: the Task a vertex builds for one subtask, the TaskInfo it is
// built with, the SourceContext a source polls between records, the state a
// chain puts into a checkpoint, and how user panics unwind a task.
//
// Threading: everything a Task owns (its operators, its record writers, its
// decoders) is driven by one goroutine, the task's loop in the TaskManager.
// Nothing here is safe for concurrent use unless it says so.
//
// Failure: operators do not return errors per record. A user function that
// panics, or a writer whose task is being cancelled, unwinds with a panic that
// the task loop recovers (see UserPanic and network.Abort); this keeps the
// per-record path free of error checks.
package operator

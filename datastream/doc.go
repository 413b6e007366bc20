// Package datastream is floe's streaming API: a job builds a graph of typed
// streams (Stream[T]) from sources through transformations to sinks, and
// calls Environment.Execute.
//
// # The rules a job's program must follow
//
// The same program runs in several processes: the client, the JobManager and
// every TaskManager. Each builds the graph again by running main up to
// Execute, and each TaskManager proves at registration that it built exactly
// the JobManager's graph (a fingerprint of operators, names, uids,
// parallelism and edges; a mismatch fails with the first differing line).
// Therefore, before Execute:
//
//   - build the same graph on every run with the same arguments: no
//     randomness, clock reads or environment-dependent branches that change
//     operators, names or parallelism;
//   - functions passed to operators may capture values (they travel as code,
//     not data), but those values must be the same in every process: compute
//     them from the arguments or from deterministic files;
//   - do not do work with side effects (writing output, calling services)
//     before Execute: it would happen once per process.
//
// In a TaskManager process Execute never returns: it runs the TaskManager and
// exits the process.
//
// # Types
//
// Records that cross the network are encoded as Apache Arrow batches by a
// codec derived once per type (see floe/internal/codec): structs of
// booleans, numbers, strings, []byte, time.Time, time.Duration, nested
// structs and slices of those. An unsupported type fails Execute before
// anything runs. Keys (KeyBy) are strings, numbers, booleans or structs and
// arrays of them; they are hashed into key groups (max parallelism, default
// 128), and key groups into subtasks, so keyed state can be rescaled.
//
// # Time
//
// AssignTimestampsAndWatermarks gives a stream event time and watermarks
// (bounded out-of-orderness or monotonous, with idleness); watermarks travel
// in-band and an operator's is the least of its inputs'. KeyedProcess and
// CoProcess functions register event-time and processing-time timers, kept
// in keyed state. KeyedStream.Window and WindowAll cut streams into
// tumbling, sliding or session windows in either time, with Reduce,
// WindowAggregate or WindowProcess, allowed lateness and a side output for
// late records (OutputTag, SideOutput). IntervalJoin, WindowJoin and
// WindowCoGroup join two keyed streams. Records carry no timestamp of their
// own: operators that need one take the timestamp function again.
//
// # Chaining
//
// An operator whose only input is a forward edge from an operator of equal
// parallelism is chained to it: both run in one task and records pass by a
// direct call, without encoding. User functions take records by value; for
// records of hundreds of bytes, AssignTimestampsAndWatermarksRef and
// FlatMapRef read them through a pointer instead (and FlatMapRef emits by
// pointer), so that a chain passes a large record from a GenerateInto source
// on without copying it into every call.
package datastream

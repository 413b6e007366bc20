// Package dataset is floe's batch API: typed, bounded data sets (DataSet[T])
// transformed by Map, FlatMap, Filter, GroupBy with Reduce and Aggregate,
// Distinct, Join (inner and outer; hash, broadcast or sort-merge), CoGroup,
// Cross, SortPartition, Sort and RangeSort, First and TopN, Union, and
// written as CSV, JSON lines or Parquet.
//
// There is one runtime: a dataset job is a datastream job in BATCH runtime
// mode (as Flink 2 runs batch as DataStream), built on the same job graph
// and run by the same TaskManagers. Every operator of this package is a
// datastream operator that learns when its input ends (datastream.Transform
// and Transform2): aggregations, sorts and joins keep their input in memory
// and emit at the end. A job may mix both APIs (FromStream, DataSet.Stream),
// and follows datastream's rules for a job's program (see its package doc:
// build the same graph in every process; Execute does not return in a
// TaskManager).
//
// # Parallelism and order
//
// Element-wise operators (Map, FlatMap, Filter) and sinks run at the
// parallelism of their input, chained to it. Operators that shuffle
// (GroupBy, Join, CoGroup, Distinct) run at the environment's parallelism.
// Sort, TopN, First and AggregateAll end in one subtask, so what follows them
// keeps their order and a file sink writes one file. RangeSort sorts at the
// environment's parallelism by sampled ranges: subtask i holds range i, so
// its part files read in the order of i are the total order.
//
// # Join strategies
//
// A join's options decide how it runs, when the graph is built: a hybrid
// hash join building the right input (BuildLeft: the left one), a
// broadcast of a small build side (BroadcastBuild), or a sort-merge join of
// two large inputs (SortMerge). No size estimate chooses for the user.
//
// # Missing join partners
//
// Outer joins hand the user function a nil pointer for the missing side:
// LeftOuterJoin's fn(x A, y *B), RightOuterJoin's fn(x *A, y B) and
// FullOuterJoin's fn(x *A, y *B), so the type says which side may be missing.
//
// # Records and keys
//
// Records that cross the network are encoded as Arrow batches (structs of
// exported numbers, strings, bools, []byte, time.Time, slices and nested
// structs); so are the accumulators of Aggregate, which are combined before
// the shuffle. Keys of GroupBy and Join are strings, numbers, booleans, or
// structs and arrays of those (a struct key joins or groups on several
// columns); a time.Time is not a key (its Location is a pointer): use its
// Unix seconds, a day number or a string.
package dataset

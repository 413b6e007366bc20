// Package spill holds the memory-budgeted external algorithms of floe's
// batch operators: a sort, a hash aggregation and a hash join that keep
// their data in memory while it fits a Budget and spill it to local disk
// past it, so that a job over data several times its memory completes with
// memory near the budget.
//
// # Operators
//
//	NewSorter[T](cmp, budget, opts...)                       Add, Finish, All -> iter.Seq2[T, error]
//	NewAggregator[K, V, A](Combiner[V, A], budget, opts...)   Add, AddPartial, All -> iter.Seq2[Group[K, A], error]
//	NewHashJoin[K, B, P](JoinType, buildKey, probeKey, budget, opts...)
//	                                                         Build, Probe(emit), Finish(emit)
//	NewMergeJoin[K, L, R](JoinType, leftKey, rightKey, budget, opts...)
//	                                                         AddLeft, AddRight, Finish(emit)
//
// Every operator is used by one goroutine, takes the caller's context on
// each call that does work (checked every 1024 records), reports Stats
// (records, spilled records and bytes, files, runs, merge passes,
// repartitions, nested loops, peak reservation) and must be closed: Close
// removes its spill files, after success or failure alike, and may be
// called twice. Results are streamed from spill files that are deleted as
// they are read, so they can be consumed once.
//
//   - Sorter: records sorted in memory until the budget; then each full
//     buffer is sorted and written as a run; runs are merged at most the
//     fan-in at a time (WithFanIn; default from the budget, 2..64), in
//     intermediate passes when there are more. The sort is stable.
//   - Aggregator: a hash table of key -> accumulator; past the budget the
//     whole table is written as partial accumulators, hash-partitioned
//     (WithPartitions, default 16, fewer for small budgets), and emptied.
//     At the end each partition is aggregated alone with Combiner.Merge, and
//     one that still does not fit is partitioned again with a new hash seed
//     (down to WithMaxDepth, default 4). Output order is unspecified.
//     In flush mode (SetFlush, for a combiner before a shuffle) a full
//     table is handed to a function and emptied instead of spilled.
//   - HashJoin: a hybrid hash join. The build side is hash-partitioned and
//     stays in memory until the budget; then the largest partitions spill,
//     and so do probe records of spilled partitions, while the others are
//     joined as they come. Spilled partitions are joined one by one by a
//     new join with another seed; a partition whose build side does not
//     shrink when split (one key holding 90% of it) or is still too large
//     at the deepest level is joined by block nested loops over its files.
//     The build side is the left input: LeftOuterJoin emits unmatched build
//     records with a nil probe, RightOuterJoin unmatched probe records with
//     a nil build, FullOuterJoin both (JoinType.Swap for the other way round).
//   - MergeJoin: a sort-merge join for two large inputs. Each side is
//     sorted by a seeded hash of its key in its own Sorter (half the
//     budget each); the sorted sides are merged, one key's right records
//     held in memory or, past the budget, in a file that its left records
//     are matched against in blocks. Left plays the build side's part in
//     the JoinType.
//
// Records that spill go through internal/codec, so T (sort), K and A
// (aggregation), B and P (join) must have codecs; the constructors fail
// otherwise.
//
// # Memory
//
// A Budget is bytes, shared by the operators that reserve from it and safe
// for concurrent use. A TaskManager makes one from
// taskmanager.memory.managed.size (NewBudgetFromConfig; default a quarter
// of taskmanager.memory.process.size) and Splits it equally among its
// slots; a slot Splits its share equally among the operators of its chain
// that hold data at the same time (as Flink divides managed memory among
// slots and then among a slot's consumers). A child's reservations count in
// its parent's Used and Peak.
//
// Operators estimate their memory without serializing: the fixed size of
// a record's type, derived by reflection once per type, plus the lengths of
// its strings and the capacities of its slices (and an entry overhead for
// maps), plus their own tables and buffers. They reserve in chunks of up
// to 64 KiB, so the shared counter moves every few hundred records. When
// spilling cannot help (a single record, the blocks of a merge, a
// partition at the deepest level) they take memory over the budget and
// count it in Stats.OverBudget. The Go heap is about twice the live data
// at its peak with GOGC=100; the benchmarks report both.
//
// # Spill files
//
// Files go to the directories of WithDirs (a TaskManager passes
// TmpDirs(config): io.tmp.dirs, else YARN's LOCAL_DIRS, else os.TempDir),
// in turn, each operator in its own floe-spill-* subdirectory. A file is a
// sequence of frames: a little-endian uint32 length and one message of
// codec.Writer (Arrow IPC stream bytes of one record batch and their
// CRC-32C). Blocks are about the budget/256 (4 KiB..1 MiB, WithBlockBytes).
package spill

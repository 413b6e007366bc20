// Package network is floe's data plane: how records leave one subtask and
// reach another. A RecordWriter buffers a producer's records per channel and
// encodes each channel's buffer as one Arrow record batch (internal/codec);
// the batches and the in-band events (end of input, watermarks, checkpoint
// barriers) go into the subpartitions of the producer's result partition; a
// consumer's input gate subscribes to each subpartition over gRPC or, when
// both run in one TaskManager, over a local channel, with credit-based flow
// control; a Decoder turns the batches back into records of the consumer's
// chain.
//
// Output[T] is what every operator pushes into: the next chained operator, a
// RecordWriter, or a fan-out of several. Events are ordered with the records
// around them.
//
// Threading: a RecordWriter and a Decoder belong to their task's goroutine.
// Partitions and input gates are safe for concurrent use where they say so.
package network

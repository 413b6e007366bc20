// Package network is floe's data plane: how records leave one subtask and
// reach another.
//
// A RecordWriter (writer.go, NewWriter in records.go) buffers a producer's
// records per channel and encodes each channel's buffer as one Arrow record
// batch (internal/codec); the batches and the in-band events (end of input,
// watermarks, checkpoint barriers) go into the subpartitions of the
// producer's ResultPartition (partition.go), bounded queues that block the
// producer when full. A consumer's InputGate (inputgate.go) subscribes to
// each subpartition through a Subscriber: over the TCP data plane
// (TCPSubscriber, served by TCPServer; tcpchannel.go), over gRPC
// (GRPCSubscriber, served by DataExchangeServer) or, when both run in one
// TaskManager, over a local channel (localchannel.go), with the same
// credit-based flow control: a
// producer never sends past the credit its consumer granted. A Decoder
// (NewDecoder) turns the batches back into records of the consumer's chain.
// The Aligner (aligner.go) holds channels during an exactly-once barrier
// alignment and Watermarks (watermarks.go) computes a task's event time over
// its channels; both are state machines without I/O.
//
// Output[T] is what every operator pushes into: the next chained operator, a
// RecordWriter, or a fan-out of several. Events are ordered with the records
// around them.
//
// Ownership: the TaskManager (package container) owns one PartitionRegistry
// and one BufferStats and wires its ServeFunc into both subscribers; each
// task owns its partitions, its input gate, its writers and decoders, its
// aligner and watermark tracker. Writers, decoders, the aligner and the
// watermark tracker belong to their task's goroutine; partitions, the
// registry, input gates and BufferStats are safe for concurrent use where
// their docs say so.
package network

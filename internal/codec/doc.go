// Package codec converts between Go values and Apache Arrow record batches.
//
// A Codec[T] is derived once per type T by reflection (For caches it) and
// then encodes and decodes whole batches column by column through unsafe
// field offsets, without reflection per record.
//
// # Type mapping
//
//	bool                      Boolean
//	int8..int64, int          Int8..Int64 (int as Int64)
//	uint8..uint64, uint       Uint8..Uint64 (uint as Uint64)
//	float32, float64          Float32, Float64
//	string                    String
//	[]byte                    Binary (nil <-> null)
//	time.Time                 Timestamp[ns, UTC] (zero Time <-> null; location not kept)
//	time.Duration             Duration[ns]
//	struct                    one column per exported field (nested: Struct)
//	[]E                       List<E> (nil <-> null, empty stays empty)
//
// Named types take their underlying type's mapping. A struct T is a record
// of its fields, named by the Go field name or a `floe:"name"` tag; any other
// T is a record with one column, "value". Embedded structs are fields like
// any other (named after their type).
//
// Unsupported types fail at derivation with ErrUnsupportedType naming the
// path: maps, pointers, interfaces, channels, functions, complex numbers,
// arrays, and unexported struct fields. Unexported fields are refused rather
// than skipped: records cross process boundaries, and silently dropping a
// field would lose data.
//
// # Memory and ownership
//
// Encode returns a record the caller releases. Decode copies everything out
// of the record (strings of one column share one copied buffer per batch),
// so the record can be released at once. A channel's Reader decodes a
// message in place: the batch's columns are slices of the message, read by
// floe's own parser of the IPC metadata (inplace.go), so Decode is the one
// copy between the received bytes and the records. A Writer of records of
// numbers and strings writes each batch from a template of the schema's
// batch metadata, each column straight into the message (fastwrite.go). Writer and Reader hold Arrow IPC
// stream state for one channel and are not safe for concurrent use; a Codec
// is immutable and safe for concurrent use.
package codec

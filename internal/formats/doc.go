// Package formats decodes and encodes the records of floe's file sources and
// sinks: CSV (any one-character delimiter, header or not, so TPC-H's
// `|`-separated `.tbl` files read as they are), JSON lines and Parquet, typed
// into Go structs.
//
// # Records and fields
//
// A record type T is a struct whose exported fields are matched with the
// file's columns (or JSON keys) by name, case-insensitively. A field's name
// is its `floe:"name"` tag (the tag internal/codec and WriteParquet use),
// else its `json:"name"` tag, else its Go name; `floe:"-"` leaves a field out.
// Without names (CSV without a header or Columns), columns map to the fields
// in their order.
//
// Field types: ints, uints, floats, bool, string, []byte, time.Time and
// time.Duration (and named types of them). In text (CSV, quoted JSON
// values) a time.Time is a date YYYY-MM-DD (midnight UTC) or a timestamp
// (RFC 3339, or "YYYY-MM-DD HH:MM:SS[.fraction]" taken as UTC), and a
// duration is Go's syntax ("1h2m", "250ms"). An empty CSV field or a JSON
// null leaves the zero value.
//
// # Splits
//
// Inputs are cut into Splits: byte ranges of text files, where a split owns
// the lines that start inside its range (the line that crosses its start
// belongs to the previous split), and row groups of Parquet files. A
// SplitReader reads one split and can be reopened at a position it reported
// (the offset of the next line, the rows of a row group already read), which
// is what a source checkpoints.
//
// # Errors
//
// A record that does not decode is a *RecordError naming the file, the
// record's byte offset or row group and row, and the reason; the reader goes
// on with the next record if asked to. LineOf turns an offset into a line
// number for the message that fails a job (it reads the file up to there,
// so it is only for the error path).
//
// Readers hold their open file and are not safe for concurrent use; a
// Format is immutable once built and safe for concurrent use.
package formats

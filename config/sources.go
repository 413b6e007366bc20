package config

// Keys of the file sources (datastream.ReadCSV, ReadJSONLines, ReadParquet).
const (
	// SourceSplitSize is the length of the byte ranges text inputs are cut
	// into (a memory size, e.g. 64m), unless the source's options set one.
	SourceSplitSize = "floe.source.split-size"
	// SourceMaxMalformed is how many records that do not decode a file
	// source subtask skips (and counts) before it fails the job, unless the
	// source's options set it; 0 fails at the first, -1 skips all.
	SourceMaxMalformed = "floe.source.max-malformed-records"
)

package datastream

import "floe/internal/jobgraph"

// JobGraph is the graph Execute would run, for the tests of package datastream_test.
func JobGraph(e *Environment, name string) (*jobgraph.JobGraph, error) { return e.jobGraph(name) }

// TTLWithClock is ttl with a clock (epoch milliseconds) the test moves.
func TTLWithClock(ttl StateTTL, now func() int64) StateTTL { ttl.now = now; return ttl }

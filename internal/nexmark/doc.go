// Package nexmark is the Nexmark benchmark's data: the Person, Auction and
// Bid events of an online auction site, a deterministic generator (the same
// Config gives the same events, times included, at every parallelism), the
// result rows of the queries, and plain-Go reference computations of the
// queries that tests compare floe's results with. The queries as floe jobs
// are package internal/nexmark/queries.
package nexmark

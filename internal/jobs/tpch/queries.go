package tpch

import (
	"fmt"
	"slices"
	"strings"
)

// Query describes one TPC-H query's answer: its columns in the query's
// order, the columns its ORDER BY names (indices into Columns, in order)
// and its LIMIT (0: none).
type Query struct {
	Name    string // "q1"
	Columns []string
	OrderBy []int
	Limit   int
}

// Ordered reports whether the query orders its result.
func (q Query) Ordered() bool { return len(q.OrderBy) > 0 }

// Queries are the TPC-H queries floe runs, with the column names DuckDB's
// answers carry.
var Queries = []Query{
	{Name: "q1", Columns: []string{"l_returnflag", "l_linestatus", "sum_qty", "sum_base_price", "sum_disc_price",
		"sum_charge", "avg_qty", "avg_price", "avg_disc", "count_order"}, OrderBy: []int{0, 1}},
	{Name: "q3", Columns: []string{"l_orderkey", "revenue", "o_orderdate", "o_shippriority"}, OrderBy: []int{1, 2}, Limit: 10},
	{Name: "q5", Columns: []string{"n_name", "revenue"}, OrderBy: []int{1}},
	{Name: "q6", Columns: []string{"revenue"}},
	{Name: "q10", Columns: []string{"c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone",
		"c_comment"}, OrderBy: []int{2}, Limit: 20},
	{Name: "q12", Columns: []string{"l_shipmode", "high_line_count", "low_line_count"}, OrderBy: []int{0}},
	{Name: "q14", Columns: []string{"promo_revenue"}},
	{Name: "q18", Columns: []string{"c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice", "sum(l_quantity)"},
		OrderBy: []int{4, 3}, Limit: 100},
}

// Lookup returns the query called name ("q1" or "1").
func Lookup(name string) (Query, error) {
	n := strings.ToLower(name)
	if !strings.HasPrefix(n, "q") {
		n = "q" + n
	}
	i := slices.IndexFunc(Queries, func(q Query) bool { return q.Name == n })
	if i < 0 {
		return Query{}, fmt.Errorf("%w: %q (floe runs %s)", ErrUnknownQuery, name, strings.Join(Names(), ", "))
	}
	return Queries[i], nil
}

// Names lists the queries' names.
func Names() []string {
	var names []string
	for _, q := range Queries {
		names = append(names, q.Name)
	}
	return names
}

package tpch

import (
	"time"

	"floe/dataset"
)

// The eight queries as dataset plans. Each reads the columns it needs,
// filters as early as it can, aggregates before the shuffles that follow
// (Aggregate combines per subtask), builds hash tables from the smaller side
// (broadcast for the few-row dimension tables), and ends in Sort or TopN so
// its answer is one ordered file. Each returns the answer to write; every
// answer type's fields are the query's columns in order.

type plan func(env *dataset.Environment, input string) (writer, error)

// writer writes a query's answer into dir.
type writer func(dir string, overwrite bool)

func sinkCSV[T any](d dataset.DataSet[T]) writer {
	return func(dir string, overwrite bool) {
		var opts []dataset.SinkOption
		if overwrite {
			opts = append(opts, dataset.Overwrite())
		}
		dataset.WriteCSV(d, dir, opts...)
	}
}

var plans = map[string]plan{
	"q1": q1, "q3": q3, "q5": q5, "q6": q6, "q10": q10, "q12": q12, "q14": q14, "q18": q18,
}

// sumAgg sums an int64 field (exact decimals in integer units).
func sumAgg[T any](field func(T) int64) dataset.Aggregator[T, int64, int64] {
	return dataset.Sum(field)
}

// ---- Q1: pricing summary report

type q1Line struct {
	Quantity float64   `floe:"l_quantity"`
	Price    float64   `floe:"l_extendedprice"`
	Discount float64   `floe:"l_discount"`
	Tax      float64   `floe:"l_tax"`
	Flag     string    `floe:"l_returnflag"`
	Status   string    `floe:"l_linestatus"`
	ShipDate time.Time `floe:"l_shipdate"`
}

// q1Key is Q1's group, the return flag and line status (CHAR(1) each) as
// one integer: a run of a group is checked and a group hashed by comparing
// one word, not two strings.
type q1Key int64

func newQ1Key(flag, status string) q1Key { return q1Key(firstByte(flag))<<8 | q1Key(firstByte(status)) }

func (k q1Key) flag() string   { return string(rune(byte(k >> 8))) }
func (k q1Key) status() string { return string(rune(byte(k))) }

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// Q1Acc is Q1's accumulator: exact sums in hundredths (Qty, Price, Disc),
// 1e-4 (DiscPrice) and 1e-6 (Charge).
type Q1Acc struct {
	Qty, Price, Disc, DiscPrice, Charge, Count int64
}

// Q1Row is Q1's answer row.
type Q1Row struct {
	ReturnFlag, LineStatus                     string
	SumQty, SumBasePrice, SumDiscPrice, SumChg float64
	AvgQty, AvgPrice, AvgDisc                  float64
	CountOrder                                 int64
}

func q1(env *dataset.Environment, input string) (writer, error) {
	lines, err := read[q1Line](env, input, "lineitem")
	if err != nil {
		return nil, err
	}
	cut := date("1998-09-02")
	shipped := lines.Filter(func(l q1Line) bool { return !l.ShipDate.After(cut) })
	agg := dataset.Aggregator[q1Line, Q1Acc, Q1Acc]{
		Add: func(a Q1Acc, l q1Line) Q1Acc {
			p, d, t := cents(l.Price), cents(l.Discount), cents(l.Tax)
			a.Qty += cents(l.Quantity)
			a.Price += p
			a.Disc += d
			a.DiscPrice += p * (100 - d)
			a.Charge += p * (100 - d) * (100 + t)
			a.Count++
			return a
		},
		Merge: func(a, b Q1Acc) Q1Acc {
			return Q1Acc{a.Qty + b.Qty, a.Price + b.Price, a.Disc + b.Disc, a.DiscPrice + b.DiscPrice, a.Charge + b.Charge, a.Count + b.Count}
		},
		Result: func(a Q1Acc) Q1Acc { return a },
	}
	groups := dataset.Aggregate(dataset.GroupBy(shipped, func(l q1Line) q1Key { return newQ1Key(l.Flag, l.Status) }), agg)
	rows := dataset.Map(groups, func(kv dataset.KV[q1Key, Q1Acc]) Q1Row {
		a, n := kv.Value, float64(kv.Value.Count)
		return Q1Row{kv.Key.flag(), kv.Key.status(),
			float64(a.Qty) / unit2, float64(a.Price) / unit2, float64(a.DiscPrice) / unit4, float64(a.Charge) / unit6,
			float64(a.Qty) / unit2 / n, float64(a.Price) / unit2 / n, float64(a.Disc) / unit2 / n, a.Count}
	})
	return sinkCSV(dataset.Sort(rows, dataset.OrderBy(
		dataset.Asc(func(r Q1Row) string { return r.ReturnFlag }),
		dataset.Asc(func(r Q1Row) string { return r.LineStatus })))), nil
}

// ---- Q3: shipping priority

type q3Customer struct {
	CustKey int64  `floe:"c_custkey"`
	Segment string `floe:"c_mktsegment"`
}

type q3Order struct {
	OrderKey     int64     `floe:"o_orderkey"`
	CustKey      int64     `floe:"o_custkey"`
	OrderDate    time.Time `floe:"o_orderdate"`
	ShipPriority int64     `floe:"o_shippriority"`
}

type q3Line struct {
	OrderKey int64     `floe:"l_orderkey"`
	Price    float64   `floe:"l_extendedprice"`
	Discount float64   `floe:"l_discount"`
	ShipDate time.Time `floe:"l_shipdate"`
}

// Q3Row is Q3's answer row.
type Q3Row struct {
	OrderKey     int64
	Revenue      float64
	OrderDate    time.Time
	ShipPriority int64
}

// q3Group is Q3's group: an order with its date (Unix seconds) and
// priority.
type q3Group struct{ OrderKey, OrderDate, ShipPriority int64 }

// q3Sale is a late line of a BUILDING customer's early order.
type q3Sale struct {
	Group   q3Group
	Revenue int64
}

// revenue is price * (1 - discount) in units of 1e-4.
func revenue(price, discount float64) int64 { return cents(price) * (100 - cents(discount)) }

func q3(env *dataset.Environment, input string) (writer, error) {
	cust, err1 := read[q3Customer](env, input, "customer")
	orders, err2 := read[q3Order](env, input, "orders")
	lines, err3 := read[q3Line](env, input, "lineitem")
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	day := date("1995-03-15")
	building := cust.Filter(func(c q3Customer) bool { return c.Segment == "BUILDING" })
	early := orders.Filter(func(o q3Order) bool { return o.OrderDate.Before(day) })
	custOrders := dataset.Join(early, building, func(o q3Order) int64 { return o.CustKey }, func(c q3Customer) int64 { return c.CustKey },
		func(o q3Order, _ q3Customer) q3Order { return o }, dataset.BroadcastBuild()) // a fifth of the customers to every subtask: orders are not shuffled
	late := lines.Filter(func(l q3Line) bool { return l.ShipDate.After(day) })
	// Each late line meets its order first (the early orders of BUILDING
	// customers, a tenth, broadcast: lineitem is not shuffled), so only the
	// matching lines are summed per order.
	matched := dataset.Join(late, custOrders, func(l q3Line) int64 { return l.OrderKey }, func(o q3Order) int64 { return o.OrderKey },
		func(l q3Line, o q3Order) q3Sale {
			return q3Sale{q3Group{o.OrderKey, o.OrderDate.Unix(), o.ShipPriority}, revenue(l.Price, l.Discount)}
		},
		dataset.BroadcastBuild())
	perOrder := dataset.Aggregate(dataset.GroupBy(matched, func(s q3Sale) q3Group { return s.Group }),
		sumAgg(func(s q3Sale) int64 { return s.Revenue }))
	rows := dataset.Map(perOrder, func(kv dataset.KV[q3Group, int64]) Q3Row {
		return Q3Row{kv.Key.OrderKey, float64(kv.Value) / unit4, time.Unix(kv.Key.OrderDate, 0).UTC(), kv.Key.ShipPriority}
	})
	return sinkCSV(dataset.TopN(rows, 10, dataset.OrderBy(
		dataset.Desc(func(r Q3Row) float64 { return r.Revenue }),
		dataset.Asc(func(r Q3Row) int64 { return r.OrderDate.Unix() })))), nil
}

// ---- Q5: local supplier volume

type q5Region struct {
	RegionKey int64  `floe:"r_regionkey"`
	Name      string `floe:"r_name"`
}

type q5Nation struct {
	NationKey int64  `floe:"n_nationkey"`
	Name      string `floe:"n_name"`
	RegionKey int64  `floe:"n_regionkey"`
}

type q5Supplier struct {
	SuppKey   int64 `floe:"s_suppkey"`
	NationKey int64 `floe:"s_nationkey"`
}

type q5Customer struct {
	CustKey   int64 `floe:"c_custkey"`
	NationKey int64 `floe:"c_nationkey"`
}

type q5Order struct {
	OrderKey  int64     `floe:"o_orderkey"`
	CustKey   int64     `floe:"o_custkey"`
	OrderDate time.Time `floe:"o_orderdate"`
}

type q5Line struct {
	OrderKey int64   `floe:"l_orderkey"`
	SuppKey  int64   `floe:"l_suppkey"`
	Price    float64 `floe:"l_extendedprice"`
	Discount float64 `floe:"l_discount"`
}

// Q5Sale is a line of an order with the customer's nation.
type Q5Sale struct {
	SuppKey, NationKey, Revenue int64
}

// Q5Supplier is an Asian supplier with its nation's name.
type Q5Supplier struct {
	SuppKey, NationKey int64
	Nation             string
}

// Q5Row is Q5's answer row.
type Q5Row struct {
	Nation  string
	Revenue float64
}

// suppNation is a supplier and a nation as one int64 key (TPC-H's keys are
// far below 2^31 and its nation keys below 25), so the join on both takes
// the hash join's table for integer keys instead of a Go map.
func suppNation(supp, nation int64) int64 { return supp<<32 | nation&0xffffffff }

func q5(env *dataset.Environment, input string) (writer, error) {
	regions, err1 := read[q5Region](env, input, "region")
	nations, err2 := read[q5Nation](env, input, "nation")
	supp, err3 := read[q5Supplier](env, input, "supplier")
	cust, err4 := read[q5Customer](env, input, "customer")
	orders, err5 := read[q5Order](env, input, "orders")
	lines, err6 := read[q5Line](env, input, "lineitem")
	if err := firstErr(err1, err2, err3, err4, err5, err6); err != nil {
		return nil, err
	}
	asia := regions.Filter(func(r q5Region) bool { return r.Name == "ASIA" })
	asiaNations := dataset.Join(nations, asia, func(n q5Nation) int64 { return n.RegionKey }, func(r q5Region) int64 { return r.RegionKey },
		func(n q5Nation, _ q5Region) q5Nation { return n }, dataset.BroadcastBuild())
	asiaSupp := dataset.Join(supp, asiaNations, func(s q5Supplier) int64 { return s.NationKey }, func(n q5Nation) int64 { return n.NationKey },
		func(s q5Supplier, n q5Nation) Q5Supplier { return Q5Supplier{s.SuppKey, s.NationKey, n.Name} }, dataset.BroadcastBuild())
	lo, hi := date("1994-01-01"), date("1995-01-01")
	year := orders.Filter(func(o q5Order) bool { return !o.OrderDate.Before(lo) && o.OrderDate.Before(hi) })
	custOrders := dataset.Join(year, cust, func(o q5Order) int64 { return o.CustKey }, func(c q5Customer) int64 { return c.CustKey },
		func(o q5Order, c q5Customer) q5Customer {
			return q5Customer{CustKey: o.OrderKey, NationKey: c.NationKey}
		})
	sales := dataset.Join(lines, custOrders, func(l q5Line) int64 { return l.OrderKey }, func(c q5Customer) int64 { return c.CustKey },
		func(l q5Line, c q5Customer) Q5Sale {
			return Q5Sale{l.SuppKey, c.NationKey, revenue(l.Price, l.Discount)}
		}, dataset.BroadcastBuild()) // a year's orders (15 %) to every subtask: lineitem is not shuffled
	// The supplier must be of the customer's nation: a join on both keys.
	local := dataset.Join(sales, asiaSupp, func(s Q5Sale) int64 { return suppNation(s.SuppKey, s.NationKey) },
		func(s Q5Supplier) int64 { return suppNation(s.SuppKey, s.NationKey) },
		func(s Q5Sale, sup Q5Supplier) dataset.KV[string, int64] {
			return dataset.KV[string, int64]{Key: sup.Nation, Value: s.Revenue}
		}, dataset.BroadcastBuild())
	byNation := dataset.Aggregate(dataset.GroupBy(local, func(kv dataset.KV[string, int64]) string { return kv.Key }),
		sumAgg(func(kv dataset.KV[string, int64]) int64 { return kv.Value }))
	rows := dataset.Map(byNation, func(kv dataset.KV[string, int64]) Q5Row { return Q5Row{kv.Key, float64(kv.Value) / unit4} })
	return sinkCSV(dataset.Sort(rows, dataset.Desc(func(r Q5Row) float64 { return r.Revenue }))), nil
}

// ---- Q6: forecasting revenue change

type q6Line struct {
	Quantity float64   `floe:"l_quantity"`
	Price    float64   `floe:"l_extendedprice"`
	Discount float64   `floe:"l_discount"`
	ShipDate time.Time `floe:"l_shipdate"`
}

// Q6Row is Q6's answer row.
type Q6Row struct{ Revenue float64 }

func q6(env *dataset.Environment, input string) (writer, error) {
	lines, err := read[q6Line](env, input, "lineitem")
	if err != nil {
		return nil, err
	}
	lo, hi := date("1994-01-01"), date("1995-01-01")
	sel := lines.Filter(func(l q6Line) bool {
		d := cents(l.Discount)
		return !l.ShipDate.Before(lo) && l.ShipDate.Before(hi) && d >= 5 && d <= 7 && cents(l.Quantity) < 2400
	})
	total := dataset.AggregateAll(sel, sumAgg(func(l q6Line) int64 { return cents(l.Price) * cents(l.Discount) }))
	return sinkCSV(dataset.Map(total, func(v int64) Q6Row { return Q6Row{float64(v) / unit4} })), nil
}

// ---- Q10: returned item reporting

type q10Customer struct {
	CustKey   int64   `floe:"c_custkey"`
	Name      string  `floe:"c_name"`
	Address   string  `floe:"c_address"`
	NationKey int64   `floe:"c_nationkey"`
	Phone     string  `floe:"c_phone"`
	AcctBal   float64 `floe:"c_acctbal"`
	Comment   string  `floe:"c_comment"`
}

type q10Nation struct {
	NationKey int64  `floe:"n_nationkey"`
	Name      string `floe:"n_name"`
}

type q10Line struct {
	OrderKey   int64   `floe:"l_orderkey"`
	Price      float64 `floe:"l_extendedprice"`
	Discount   float64 `floe:"l_discount"`
	ReturnFlag string  `floe:"l_returnflag"`
}

// Q10Row is Q10's answer row.
type Q10Row struct {
	CustKey int64
	Name    string
	Revenue float64
	AcctBal float64
	Nation  string
	Address string
	Phone   string
	Comment string
}

func q10(env *dataset.Environment, input string) (writer, error) {
	cust, err1 := read[q10Customer](env, input, "customer")
	orders, err2 := read[q5Order](env, input, "orders")
	lines, err3 := read[q10Line](env, input, "lineitem")
	nations, err4 := read[q10Nation](env, input, "nation")
	if err := firstErr(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	lo, hi := date("1993-10-01"), date("1994-01-01")
	quarter := orders.Filter(func(o q5Order) bool { return !o.OrderDate.Before(lo) && o.OrderDate.Before(hi) })
	returned := lines.Filter(func(l q10Line) bool { return l.ReturnFlag == "R" })
	// Each returned line meets its order first (the quarter's orders, 4 %,
	// broadcast: lineitem is not shuffled), so only the lines of the
	// quarter's orders are summed, per customer (sums are exact integers:
	// their grouping does not change them).
	perCustLine := dataset.Join(returned, quarter, func(l q10Line) int64 { return l.OrderKey }, func(o q5Order) int64 { return o.OrderKey },
		func(l q10Line, o q5Order) dataset.KV[int64, int64] {
			return dataset.KV[int64, int64]{Key: o.CustKey, Value: revenue(l.Price, l.Discount)}
		}, dataset.BroadcastBuild())
	perCust := dataset.Aggregate(dataset.GroupBy(perCustLine, func(kv dataset.KV[int64, int64]) int64 { return kv.Key }),
		sumAgg(func(kv dataset.KV[int64, int64]) int64 { return kv.Value }))
	withCust := dataset.Join(perCust, cust, func(kv dataset.KV[int64, int64]) int64 { return kv.Key }, func(c q10Customer) int64 { return c.CustKey },
		func(kv dataset.KV[int64, int64], c q10Customer) q10Keyed {
			return q10Keyed{c.NationKey, Q10Row{c.CustKey, c.Name, float64(kv.Value) / unit4, c.AcctBal, "", c.Address, c.Phone, c.Comment}}
		}, dataset.BuildLeft(), dataset.BroadcastBuild()) // the quarter's customers (a quarter of them) to every subtask: the customer table, with its long strings, is not shuffled
	top := dataset.TopN(withCust, 20, dataset.Desc(func(r q10Keyed) float64 { return r.Row.Revenue }))
	// The nation's name after the cut: 20 rows to look up, not every customer.
	named := dataset.Join(top, nations, func(r q10Keyed) int64 { return r.NationKey }, func(n q10Nation) int64 { return n.NationKey },
		func(r q10Keyed, n q10Nation) Q10Row { r.Row.Nation = n.Name; return r.Row }, dataset.BroadcastBuild())
	return sinkCSV(dataset.Sort(named, dataset.Desc(func(r Q10Row) float64 { return r.Revenue }))), nil
}

// q10Keyed is a Q10 row with its customer's nation key.
type q10Keyed struct {
	NationKey int64
	Row       Q10Row
}

// ---- Q12: shipping modes and order priority

type q12Order struct {
	OrderKey int64  `floe:"o_orderkey"`
	Priority string `floe:"o_orderpriority"`
}

type q12Line struct {
	OrderKey    int64     `floe:"l_orderkey"`
	ShipDate    time.Time `floe:"l_shipdate"`
	CommitDate  time.Time `floe:"l_commitdate"`
	ReceiptDate time.Time `floe:"l_receiptdate"`
	ShipMode    string    `floe:"l_shipmode"`
}

// Q12Acc counts a ship mode's lines of urgent or high priority orders and the others.
type Q12Acc struct{ High, Low int64 }

// Q12Row is Q12's answer row.
type Q12Row struct {
	ShipMode  string
	High, Low int64
}

func q12(env *dataset.Environment, input string) (writer, error) {
	orders, err1 := read[q12Order](env, input, "orders")
	lines, err2 := read[q12Line](env, input, "lineitem")
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	lo, hi := date("1994-01-01"), date("1995-01-01")
	sel := lines.Filter(func(l q12Line) bool {
		return (l.ShipMode == "MAIL" || l.ShipMode == "SHIP") && l.CommitDate.Before(l.ReceiptDate) && l.ShipDate.Before(l.CommitDate) &&
			!l.ReceiptDate.Before(lo) && l.ReceiptDate.Before(hi)
	})
	withPrio := dataset.Join(sel, orders, func(l q12Line) int64 { return l.OrderKey }, func(o q12Order) int64 { return o.OrderKey },
		func(l q12Line, o q12Order) dataset.KV[string, Q12Acc] {
			if o.Priority == "1-URGENT" || o.Priority == "2-HIGH" {
				return dataset.KV[string, Q12Acc]{Key: l.ShipMode, Value: Q12Acc{High: 1}}
			}
			return dataset.KV[string, Q12Acc]{Key: l.ShipMode, Value: Q12Acc{Low: 1}}
		}, dataset.BuildLeft(), dataset.BroadcastBuild()) // the selected lines (0.5 %) to every subtask: orders are not shuffled
	counts := dataset.GroupBy(withPrio, func(kv dataset.KV[string, Q12Acc]) string { return kv.Key }).Reduce(
		func(a, b dataset.KV[string, Q12Acc]) dataset.KV[string, Q12Acc] {
			return dataset.KV[string, Q12Acc]{Key: a.Key, Value: Q12Acc{a.Value.High + b.Value.High, a.Value.Low + b.Value.Low}}
		})
	rows := dataset.Map(counts, func(kv dataset.KV[string, Q12Acc]) Q12Row { return Q12Row{kv.Key, kv.Value.High, kv.Value.Low} })
	return sinkCSV(dataset.Sort(rows, dataset.Asc(func(r Q12Row) string { return r.ShipMode }))), nil
}

// ---- Q14: promotion effect

type q14Part struct {
	PartKey int64  `floe:"p_partkey"`
	Type    string `floe:"p_type"`
}

type q14Line struct {
	PartKey  int64     `floe:"l_partkey"`
	Price    float64   `floe:"l_extendedprice"`
	Discount float64   `floe:"l_discount"`
	ShipDate time.Time `floe:"l_shipdate"`
}

// Q14Acc sums the revenue of promoted parts and of all parts (1e-4 units).
type Q14Acc struct{ Promo, Total int64 }

// Q14Row is Q14's answer row.
type Q14Row struct{ PromoRevenue float64 }

func q14(env *dataset.Environment, input string) (writer, error) {
	parts, err1 := read[q14Part](env, input, "part")
	lines, err2 := read[q14Line](env, input, "lineitem")
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	lo, hi := date("1995-09-01"), date("1995-10-01")
	month := lines.Filter(func(l q14Line) bool { return !l.ShipDate.Before(lo) && l.ShipDate.Before(hi) })
	sales := dataset.Join(month, parts, func(l q14Line) int64 { return l.PartKey }, func(p q14Part) int64 { return p.PartKey },
		func(l q14Line, p q14Part) Q14Acc {
			r := revenue(l.Price, l.Discount)
			if len(p.Type) >= 5 && p.Type[:5] == "PROMO" {
				return Q14Acc{r, r}
			}
			return Q14Acc{0, r}
		}, dataset.BuildLeft(), dataset.BroadcastBuild()) // the month's lines (1.3 %) to every subtask: parts are not shuffled
	total := dataset.AggregateAll(sales, dataset.Aggregator[Q14Acc, Q14Acc, Q14Row]{
		Add:    func(a, v Q14Acc) Q14Acc { return Q14Acc{a.Promo + v.Promo, a.Total + v.Total} },
		Merge:  func(a, b Q14Acc) Q14Acc { return Q14Acc{a.Promo + b.Promo, a.Total + b.Total} },
		Result: func(a Q14Acc) Q14Row { return Q14Row{100 * float64(a.Promo) / float64(a.Total)} },
	})
	return sinkCSV(total), nil
}

// ---- Q18: large volume customer

type q18Customer struct {
	CustKey int64  `floe:"c_custkey"`
	Name    string `floe:"c_name"`
}

type q18Order struct {
	OrderKey   int64     `floe:"o_orderkey"`
	CustKey    int64     `floe:"o_custkey"`
	OrderDate  time.Time `floe:"o_orderdate"`
	TotalPrice float64   `floe:"o_totalprice"`
}

type q18Line struct {
	OrderKey int64   `floe:"l_orderkey"`
	Quantity float64 `floe:"l_quantity"`
}

// Q18Order is a large order with its quantity (hundredths).
type Q18Order struct {
	OrderKey, CustKey int64
	OrderDate         time.Time
	TotalPrice        float64
	Qty               int64
}

// Q18Row is Q18's answer row.
type Q18Row struct {
	Name       string
	CustKey    int64
	OrderKey   int64
	OrderDate  time.Time
	TotalPrice float64
	Quantity   float64
}

func q18(env *dataset.Environment, input string) (writer, error) {
	cust, err1 := read[q18Customer](env, input, "customer")
	orders, err2 := read[q18Order](env, input, "orders")
	lines, err3 := read[q18Line](env, input, "lineitem")
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	qty := dataset.Aggregate(dataset.GroupBy(lines, func(l q18Line) int64 { return l.OrderKey }),
		sumAgg(func(l q18Line) int64 { return cents(l.Quantity) }))
	large := qty.Filter(func(kv dataset.KV[int64, int64]) bool { return kv.Value > 300*100 })
	big := dataset.Join(orders, large, func(o q18Order) int64 { return o.OrderKey }, func(kv dataset.KV[int64, int64]) int64 { return kv.Key },
		func(o q18Order, kv dataset.KV[int64, int64]) Q18Order {
			return Q18Order{o.OrderKey, o.CustKey, o.OrderDate, o.TotalPrice, kv.Value}
		}, dataset.BroadcastBuild())
	rows := dataset.Join(cust, big, func(c q18Customer) int64 { return c.CustKey }, func(o Q18Order) int64 { return o.CustKey },
		func(c q18Customer, o Q18Order) Q18Row {
			return Q18Row{c.Name, c.CustKey, o.OrderKey, o.OrderDate, o.TotalPrice, float64(o.Qty) / unit2}
		}, dataset.BroadcastBuild())
	return sinkCSV(dataset.TopN(rows, 100, dataset.OrderBy(
		dataset.Desc(func(r Q18Row) float64 { return r.TotalPrice }),
		dataset.Asc(func(r Q18Row) int64 { return r.OrderDate.Unix() })))), nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

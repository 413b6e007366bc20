// Package queries builds the Nexmark queries as floe jobs on the datastream
// API: q0 (pass-through), q1 (currency conversion), q2 (selection), q3
// (local item suggestion: a join), q4 (average price per category), q5 (hot
// items: sliding windows), q7 (highest bid: tumbling windows), q8 (new users:
// a window join), q11 (user sessions: session windows) and q12 (processing-
// time windows). Semantics follow the Nexmark SQL queries; docs/nexmark.md
// says where and why floe's differ.
package queries

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"floe/datastream"
	"floe/internal/nexmark"
)

// ErrUnknownQuery is wrapped by the error for a query floe does not have.
var ErrUnknownQuery = errors.New("nexmark: unknown query")

// Options choose the query and its input.
type Options struct {
	Query  string         // "q0" ... "q12"
	Events int64          // number of events; 0: unbounded
	Rate   float64        // events per second over all subtasks; 0: as fast as possible
	Gen    nexmark.Config // the generator: seed, event-time rate, base time
}

// Names lists the queries in order.
func Names() []string { return slices.Clone(names) }

var names = []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11", "q12"}

// Build adds the query's operators to env and hands its result to sink:
// Discard, JSONFiles, or a function of the caller's.
func Build(env *datastream.Environment, o Options, sink func(Result)) error {
	if !slices.Contains(names, o.Query) {
		return fmt.Errorf("%w %q (have %s)", ErrUnknownQuery, o.Query, strings.Join(names, ", "))
	}
	if err := o.Gen.Validate(); err != nil {
		return err
	}
	if o.Events < 0 || o.Rate < 0 {
		return errors.New("nexmark: events and rate must not be negative")
	}
	ev := Events(env, o)
	switch o.Query {
	case "q0":
		sink(result(bids(ev)))
	case "q1":
		sink(result(Q1(bids(ev))))
	case "q2":
		sink(result(Q2(bids(ev))))
	case "q3":
		sink(result(Q3(persons(ev), auctions(ev))))
	case "q4":
		sink(result(Q4(auctions(ev), bids(ev))))
	case "q5":
		sink(result(Q5(bids(ev))))
	case "q7":
		sink(result(Q7(bids(ev))))
	case "q8":
		sink(result(Q8(persons(ev), auctions(ev))))
	case "q11":
		sink(result(Q11(bids(ev))))
	case "q12":
		sink(result(Q12(bids(ev))))
	}
	return nil
}

// Result is a query's result stream (a datastream.Stream of nexmark.Bid for
// q0, of nexmark.QnRow for qn) with its two standard sinks.
type Result struct {
	Stream    any
	discard   func()
	writeJSON func(dir string, overwrite bool)
	throttled func(delay time.Duration)
	// slowJSON is writeJSON behind the throttle of throttled.
	slowJSON func(dir string, overwrite bool, delay time.Duration)
}

func result[T any](s datastream.Stream[T]) Result {
	return Result{
		Stream:  s,
		discard: func() { datastream.Discard(s).Name("Sink: Blackhole").UID("sink") },
		writeJSON: func(dir string, overwrite bool) {
			if sk := datastream.WriteJSON(s, dir).UID("sink"); overwrite {
				sk.Overwrite()
			}
		},
		slowJSON: func(dir string, overwrite bool, delay time.Duration) {
			slow := datastream.Map(s.Rebalance(), func(v T) T { time.Sleep(delay); return v }).Name("Throttle").UID("throttle")
			if sk := datastream.WriteJSON(slow, dir).UID("sink"); overwrite {
				sk.Overwrite()
			}
		},
		throttled: func(delay time.Duration) {
			// Its own vertex (rebalanced), so that the query's last vertex is back-pressured.
			slow := datastream.Map(s.Rebalance(), func(v T) T { time.Sleep(delay); return v }).Name("Sink: Throttled").UID("throttle")
			datastream.Discard(slow).Name("Sink: Blackhole").UID("sink")
		},
	}
}

// Throttled is the blackhole sink after a wait of delay per result: a slow
// sink, to see back-pressure (the dashboard's tests use it).
func Throttled(delay time.Duration) func(Result) {
	return func(r Result) { r.throttled(delay) }
}

// ThrottledJSONFiles is JSONFiles after a wait of delay per result: a slow
// sink whose output can be checked (the unaligned checkpoints' kill tests).
func ThrottledJSONFiles(dir string, overwrite bool, delay time.Duration) func(Result) {
	return func(r Result) { r.slowJSON(dir, overwrite, delay) }
}

// Discard is the blackhole sink: results are computed and dropped.
func Discard(r Result) { r.discard() }

// JSONFiles writes results to dir as JSON lines, exactly once; overwrite
// replaces an earlier run's files (datastream.Sink.Overwrite).
func JSONFiles(dir string, overwrite bool) func(Result) {
	return func(r Result) { r.writeJSON(dir, overwrite) }
}

// Events is the generator as a source: event n of o.Gen on every run and at
// every parallelism, with event-time timestamps and watermarks. A subtask
// emits its events in increasing number, so their times never decrease.
func Events(env *datastream.Environment, o Options) datastream.Stream[nexmark.Event] {
	gen := o.Gen
	src := datastream.GenerateInto(env, gen.EventInto, datastream.GeneratorOptions{Count: o.Events, RatePerSecond: o.Rate}).
		Name("Source: Nexmark").UID("nexmark-source")
	return datastream.AssignTimestampsAndWatermarksRef(src, func(e *nexmark.Event) int64 { return e.Time() },
		datastream.ForMonotonousTimestamps()).UID("nexmark-timestamps")
}

func bids(ev datastream.Stream[nexmark.Event]) datastream.Stream[nexmark.Bid] {
	return datastream.FlatMapRef(ev, func(e *nexmark.Event, emit func(*nexmark.Bid)) {
		if e.Kind == nexmark.BidKind {
			emit(&e.Bid)
		}
	}).Name("Bids")
}

func auctions(ev datastream.Stream[nexmark.Event]) datastream.Stream[nexmark.Auction] {
	return datastream.FlatMapRef(ev, func(e *nexmark.Event, emit func(*nexmark.Auction)) {
		if e.Kind == nexmark.AuctionKind {
			emit(&e.Auction)
		}
	}).Name("Auctions")
}

func persons(ev datastream.Stream[nexmark.Event]) datastream.Stream[nexmark.Person] {
	return datastream.FlatMapRef(ev, func(e *nexmark.Event, emit func(*nexmark.Person)) {
		if e.Kind == nexmark.PersonKind {
			emit(&e.Person)
		}
	}).Name("Persons")
}

func slimTime(b slimBid) time.Time { return time.UnixMilli(b.DateTime) }

// slimBid is the columns of a bid that Q4, Q5, Q11 and Q12 use: they project
// bids to it before the network, as a SQL planner would.
type slimBid struct {
	Auction, Bidder, Price, DateTime int64
}

func slim(bids datastream.Stream[nexmark.Bid]) datastream.Stream[slimBid] {
	return datastream.Map(bids, func(b nexmark.Bid) slimBid {
		return slimBid{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime}
	}).Name("Project")
}

// Q1 converts every bid's price from dollars to euros.
func Q1(bids datastream.Stream[nexmark.Bid]) datastream.Stream[nexmark.Q1Row] {
	return datastream.Map(bids, func(b nexmark.Bid) nexmark.Q1Row {
		return nexmark.Q1Row{Auction: b.Auction, Bidder: b.Bidder, Price: float64(b.Price*908) / 1000, DateTime: b.DateTime, Extra: b.Extra}
	}).Name("Q1")
}

// Q2 selects the bids on every 123rd auction.
func Q2(bids datastream.Stream[nexmark.Bid]) datastream.Stream[nexmark.Q2Row] {
	return datastream.FlatMap(bids, func(b nexmark.Bid, emit func(nexmark.Q2Row)) {
		if b.Auction%123 == 0 {
			emit(nexmark.Q2Row{Auction: b.Auction, Price: b.Price})
		}
	}).Name("Q2")
}

// Q3 joins the auctions of category 10 with their sellers from OR, ID or CA.
// As the SQL's regular join, it keeps both sides in keyed state for as long
// as a partner may come: a seller's person record and the auctions that came
// before it.
func Q3(persons datastream.Stream[nexmark.Person], auctions datastream.Stream[nexmark.Auction]) datastream.Stream[nexmark.Q3Row] {
	local := persons.Filter(func(p nexmark.Person) bool { return p.State == "OR" || p.State == "ID" || p.State == "CA" })
	cat10 := auctions.Filter(func(a nexmark.Auction) bool { return a.Category == 10 })
	person := datastream.NewValueState[int64, nexmark.Q3Row]("person")
	waiting := datastream.NewListState[int64, int64]("auctions")
	return datastream.CoProcess(datastream.Connect(
		datastream.KeyBy(cat10, func(a nexmark.Auction) int64 { return a.Seller }),
		datastream.KeyBy(local, func(p nexmark.Person) int64 { return p.ID })),
		datastream.CoProcessFunction[nexmark.Auction, nexmark.Person, int64, nexmark.Q3Row]{
			Process1: func(ctx *datastream.KeyedContext[int64], a nexmark.Auction, emit func(nexmark.Q3Row)) {
				if p, ok := person.Value(ctx); ok {
					p.ID = a.ID
					emit(p)
					return
				}
				waiting.Add(ctx, a.ID)
			},
			Process2: func(ctx *datastream.KeyedContext[int64], p nexmark.Person, emit func(nexmark.Q3Row)) {
				row := nexmark.Q3Row{Name: p.Name, City: p.City, State: p.State}
				person.Update(ctx, row)
				for _, id := range waiting.Get(ctx) {
					row.ID = id
					emit(row)
				}
				waiting.Clear(ctx)
			},
		}, person, waiting).Name("Q3").UID("q3-join")
}

// auctionInfo is what Q4 keeps of an auction.
type auctionInfo struct {
	Category, DateTime, Expires int64
	Closed                      bool
}

// bidAt is a bid price and time kept by Q4 until its auction comes.
type bidAt struct {
	Price, DateTime int64
}

// Q4 averages, per category, the winning (highest) bid of each auction
// among the bids made while it was open (DateTime <= bid time <= Expires).
// An auction's winning bid is final when the watermark passes its expiry,
// so it is emitted then; the category's average is updated with it and
// emitted, so a category's last row is its result.
func Q4(auctions datastream.Stream[nexmark.Auction], allBids datastream.Stream[nexmark.Bid]) datastream.Stream[nexmark.Q4Row] {
	bids := slim(allBids)
	type winner struct {
		Category, Price int64
	}
	auction := datastream.NewValueState[int64, auctionInfo]("auction")
	best := datastream.NewValueState[int64, int64]("best")
	early := datastream.NewListState[int64, bidAt]("early")
	open := func(a auctionInfo, t int64) bool { return a.DateTime <= t && t <= a.Expires }
	raise := func(ctx *datastream.KeyedContext[int64], price int64) {
		if b, ok := best.Value(ctx); !ok || price > b {
			best.Update(ctx, price)
		}
	}
	winners := datastream.CoProcess(datastream.Connect(
		datastream.KeyBy(auctions, func(a nexmark.Auction) int64 { return a.ID }),
		datastream.KeyBy(bids, func(b slimBid) int64 { return b.Auction })),
		datastream.CoProcessFunction[nexmark.Auction, slimBid, int64, winner]{
			Process1: func(ctx *datastream.KeyedContext[int64], a nexmark.Auction, _ func(winner)) {
				info := auctionInfo{Category: a.Category, DateTime: a.DateTime, Expires: a.Expires}
				auction.Update(ctx, info)
				for _, b := range early.Get(ctx) {
					if open(info, b.DateTime) {
						raise(ctx, b.Price)
					}
				}
				early.Clear(ctx)
				ctx.RegisterEventTimeTimer(a.Expires)
			},
			Process2: func(ctx *datastream.KeyedContext[int64], b slimBid, _ func(winner)) {
				if a, ok := auction.Value(ctx); ok {
					if !a.Closed && open(a, b.DateTime) {
						raise(ctx, b.Price)
					}
					return
				}
				// The auction has not come yet. It started at or before the
				// bid, so once the watermark passes the bid it never will:
				// one timer, at the earliest such bid, drops them then.
				l := early.Get(ctx)
				if len(l) == 0 {
					ctx.RegisterEventTimeTimer(b.DateTime)
				}
				early.Add(ctx, bidAt{Price: b.Price, DateTime: b.DateTime})
			},
			OnTimer: func(ctx *datastream.KeyedContext[int64], t datastream.Timer, emit func(winner)) {
				a, ok := auction.Value(ctx)
				switch {
				case !ok:
					keep := slices.DeleteFunc(slices.Clone(early.Get(ctx)), func(b bidAt) bool { return b.DateTime <= t.Time })
					if len(keep) == 0 {
						early.Clear(ctx)
						return
					}
					early.Update(ctx, keep)
					ctx.RegisterEventTimeTimer(slices.MinFunc(keep, func(x, y bidAt) int { return cmp.Compare(x.DateTime, y.DateTime) }).DateTime)
				case t.Time == a.Expires && !a.Closed:
					if price, ok := best.Value(ctx); ok {
						emit(winner{Category: a.Category, Price: price})
					}
					best.Clear(ctx)
					// Keep a tombstone for as long again as the auction ran,
					// so that the bids still coming for it are recognised as
					// too late instead of being kept as early.
					a.Closed = true
					auction.Update(ctx, a)
					ctx.RegisterEventTimeTimer(a.Expires + (a.Expires - a.DateTime) + 1)
				case a.Closed && t.Time > a.Expires:
					auction.Clear(ctx)
				}
			},
		}, auction, best, early).Name("Q4 winning bids").UID("q4-winners")

	type avg struct{ Sum, N int64 }
	acc := datastream.NewValueState[int64, avg]("avg")
	return datastream.Process(datastream.KeyBy(winners, func(w winner) int64 { return w.Category }),
		func(ctx *datastream.KeyedContext[int64], w winner, emit func(nexmark.Q4Row)) {
			a, _ := acc.Value(ctx)
			a.Sum += w.Price
			a.N++
			acc.Update(ctx, a)
			emit(nexmark.Q4Row{Category: ctx.Key(), Avg: a.Sum / a.N})
		}, acc).Name("Q4 average").UID("q4-average")
}

func count[T any]() datastream.AggregateFunction[T, int64, int64] {
	return datastream.AggregateFunction[T, int64, int64]{
		Create: func() int64 { return 0 },
		Add:    func(n int64, _ T) int64 { return n + 1 },
		Result: func(n int64) int64 { return n },
		Merge:  func(a, b int64) int64 { return a + b },
	}
}

// Q5 finds, in every 10 s window sliding by 2 s, the auctions with the most
// bids (all of them on a tie).
func Q5(bids datastream.Stream[nexmark.Bid]) datastream.Stream[nexmark.Q5Row] {
	counts := datastream.WindowAggregate(datastream.KeyBy(slim(bids), func(b slimBid) int64 { return b.Auction }).
		Window(datastream.SlidingEventTimeWindows(10*time.Second, 2*time.Second), slimTime), count[slimBid]()).
		Name("Q5 bids per auction").UID("q5-counts")
	top := datastream.NewValueState[int64, int64]("max")
	hot := datastream.NewListState[int64, nexmark.Q5Row]("hot")
	// A window's counts all carry the time End-1 and come before the
	// watermark that passes it: a timer then sees all of them.
	return datastream.KeyedProcess(datastream.KeyBy(counts, func(w datastream.Window[int64, int64]) int64 { return w.Start }),
		datastream.KeyedProcessFunction[datastream.Window[int64, int64], int64, nexmark.Q5Row]{
			ProcessElement: func(ctx *datastream.KeyedContext[int64], w datastream.Window[int64, int64], _ func(nexmark.Q5Row)) {
				m, ok := top.Value(ctx)
				switch {
				case !ok || w.Value > m:
					top.Update(ctx, w.Value)
					hot.Update(ctx, []nexmark.Q5Row{{Auction: w.Key, Num: w.Value}})
					ctx.RegisterEventTimeTimer(w.End - 1)
				case w.Value == m:
					hot.Add(ctx, nexmark.Q5Row{Auction: w.Key, Num: w.Value})
				}
			},
			OnTimer: func(ctx *datastream.KeyedContext[int64], _ datastream.Timer, emit func(nexmark.Q5Row)) {
				for _, r := range hot.Get(ctx) {
					emit(r)
				}
				top.Clear(ctx)
				hot.Clear(ctx)
			},
		}, top, hot).Name("Q5 hottest").UID("q5-hottest")
}

// highest is Q7's accumulator: the highest price of a window and its bids.
type highest struct {
	Price int64
	Bids  []nexmark.Q7Row
}

// Q7 emits, for every 10 s tumbling window, the bids with its highest price.
// Bids are projected to the columns of its result before they cross to the
// window (the channel and URL are two thirds of a bid's strings), as a SQL
// planner would.
func Q7(bids datastream.Stream[nexmark.Bid]) datastream.Stream[nexmark.Q7Row] {
	rows := datastream.Map(bids, func(b nexmark.Bid) nexmark.Q7Row {
		return nexmark.Q7Row{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra}
	}).Name("Project")
	maxima := datastream.WindowAggregate(datastream.WindowAll(rows, datastream.TumblingEventTimeWindows(10*time.Second),
		func(r nexmark.Q7Row) time.Time { return time.UnixMilli(r.DateTime) }),
		datastream.AggregateFunction[nexmark.Q7Row, highest, highest]{
			Create: func() highest { return highest{Price: -1} },
			Add: func(h highest, b nexmark.Q7Row) highest {
				switch {
				case b.Price > h.Price:
					return highest{Price: b.Price, Bids: []nexmark.Q7Row{b}}
				case b.Price == h.Price:
					h.Bids = append(h.Bids, b)
				}
				return h
			},
			Result: func(h highest) highest { return h },
		}).Name("Q7 highest").UID("q7-highest")
	return datastream.FlatMap(maxima, func(w datastream.Window[datastream.NoKey, highest], emit func(nexmark.Q7Row)) {
		for _, r := range w.Value.Bids {
			emit(r)
		}
	}).Name("Q7")
}

// seller is what Q8 keeps of an auction.
type seller struct {
	Seller, DateTime int64
}

// Q8 finds the people who opened an auction in the same 10 s tumbling window
// in which they registered.
func Q8(persons datastream.Stream[nexmark.Person], auctions datastream.Stream[nexmark.Auction]) datastream.Stream[nexmark.Q8Row] {
	sellers := datastream.Map(auctions, func(a nexmark.Auction) seller { return seller{Seller: a.Seller, DateTime: a.DateTime} })
	type who struct {
		ID       int64
		Name     string
		DateTime int64
	}
	people := datastream.Map(persons, func(p nexmark.Person) who { return who{ID: p.ID, Name: p.Name, DateTime: p.DateTime} })
	return datastream.WindowCoGroup(
		datastream.KeyBy(people, func(p who) int64 { return p.ID }),
		datastream.KeyBy(sellers, func(s seller) int64 { return s.Seller }),
		datastream.TumblingEventTimeWindows(10*time.Second),
		func(p who) time.Time { return time.UnixMilli(p.DateTime) },
		func(s seller) time.Time { return time.UnixMilli(s.DateTime) },
		func(ctx *datastream.WindowContext[int64], ps []who, ss []seller, emit func(nexmark.Q8Row)) {
			if len(ss) == 0 {
				return
			}
			seen := map[string]bool{}
			for _, p := range ps {
				if !seen[p.Name] {
					seen[p.Name] = true
					emit(nexmark.Q8Row{ID: p.ID, Name: p.Name, StartTime: ctx.Window().Start})
				}
			}
		}).Name("Q8").UID("q8-join")
}

// Q11 counts each bidder's bids per session (bids less than 10 s apart).
func Q11(bids datastream.Stream[nexmark.Bid]) datastream.Stream[nexmark.Q11Row] {
	sessions := datastream.WindowAggregate(datastream.KeyBy(slim(bids), func(b slimBid) int64 { return b.Bidder }).
		Window(datastream.EventTimeSessionWindows(10*time.Second), slimTime), count[slimBid]()).
		Name("Q11 sessions").UID("q11-sessions")
	return datastream.Map(sessions, func(w datastream.Window[int64, int64]) nexmark.Q11Row {
		return nexmark.Q11Row{Bidder: w.Key, BidCount: w.Value, StartTime: w.Start, EndTime: w.End}
	}).Name("Q11")
}

// Q12 counts each bidder's bids in 10 s tumbling windows of processing time.
func Q12(bids datastream.Stream[nexmark.Bid]) datastream.Stream[nexmark.Q12Row] {
	windows := datastream.WindowAggregate(datastream.KeyBy(slim(bids), func(b slimBid) int64 { return b.Bidder }).
		Window(datastream.TumblingProcessingTimeWindows(10*time.Second), nil), count[slimBid]()).
		Name("Q12 windows").UID("q12-windows")
	return datastream.Map(windows, func(w datastream.Window[int64, int64]) nexmark.Q12Row {
		return nexmark.Q12Row{Bidder: w.Key, BidCount: w.Value, StartTime: w.Start, EndTime: w.End}
	}).Name("Q12")
}

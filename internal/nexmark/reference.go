package nexmark

import (
	"encoding/json"
	"slices"
	"sort"
)

// Plain-Go computations of the queries over a complete, bounded set of
// events, for tests: simple loops and maps, none of floe's operators, so
// that they check the streaming implementation independently. Their results
// do not depend on the order of the events.

func filterBids(evs []Event) []Bid {
	var bids []Bid
	for _, e := range evs {
		if e.Kind == BidKind {
			bids = append(bids, e.Bid)
		}
	}
	return bids
}

// RefQ0 is every bid.
func RefQ0(evs []Event) []Bid { return filterBids(evs) }

// RefQ1 is every bid with its price times 0.908.
func RefQ1(evs []Event) []Q1Row {
	var rows []Q1Row
	for _, b := range filterBids(evs) {
		rows = append(rows, Q1Row{Auction: b.Auction, Bidder: b.Bidder, Price: float64(b.Price*908) / 1000, DateTime: b.DateTime, Extra: b.Extra})
	}
	return rows
}

// RefQ2 is the bids on auctions whose id is a multiple of 123.
func RefQ2(evs []Event) []Q2Row {
	var rows []Q2Row
	for _, b := range filterBids(evs) {
		if b.Auction%123 == 0 {
			rows = append(rows, Q2Row{Auction: b.Auction, Price: b.Price})
		}
	}
	return rows
}

// RefQ3 joins auctions of category 10 with sellers from OR, ID or CA.
func RefQ3(evs []Event) []Q3Row {
	people := map[int64]Person{}
	for _, e := range evs {
		if e.Kind == PersonKind && (e.Person.State == "OR" || e.Person.State == "ID" || e.Person.State == "CA") {
			people[e.Person.ID] = e.Person
		}
	}
	var rows []Q3Row
	for _, e := range evs {
		if e.Kind != AuctionKind || e.Auction.Category != 10 {
			continue
		}
		if p, ok := people[e.Auction.Seller]; ok {
			rows = append(rows, Q3Row{Name: p.Name, City: p.City, State: p.State, ID: e.Auction.ID})
		}
	}
	return rows
}

// RefQ4 is, per category, the truncated average over its auctions of the
// highest bid made while the auction was open (both ends included);
// auctions without such a bid do not count.
func RefQ4(evs []Event) []Q4Row {
	auctions := map[int64]Auction{}
	for _, e := range evs {
		if e.Kind == AuctionKind {
			auctions[e.Auction.ID] = e.Auction
		}
	}
	best := map[int64]int64{}
	for _, b := range filterBids(evs) {
		a, ok := auctions[b.Auction]
		if !ok || b.DateTime < a.DateTime || b.DateTime > a.Expires {
			continue
		}
		if p, ok := best[a.ID]; !ok || b.Price > p {
			best[a.ID] = b.Price
		}
	}
	sum, n := map[int64]int64{}, map[int64]int64{}
	for id, p := range best {
		c := auctions[id].Category
		sum[c] += p
		n[c]++
	}
	var rows []Q4Row
	for c := range sum {
		rows = append(rows, Q4Row{Category: c, Avg: sum[c] / n[c]})
	}
	slices.SortFunc(rows, func(a, b Q4Row) int { return int(a.Category - b.Category) })
	return rows
}

func floorTo(t, size int64) int64 {
	m := t % size
	if m < 0 {
		m += size
	}
	return t - m
}

// RefQ5 is, per 10 s window sliding by 2 s, the auctions with the most bids.
func RefQ5(evs []Event) []Q5Row {
	counts := map[int64]map[int64]int64{} // window start -> auction -> bids
	for _, b := range filterBids(evs) {
		for s := floorTo(b.DateTime, 2000); s > b.DateTime-10000; s -= 2000 {
			if counts[s] == nil {
				counts[s] = map[int64]int64{}
			}
			counts[s][b.Auction]++
		}
	}
	var rows []Q5Row
	for _, byAuction := range counts {
		var top int64
		for _, c := range byAuction {
			top = max(top, c)
		}
		for a, c := range byAuction {
			if c == top {
				rows = append(rows, Q5Row{Auction: a, Num: c})
			}
		}
	}
	return rows
}

// RefQ7 is, per 10 s tumbling window, the bids with its highest price.
func RefQ7(evs []Event) []Q7Row {
	top := map[int64]int64{}
	bids := filterBids(evs)
	for _, b := range bids {
		w := floorTo(b.DateTime, 10000)
		if p, ok := top[w]; !ok || b.Price > p {
			top[w] = b.Price
		}
	}
	var rows []Q7Row
	for _, b := range bids {
		if b.Price == top[floorTo(b.DateTime, 10000)] {
			rows = append(rows, Q7Row{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra})
		}
	}
	return rows
}

// RefQ8 is the people who opened an auction in the 10 s tumbling window in
// which they registered.
func RefQ8(evs []Event) []Q8Row {
	type key struct{ id, window int64 }
	sold := map[key]bool{}
	for _, e := range evs {
		if e.Kind == AuctionKind {
			sold[key{e.Auction.Seller, floorTo(e.Auction.DateTime, 10000)}] = true
		}
	}
	seen := map[Q8Row]bool{}
	var rows []Q8Row
	for _, e := range evs {
		if e.Kind != PersonKind {
			continue
		}
		w := floorTo(e.Person.DateTime, 10000)
		r := Q8Row{ID: e.Person.ID, Name: e.Person.Name, StartTime: w}
		if sold[key{e.Person.ID, w}] && !seen[r] {
			seen[r] = true
			rows = append(rows, r)
		}
	}
	return rows
}

// RefQ11 is each bidder's sessions: bids less than 10 s apart, from the
// first bid to 10 s after the last.
func RefQ11(evs []Event) []Q11Row {
	times := map[int64][]int64{}
	for _, b := range filterBids(evs) {
		times[b.Bidder] = append(times[b.Bidder], b.DateTime)
	}
	var rows []Q11Row
	for bidder, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		cur := Q11Row{Bidder: bidder, BidCount: 1, StartTime: ts[0], EndTime: ts[0] + 10000}
		for _, t := range ts[1:] {
			if t < cur.EndTime {
				cur.BidCount++
				cur.EndTime = t + 10000
				continue
			}
			rows = append(rows, cur)
			cur = Q11Row{Bidder: bidder, BidCount: 1, StartTime: t, EndTime: t + 10000}
		}
		rows = append(rows, cur)
	}
	return rows
}

// RefQ12BidCounts is the number of bids per bidder: all of q12 that does
// not depend on the wall clock.
func RefQ12BidCounts(evs []Event) map[int64]int64 {
	n := map[int64]int64{}
	for _, b := range filterBids(evs) {
		n[b.Bidder]++
	}
	return n
}

// Canonical encodes each row as JSON (with the rows' tags) and sorts them,
// so results compare as multisets.
func Canonical[T any](rows []T) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

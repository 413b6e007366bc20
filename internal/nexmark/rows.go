package nexmark

// Result rows of the queries. JSON keys are the lower-cased names of the
// Nexmark SQL queries' select lists; times are epoch milliseconds.

// Q1Row is a bid with its price converted from dollars to euros (0.908).
type Q1Row struct {
	Auction  int64   `json:"auction"`
	Bidder   int64   `json:"bidder"`
	Price    float64 `json:"price"`
	DateTime int64   `json:"datetime"`
	Extra    string  `json:"extra"`
}

// Q2Row is a bid on one of the selected auctions (auction % 123 == 0).
type Q2Row struct {
	Auction int64 `json:"auction"`
	Price   int64 `json:"price"`
}

// Q3Row is an auction of category 10 by a seller from OR, ID or CA.
type Q3Row struct {
	Name  string `json:"name"`
	City  string `json:"city"`
	State string `json:"state"`
	ID    int64  `json:"id"`
}

// Q4Row is the average winning price of a category's auctions so far; the
// query emits a new row for the category whenever one of its auctions closes,
// so a category's last row is its result.
type Q4Row struct {
	Category int64 `json:"category"`
	Avg      int64 `json:"avg"`
}

// Q5Row is an auction with the most bids in a 10 s window sliding by 2 s.
type Q5Row struct {
	Auction int64 `json:"auction"`
	Num     int64 `json:"num"`
}

// Q7Row is a bid with the highest price in its 10 s tumbling window.
type Q7Row struct {
	Auction  int64  `json:"auction"`
	Price    int64  `json:"price"`
	Bidder   int64  `json:"bidder"`
	DateTime int64  `json:"datetime"`
	Extra    string `json:"extra"`
}

// Q8Row is a person who opened an auction in the 10 s tumbling window in
// which they registered.
type Q8Row struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	StartTime int64  `json:"starttime"`
}

// Q11Row is a bidder's session: bids no more than 10 s apart.
type Q11Row struct {
	Bidder    int64 `json:"bidder"`
	BidCount  int64 `json:"bid_count"`
	StartTime int64 `json:"starttime"`
	EndTime   int64 `json:"endtime"`
}

// Q12Row is a bidder's bid count in a 10 s processing-time window.
type Q12Row struct {
	Bidder    int64 `json:"bidder"`
	BidCount  int64 `json:"bid_count"`
	StartTime int64 `json:"starttime"`
	EndTime   int64 `json:"endtime"`
}

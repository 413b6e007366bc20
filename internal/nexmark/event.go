package nexmark

// Kind says which of an Event's three records is set.
type Kind int8

// The kinds of Nexmark events.
const (
	PersonKind  Kind = 0
	AuctionKind Kind = 1
	BidKind     Kind = 2
)

// Person is a new user of the auction site. Times are epoch milliseconds.
type Person struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	EmailAddress string `json:"emailaddress"`
	CreditCard   string `json:"creditcard"`
	City         string `json:"city"`
	State        string `json:"state"`
	DateTime     int64  `json:"datetime"`
	Extra        string `json:"extra"`
}

// Auction is an item put up for sale by Seller until Expires.
type Auction struct {
	ID          int64  `json:"id"`
	ItemName    string `json:"itemname"`
	Description string `json:"description"`
	InitialBid  int64  `json:"initialbid"`
	Reserve     int64  `json:"reserve"`
	DateTime    int64  `json:"datetime"`
	Expires     int64  `json:"expires"`
	Seller      int64  `json:"seller"`
	Category    int64  `json:"category"`
	Extra       string `json:"extra"`
}

// Bid is a bid of Bidder on Auction, in cents.
type Bid struct {
	Auction  int64  `json:"auction"`
	Bidder   int64  `json:"bidder"`
	Price    int64  `json:"price"`
	Channel  string `json:"channel"`
	URL      string `json:"url"`
	DateTime int64  `json:"datetime"`
	Extra    string `json:"extra"`
}

// Event is one generated event: the record of its Kind is set, the other two
// are zero. (The codec has no pointers; zero records cost a few bytes of
// column offsets, and queries drop to one record type at their source.)
type Event struct {
	Kind    Kind
	Person  Person
	Auction Auction
	Bid     Bid
}

// Time is the event's time in epoch milliseconds.
func (e Event) Time() int64 {
	switch e.Kind {
	case PersonKind:
		return e.Person.DateTime
	case AuctionKind:
		return e.Auction.DateTime
	}
	return e.Bid.DateTime
}

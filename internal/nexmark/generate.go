package nexmark

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
)

// Config fixes an event stream: the same Config gives the same events,
// times included, on every run and at every parallelism.
type Config struct {
	Seed uint64
	// EventRate is the number of events per second of event time: event n
	// happens n/EventRate seconds after BaseTime.
	EventRate float64
	// BaseTime is the time of event 0, in epoch milliseconds.
	BaseTime int64
}

// DefaultBaseTime is 2015-07-15T00:00:00Z, the base time of event 0 unless
// configured otherwise. It is fixed, never the wall clock.
const DefaultBaseTime = 1436918400000

// DefaultConfig is seed 0, 10,000 events per second of event time.
func DefaultConfig() Config {
	return Config{EventRate: 10_000, BaseTime: DefaultBaseTime}
}

// ErrConfig is wrapped by errors about a bad Config.
var ErrConfig = errors.New("nexmark: bad generator config")

// Validate reports a configuration the generator cannot use.
func (c Config) Validate() error {
	if !(c.EventRate > 0) || math.IsInf(c.EventRate, 0) {
		return fmt.Errorf("%w: event rate %v: want a positive number of events per second", ErrConfig, c.EventRate)
	}
	return nil
}

// Time is event n's time in epoch milliseconds.
func (c Config) Time(n int64) int64 {
	return c.BaseTime + int64(float64(n)*1000/c.EventRate)
}

// The Nexmark model's constants (as in the Beam and Flink generators).
const (
	personShare  = 1
	auctionShare = 3
	bidShare     = 46
	totalShare   = personShare + auctionShare + bidShare

	firstPersonID   = 1000
	firstAuctionID  = 1000
	firstCategoryID = 10
	numCategories   = 5

	activePeople      = 1000 // bids and auctions come from the most recent people
	inFlightAuctions  = 100  // bids go to the most recent auctions
	hotAuctionRatio   = 2    // 1 in 2 bids goes to the hottest auction
	hotSellerRatio    = 4
	hotBidderRatio    = 4
	hotChannelRatio   = 2
	channels          = 10_000
	avgPersonBytes    = 200
	avgAuctionBytes   = 500
	avgBidBytes       = 100
	fixedBidBytes     = 8 * 4 // auction, bidder, price, datetime
	fixedAuctionBytes = 8 * 6 // id, initial bid, reserve, datetime, expires, seller + category counted below
)

// Event returns event n (n >= 0): a pure function of c and n.
func (c Config) Event(n int64) Event {
	var e Event
	c.EventInto(n, &e)
	return e
}

// EventInto sets *e to event n, as Event(n) returns it, without building the
// ~300-byte event on the stack and copying it: a source that reuses one
// variable pays for the fields of one record only. The records of the other
// two kinds are zeroed if they were set (each kind's record is set whole).
func (c Config) EventInto(n int64, e *Event) {
	r := newRand(c.Seed, n)
	t := c.Time(n)
	kind := BidKind
	epoch, rem := uint64(n)/totalShare, uint64(n)%totalShare // n >= 0: unsigned, fewer instructions
	switch {
	case rem < personShare:
		kind = PersonKind
	case rem < personShare+auctionShare:
		kind = AuctionKind
	}
	if e.Kind != kind {
		*e = Event{} // the record set before is not this kind's: zero it
	}
	e.Kind = kind
	switch kind {
	case PersonKind:
		c.person(n, t, &r, &e.Person)
	case AuctionKind:
		c.auction(n, t, &r, &e.Auction)
	default:
		c.bid(int64(epoch), t, &r, &e.Bid)
	}
}

// lastPerson is the base-0 id of the latest person at or before event n.
func lastPerson(n int64) int64 {
	epoch, off := n/totalShare, n%totalShare
	if off >= personShare {
		off = personShare - 1
	}
	return epoch*personShare + off
}

// lastAuction is the base-0 id of the latest auction at or before event n
// (-1 before the first).
func lastAuction(n int64) int64 {
	epoch, off := n/totalShare, n%totalShare
	switch {
	case off < personShare:
		epoch--
		off = auctionShare - 1
	case off >= personShare+auctionShare:
		off = auctionShare - 1
	default:
		off -= personShare
	}
	return epoch*auctionShare + off
}

// recentPerson picks one of the most recent people at event n.
func recentPerson(n int64, r *rng) int64 { return recentPersonOf(lastPerson(n), r.next()>>1) }

// recentPersonOf is the recent person of the draw x (r.next()>>1) when
// last is the latest person.
func recentPersonOf(last int64, x uint64) int64 {
	num := last + 1
	active := min(num, activePeople)
	return num - active + int64(x%uint64(active))
}

// recentAuctionOf is the auction in flight of the draw x (r.next()>>1)
// when last (>= 0) is the latest auction.
func recentAuctionOf(last int64, x uint64) int64 {
	lo := max(last-inFlightAuctions, 0)
	return lo + int64(x%uint64(last-lo+1))
}

var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	// fullNames are first+" "+last, at first*len(lastNames)+last: a name
	// costs no allocation.
	fullNames = func() []string {
		t := make([]string, 0, len(firstNames)*len(lastNames))
		for _, f := range firstNames {
			for _, l := range lastNames {
				t = append(t, f+" "+l)
			}
		}
		return t
	}()
)

func (c Config) person(n, t int64, r *rng, p *Person) {
	*p = Person{ID: lastPerson(n) + firstPersonID, DateTime: t}
	first := r.intn(len(firstNames))
	p.Name = fullNames[first*len(lastNames)+r.intn(len(lastNames))]
	// The e-mail address and the credit card number share one allocation.
	user, host := r.str(7), r.str(5)
	var buf [6 + 1 + 4 + 4 + 19]byte // str(7) and str(5) are at most 6 and 4 letters
	k := copy(buf[:], user)
	buf[k] = '@'
	k++
	k += copy(buf[k:], host)
	k += copy(buf[k:], ".com")
	cc := buf[k : k+19]
	for i := range cc {
		if i%5 == 4 {
			cc[i] = ' '
		} else {
			cc[i] = byte('0' + r.intn(10))
		}
	}
	both := string(buf[:k+19])
	p.EmailAddress, p.CreditCard = both[:k], both[k:]
	p.City = usCities[r.intn(len(usCities))]
	p.State = usStates[r.intn(len(usStates))]
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + 8
	p.Extra = r.extra(size, avgPersonBytes)
}

func (c Config) auction(n, t int64, r *rng, a *Auction) {
	*a = Auction{ID: lastAuction(n) + firstAuctionID, DateTime: t}
	if r.intn(hotSellerRatio) > 0 {
		a.Seller = lastPerson(n) / hotSellerRatio * hotSellerRatio // the hottest seller
	} else {
		a.Seller = recentPerson(n, r)
	}
	a.Seller += firstPersonID
	a.Category = firstCategoryID + int64(r.intn(numCategories))
	a.InitialBid = priceOfDraw(r.next() >> 11)
	a.Reserve = a.InitialBid + priceOfDraw(r.next()>>11)
	a.Expires = t + c.auctionLength(n, t, r)
	a.ItemName = r.str(20)
	a.Description = r.str(100)
	size := fixedAuctionBytes + 16 + len(a.ItemName) + len(a.Description)
	a.Extra = r.extra(size, avgAuctionBytes)
}

// auctionLength is an auction's duration in ms: on average the time until
// inFlightAuctions more auctions have been generated, so about that many are
// open at once whatever the event rate.
func (c Config) auctionLength(n, t int64, r *rng) int64 {
	ahead := int64(inFlightAuctions * totalShare / auctionShare)
	horizon := c.Time(n+ahead) - t
	return 1 + r.int63n(max(horizon*2, 1))
}

// bid sets *b. epoch is the bid's n/totalShare: a bid comes after the
// epoch's people and auctions, so lastAuction(n) and lastPerson(n) are
// the epoch's last.
//
// It draws from q, a copy of the event's rng that stays in a register: it
// calls nothing that takes its address (each call would also cost bid its
// other registers, so the extra is made here, not by r.extra, and
// priceOfDraw's fast path is copied in).
func (c Config) bid(epoch, t int64, r *rng, b *Bid) {
	q := *r
	lastA := epoch*auctionShare + auctionShare - 1
	lastP := epoch*personShare + personShare - 1
	b.DateTime = t
	if q.intn(hotAuctionRatio) > 0 {
		b.Auction = lastA / hotAuctionRatio * hotAuctionRatio // the hottest auction
	} else {
		b.Auction = recentAuctionOf(lastA, q.next()>>1)
	}
	b.Auction += firstAuctionID
	if q.intn(hotBidderRatio) > 0 {
		// The hottest bidder; never a person not generated yet.
		b.Bidder = min(lastP/hotBidderRatio*hotBidderRatio+1, lastP)
	} else {
		b.Bidder = recentPersonOf(lastP, q.next()>>1)
	}
	b.Bidder += firstPersonID
	// priceOfDraw(m), its fast path in line: a call costs bid its registers.
	m := q.next() >> 11
	v, inTable := priceApprox(float64(int64(m)) * drawScale)
	p, ok := priceRound(v)
	if !ok || !inTable {
		p = priceExact(drawY(m))
	}
	b.Price = p
	var ch *channel
	if q.intn(hotChannelRatio) > 0 {
		ch = &hotChannels[q.intn(len(hotChannels))]
	} else {
		ch = &channelTable()[q.intn(channels)]
	}
	b.Channel, b.URL = ch.name, ch.url
	// As q.extra(size, avgBidBytes), with extraLength's arithmetic done
	// once per size.
	b.Extra = ""
	if size := fixedBidBytes + len(ch.name) + len(ch.url); size < len(bidExtras) {
		if e := &bidExtras[size]; e.ok {
			ln := e.base
			if e.span > 0 {
				ln += q.intn(e.span)
			}
			off := q.intn(len(letters) - ln) // as q.exact(ln)
			b.Extra = letters[off : off+ln]
		}
	}
	*r = q
}

// hotChannels are the channels of half the bids.
var hotChannels = [...]channel{
	{"Google", "https://www.nexmark.com/googl/item.htm?query=1"},
	{"Facebook", "https://www.nexmark.com/faceb/item.htm?query=1"},
	{"Baidu", "https://www.nexmark.com/baidu/item.htm?query=1"},
	{"Apple", "https://www.nexmark.com/apple/item.htm?query=1"},
}

// channel is one of the other channels, its name next to its URL so that a
// bid reads one cache line of the table, not one in each of two.
type channel struct{ name, url string }

// channelTable is the fixed set of other channels and their URLs, made on
// first use so that bids allocate nothing for them. (A pointer loaded
// atomically: sync.OnceValue's call through a closure cost 6 % of q0.)
func channelTable() []channel {
	if t := channelTab.Load(); t != nil {
		return *t
	}
	return makeChannelTable()
}

var (
	channelTab  atomic.Pointer[[]channel]
	channelOnce sync.Once
)

func makeChannelTable() []channel {
	channelOnce.Do(func() {
		t := make([]channel, 0, channels)
		r := newRand(0x6e65786d61726b, 0) // "nexmark": the table is the same for every seed
		for i := range channels {
			id := strconv.Itoa(i)
			name := "channel-" + id
			t = append(t, channel{name: name, url: "https://www.nexmark.com/" + r.str(5) + "/" + r.str(5) + "/item.htm?query=1&channel_id=" + id})
		}
		channelTab.Store(&t)
	})
	return *channelTab.Load()
}

// letters is random lower-case text that generated strings are cut from:
// a substring costs no allocation.
var letters = func() string {
	r := newRand(0x6c657474657273, 0)
	b := make([]byte, 1<<16)
	for i := range b {
		if r.intn(13) == 0 {
			b[i] = ' '
		} else {
			b[i] = byte('a' + r.intn(26))
		}
	}
	return string(b)
}()

// rng is splitmix64: tiny, fast, and seeded per event.
type rng struct{ s uint64 }

func newRand(seed uint64, n int64) rng {
	r := rng{s: seed ^ (uint64(n)+1)*0x9e3779b97f4a7c15}
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// int63n is uniform in [0, n), n > 0 (the modulo bias is below 2^-40 for
// the n used here).
func (r *rng) int63n(n int64) int64 { return int64(r.next()>>1) % n }

func (r *rng) intn(n int) int { return int(r.int63n(int64(n))) }

func (r *rng) float64() float64 { return float64(r.next()>>11) / (1 << 53) }

// priceOfDraw is Nexmark's price in cents for the draw m = r.next()>>11:
// 10^(0..6) dollars, log-uniform, round(exp(y)·100) for y = x·6·ln 10, x
// = m/2^53 uniform in [0, 1) as (*rng).float64 gives it: priceOf(drawY(m)),
// but with y·256 taken from m in one multiplication. (A function of the
// draw, not a method of rng: bid keeps its rng in a register.)
func priceOfDraw(m uint64) int64 {
	// float64(m)·drawScale is y·256 within 6·2^-53 relative (three
	// roundings of y and one of this product and of drawScale): below
	// 3537·6·2^-53 < 2^-38 absolute, an error in exp's argument of
	// 2^-46 (relative in the result), inside priceApprox's bound.
	v, inTable := priceApprox(float64(int64(m)) * drawScale)
	if p, ok := priceRound(v); ok && inTable {
		return p
	}
	return priceExact(drawY(m))
}

// drawY is the y of the draw m.
func drawY(m uint64) float64 { return float64(m) / (1 << 53) * 6 * math.Ln10 }

// drawScale turns a draw m into y·256.
const drawScale = 6 * math.Ln10 * 256 / (1 << 53)

// priceOf is math.Round(math.Exp(y)*100) for y in [0, 6·ln 10], the same
// integer, for every y: see priceRound.
func priceOf(y float64) int64 {
	v, inTable := priceApprox(y * 256) // y·256 is exact
	if p, ok := priceRound(v); ok && inTable {
		return p
	}
	return priceExact(y)
}

// priceExact is the price as math.Exp gives it, the definition.
func priceExact(y float64) int64 { return int64(math.Round(math.Exp(y) * 100)) }

// roundMagic is 1.5·2^52: for |x| < 2^51, x+roundMagic is x rounded to an
// integer (to nearest, ties to even) in the low bits of the mantissa, and
// (x+roundMagic)-roundMagic is that integer as a float64, exactly.
const (
	roundMagic     = 0x1.8p52
	roundMagicBits = 0x4338000000000000
)

// priceRound is round(v) for v = priceApprox(y·256), the same as
// priceExact(y), where ok. ok is false where v is too close to a half
// cent for it to be sure to round as priceExact does (about one price in
// 20,000: 2·2^-38·v on average over the log-uniform v); the caller takes
// math.Exp then. With the table and the polynomial, about three times
// cheaper than math.Exp.
//
// Why the two agree when ok: let X = 100·exp(y) exactly, v priceApprox's
// approximation of it and w = math.Exp(y)*100 as priceExact computes it.
//   - |v-X| <= 2^-40.5·X: the Taylor polynomial's truncation error is at
//     most (2^-9)^4/24·e^(2^-9) < 2^-40.58 (|x/256| <= 2^-9); the table
//     entry is within 2^-48 relative (as w below), the polynomial's and
//     the final sum's roundings below 2^-52, and an error of ym
//     (priceOfDraw) below 2^-46: in all below 2^-40.5.
//   - |w-X| <= 2^-48·X, allowing math.Exp 15 ulps (it is within one or
//     two) and the product's rounding.
//
// So |v-w| < 2^-40·X < 2^-39·v. If round(v) and round(w) differed, a half
// integer would lie between v and w, within 2^-39·v of v; priceRound
// gives up when v is within 2^-38·v of a half integer. Otherwise v rounds
// like w, and the rounding of v itself (v+roundMagic) is exact to the
// nearest integer as v < 2^51. TestPriceApproxBound checks the bound of
// |v-X| on millions of draws; TestPriceOf and TestPriceOfDraw check the
// results there and next to every seam of the table and half cent.
func priceRound(v float64) (int64, bool) {
	t := v + roundMagic
	f := v - (t - roundMagic) // exact: v's distance to the nearest integer
	return int64(math.Float64bits(t) - roundMagicBits), 0.5-math.Abs(f) > v*0x1p-38
}

// priceApprox is 100·exp(ym/256) within 2^-40.5 relative (a table of
// 100·exp(h/256) for the nearest integer h and a degree-3 polynomial of
// exp(x/256), x = ym-h in [-1/2, 1/2]), and whether round(ym) is in the
// table's range [0, 3537] (if not, v is 0).
func priceApprox(ym float64) (v float64, ok bool) {
	t := ym + roundMagic
	h := math.Float64bits(t) - roundMagicBits // round(ym), or huge out of range
	if h >= uint64(len(priceTable)) {
		return 0, false
	}
	x := ym - (t - roundMagic) // exact: in [-1/2, 1/2]
	// exp(x/256) - 1, Taylor to x³: the powers of 1/256 in the coefficients.
	p := x*0x1p-8 + (x*x)*(0x1p-17+x*(1.0/6/(1<<24)))
	e := priceTable[h]
	return e + e*p, true
}

// priceTable holds 100·exp(h/256) for h up to round(6·ln 10·256) = 3537
// (TestPriceOf checks the length).
var priceTable = func() (t [3538]float64) {
	for h := range t {
		t[h] = math.Exp(float64(h)/256) * 100
	}
	return t
}()

// str is a string of 3 to maxLen-1 letters.
func (r *rng) str(maxLen int) string { return r.exact(3 + r.intn(maxLen-3)) }

// exact is a string of n letters.
func (r *rng) exact(n int) string {
	off := r.intn(len(letters) - n)
	return letters[off : off+n]
}

// extra pads a record of size bytes towards an average of avg bytes, with a
// spread of 20% either way.
func (r *rng) extra(size, avg int) string {
	base, span, ok := extraLength(size, avg)
	if !ok {
		return ""
	}
	n := base
	if span > 0 {
		n += r.intn(span)
	}
	return r.exact(n)
}

// extraLength is the length of extra's padding: base plus a draw below
// span if span > 0; ok is false if there is none (and nothing is drawn).
func extraLength(size, avg int) (base, span int, ok bool) {
	if size >= avg {
		return 0, 0, false
	}
	want := avg - size
	delta := int(math.Round(float64(want) * 0.2))
	return want - delta, 2 * delta, true
}

// extraPlan is extraLength's result for one size.
type extraPlan struct {
	base, span int
	ok         bool
}

// bidExtras are the plans of bids' extras by record size, below
// avgBidBytes (at and above it there is no extra).
var bidExtras = func() (t [avgBidBytes]extraPlan) {
	for size := range t {
		base, span, ok := extraLength(size, avgBidBytes)
		t[size] = extraPlan{base: base, span: span, ok: ok}
	}
	return t
}()

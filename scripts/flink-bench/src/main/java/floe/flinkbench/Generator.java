package floe.flinkbench;

import java.util.ArrayList;
import java.util.List;

/**
 * The Nexmark generator of floe (internal/nexmark/generate.go) in Java, so
 * that Flink and floe process the same events: event n is a function of the
 * seed and n only.
 */
public final class Generator {
  public static final long BASE_TIME = 1436918400000L;

  public static final class Person {
    public long id; public String name, emailAddress, creditCard, city, state; public long dateTime; public String extra;
  }
  public static final class Auction {
    public long id; public String itemName, description; public long initialBid, reserve, dateTime, expires, seller, category; public String extra;
  }
  public static final class Bid {
    public long auction, bidder, price; public String channel, url; public long dateTime; public String extra;
  }
  /** One of person, auction, bid is set, by kind (0, 1, 2). */
  public static final class Event {
    public byte kind; public Person person; public Auction auction; public Bid bid;
    public long time() { return kind == 0 ? person.dateTime : kind == 1 ? auction.dateTime : bid.dateTime; }
  }

  private static final int PERSON = 1, AUCTION = 3, TOTAL = 50;
  private static final String[] STATES = {"AZ", "CA", "ID", "OR", "WA", "WY"};
  private static final String[] CITIES = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"};
  private static final String[] FIRST = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
  private static final String[] LAST = {"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
  private static final String[] HOT_CHANNELS = {"Google", "Facebook", "Baidu", "Apple"};
  private static final String[] HOT_URLS = {
    "https://www.nexmark.com/googl/item.htm?query=1", "https://www.nexmark.com/faceb/item.htm?query=1",
    "https://www.nexmark.com/baidu/item.htm?query=1", "https://www.nexmark.com/apple/item.htm?query=1"};
  private static final String LETTERS;
  private static final String[] CHANNEL_NAMES = new String[10_000], CHANNEL_URLS = new String[10_000];

  static {
    Rng r = new Rng(0x6c657474657273L, 0);
    char[] b = new char[1 << 16];
    for (int i = 0; i < b.length; i++) b[i] = r.intn(13) == 0 ? ' ' : (char) ('a' + r.intn(26));
    LETTERS = new String(b);
    Rng c = new Rng(0x6e65786d61726bL, 0);
    for (int i = 0; i < CHANNEL_NAMES.length; i++) {
      CHANNEL_NAMES[i] = "channel-" + i;
      CHANNEL_URLS[i] = "https://www.nexmark.com/" + c.str(5) + "/" + c.str(5) + "/item.htm?query=1&channel_id=" + i;
    }
  }

  private final long seed;
  private final double rate;

  public Generator(long seed, double eventsPerSecond) { this.seed = seed; this.rate = eventsPerSecond; }

  public long time(long n) { return BASE_TIME + (long) (n * 1000.0 / rate); }

  static long lastPerson(long n) { long e = n / TOTAL, o = n % TOTAL; if (o >= PERSON) o = PERSON - 1; return e * PERSON + o; }

  static long lastAuction(long n) {
    long e = n / TOTAL, o = n % TOTAL;
    if (o < PERSON) { e--; o = AUCTION - 1; } else if (o >= PERSON + AUCTION) { o = AUCTION - 1; } else { o -= PERSON; }
    return e * AUCTION + o;
  }

  static long recentPerson(long n, Rng r) { long num = lastPerson(n) + 1, active = Math.min(num, 1000); return num - active + r.int63n(active); }

  static long recentAuction(long n, Rng r) { long last = lastAuction(n), lo = Math.max(last - 100, 0); return lo + r.int63n(last - lo + 1); }

  public Event event(long n) {
    Rng r = new Rng(seed, n);
    long t = time(n);
    long rem = n % TOTAL;
    Event e = new Event();
    if (rem < PERSON) {
      e.kind = 0;
      Person p = new Person();
      p.id = lastPerson(n) + 1000; p.dateTime = t;
      p.name = FIRST[r.intn(FIRST.length)] + " " + LAST[r.intn(LAST.length)];
      p.emailAddress = r.str(7) + "@" + r.str(5) + ".com";
      char[] cc = new char[19];
      for (int i = 0; i < 19; i++) cc[i] = i % 5 == 4 ? ' ' : (char) ('0' + r.intn(10));
      p.creditCard = new String(cc);
      p.city = CITIES[r.intn(CITIES.length)];
      p.state = STATES[r.intn(STATES.length)];
      p.extra = r.extra(8 + p.name.length() + p.emailAddress.length() + 19 + p.city.length() + p.state.length() + 8, 200);
      e.person = p;
    } else if (rem < PERSON + AUCTION) {
      e.kind = 1;
      Auction a = new Auction();
      a.id = lastAuction(n) + 1000; a.dateTime = t;
      a.seller = (r.intn(4) > 0 ? lastPerson(n) / 4 * 4 : recentPerson(n, r)) + 1000;
      a.category = 10 + r.intn(5);
      a.initialBid = r.price();
      a.reserve = a.initialBid + r.price();
      long horizon = time(n + 100L * TOTAL / AUCTION) - t;
      a.expires = t + 1 + r.int63n(Math.max(horizon * 2, 1));
      a.itemName = r.str(20);
      a.description = r.str(100);
      a.extra = r.extra(48 + 16 + a.itemName.length() + a.description.length(), 500);
      e.auction = a;
    } else {
      e.kind = 2;
      Bid b = new Bid();
      b.dateTime = t;
      b.auction = (r.intn(2) > 0 ? lastAuction(n) / 2 * 2 : recentAuction(n, r)) + 1000;
      b.bidder = (r.intn(4) > 0 ? Math.min(lastPerson(n) / 4 * 4 + 1, lastPerson(n)) : recentPerson(n, r)) + 1000;
      b.price = r.price();
      if (r.intn(2) > 0) { int i = r.intn(4); b.channel = HOT_CHANNELS[i]; b.url = HOT_URLS[i]; }
      else { int i = r.intn(10_000); b.channel = CHANNEL_NAMES[i]; b.url = CHANNEL_URLS[i]; }
      b.extra = r.extra(32 + b.channel.length() + b.url.length(), 100);
      e.bid = b;
    }
    return e;
  }

  /** splitmix64, seeded per event, as floe's. */
  static final class Rng {
    long s;
    Rng(long seed, long n) { s = seed ^ ((n + 1) * 0x9e3779b97f4a7c15L); next(); }
    long next() {
      s += 0x9e3779b97f4a7c15L;
      long z = s;
      z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
      z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
      return z ^ (z >>> 31);
    }
    long int63n(long n) { return (next() >>> 1) % n; }
    int intn(int n) { return (int) int63n(n); }
    double float64() { return (next() >>> 11) / (double) (1L << 53); }
    long price() { return Math.round(Math.exp(float64() * 6 * 2.302585092994046) * 100); }
    String str(int maxLen) { return exact(3 + intn(maxLen - 3)); }
    String exact(int n) { int off = intn(LETTERS.length() - n); return LETTERS.substring(off, off + n); }
    String extra(int size, int avg) {
      if (size >= avg) return "";
      int want = avg - size;
      int delta = (int) Math.round(want * 0.2);
      int n = want - delta;
      if (delta > 0) n += intn(2 * delta);
      return exact(n);
    }
  }

  /** The first events of a seed, for a check against floe's generator. */
  public static List<String> sample(long seed, int count) {
    Generator g = new Generator(seed, 10_000);
    List<String> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Event e = g.event(i);
      out.add(e.kind == 2 ? e.bid.auction + " " + e.bid.bidder + " " + e.bid.price + " " + e.bid.channel + " " + e.bid.dateTime + " " + e.bid.extra.length()
          : e.kind == 1 ? e.auction.id + " " + e.auction.seller + " " + e.auction.category + " " + e.auction.expires
          : e.person.id + " " + e.person.name + " " + e.person.state);
    }
    return out;
  }
}

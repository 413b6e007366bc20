package floe.flinkbench;

import floe.flinkbench.Generator.Bid;
import floe.flinkbench.Generator.Event;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.streaming.api.functions.sink.DiscardingSink;
import org.apache.flink.streaming.api.functions.source.RichParallelSourceFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessAllWindowFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * Nexmark on Flink's DataStream API, built as floe's queries are
 * (internal/nexmark/queries), timed in this JVM. Prints Go benchmark lines:
 * BenchmarkFlinkQuery/qN/pP-2 1 <ns> ns/op <x> cpu-ns/ev <x> ev/s <x> ev/s/core
 */
public final class Bench {
  /** The bid columns q5 and q11 use, projected before the shuffle (as floe's). */
  public static final class Slim {
    public long auction, bidder, price, dateTime;
    public Slim() {}
    Slim(Bid b) { auction = b.auction; bidder = b.bidder; price = b.price; dateTime = b.dateTime; }
  }

  /** An auction's bid count in a window. */
  public static final class AuctionCount {
    public long auction, start, end, count;
    public AuctionCount() {}
    AuctionCount(long a, long s, long e, long c) { auction = a; start = s; end = e; count = c; }
  }

  /** q7's accumulator: the highest price of a window and its bids. */
  public static final class Highest {
    public long price = -1;
    public List<Bid> bids = new ArrayList<>();
  }

  /** Events n < count with n mod 128 in this subtask's share of 128 splits, in order (floe's generator). */
  static final class Source extends RichParallelSourceFunction<Event> {
    final long count;
    volatile boolean running = true;
    Source(long count) { this.count = count; }
    @Override public void run(SourceContext<Event> ctx) {
      int p = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
      int i = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
      int lo = (128 * i + p - 1) / p, hi = (128 * (i + 1) + p - 1) / p; // floe's keygroup.Range
      Generator g = new Generator(0, 10_000);
      for (long base = 0; base < count && running; base += 128) {
        for (int j = lo; j < hi; j++) {
          long n = base + j;
          if (n >= count) break;
          Event e = g.event(n);
          synchronized (ctx.getCheckpointLock()) { ctx.collect(e); }
        }
      }
    }
    @Override public void cancel() { running = false; }
  }

  static final class Count<T> implements AggregateFunction<T, Long, Long> {
    public Long createAccumulator() { return 0L; }
    public Long add(T v, Long a) { return a + 1; }
    public Long getResult(Long a) { return a; }
    public Long merge(Long a, Long b) { return a + b; }
  }

  static void build(StreamExecutionEnvironment env, String q, long events) {
    DataStream<Event> ev = env.addSource(new Source(events)).name("Nexmark")
        .assignTimestampsAndWatermarks(WatermarkStrategy.<Event>forMonotonousTimestamps().withTimestampAssigner((e, t) -> e.time()));
    DataStream<Bid> bids = ev.flatMap((Event e, Collector<Bid> out) -> { if (e.kind == 2) out.collect(e.bid); }).returns(Bid.class);
    switch (q) {
      case "q0" -> bids.addSink(new DiscardingSink<>());
      case "q1" -> bids.map(b -> { Bid c = new Bid(); c.auction = b.auction; c.bidder = b.bidder; c.price = b.price * 908 / 1000; c.dateTime = b.dateTime; c.extra = b.extra; return c; })
          .returns(Bid.class).addSink(new DiscardingSink<>());
      case "q2" -> bids.filter(b -> b.auction % 123 == 0).map(b -> new long[] {b.auction, b.price}).returns(long[].class).addSink(new DiscardingSink<>());
      case "q5" -> {
        DataStream<AuctionCount> counts = bids.map(Slim::new).returns(Slim.class).keyBy(s -> s.auction)
            .window(SlidingEventTimeWindows.of(Duration.ofSeconds(10), Duration.ofSeconds(2)))
            .aggregate(new Count<Slim>(), new ProcessWindowFunction<Long, AuctionCount, Long, TimeWindow>() {
              @Override public void process(Long key, Context c, Iterable<Long> in, Collector<AuctionCount> out) {
                out.collect(new AuctionCount(key, c.window().getStart(), c.window().getEnd(), in.iterator().next()));
              }
            });
        counts.keyBy(c -> c.start).process(new KeyedProcessFunction<Long, AuctionCount, long[]>() {
          transient ValueState<Long> top;
          transient ListState<long[]> hot;
          @Override public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
            top = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Types.LONG));
            hot = getRuntimeContext().getListState(new ListStateDescriptor<>("hot", long[].class));
          }
          @Override public void processElement(AuctionCount w, Context ctx, Collector<long[]> out) throws Exception {
            Long m = top.value();
            if (m == null || w.count > m) {
              top.update(w.count);
              hot.update(List.of(new long[] {w.auction, w.count}));
              ctx.timerService().registerEventTimeTimer(w.end - 1);
            } else if (w.count == m) {
              hot.add(new long[] {w.auction, w.count});
            }
          }
          @Override public void onTimer(long t, OnTimerContext ctx, Collector<long[]> out) throws Exception {
            for (long[] r : hot.get()) out.collect(r);
            top.clear();
            hot.clear();
          }
        }).addSink(new DiscardingSink<>());
      }
      case "q7" -> bids.windowAll(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
          .aggregate(new AggregateFunction<Bid, Highest, Highest>() {
            public Highest createAccumulator() { return new Highest(); }
            public Highest add(Bid b, Highest h) {
              if (b.price > h.price) { h.price = b.price; h.bids = new ArrayList<>(List.of(b)); }
              else if (b.price == h.price) h.bids.add(b);
              return h;
            }
            public Highest getResult(Highest h) { return h; }
            public Highest merge(Highest a, Highest b) { throw new UnsupportedOperationException(); }
          }, new ProcessAllWindowFunction<Highest, Bid, TimeWindow>() {
            @Override public void process(Context c, Iterable<Highest> in, Collector<Bid> out) { for (Bid b : in.iterator().next().bids) out.collect(b); }
          }).addSink(new DiscardingSink<>());
      case "q11" -> bids.map(Slim::new).returns(Slim.class).keyBy(s -> s.bidder)
          .window(EventTimeSessionWindows.withGap(Duration.ofSeconds(10)))
          .aggregate(new Count<Slim>(), new ProcessWindowFunction<Long, long[], Long, TimeWindow>() {
            @Override public void process(Long key, Context c, Iterable<Long> in, Collector<long[]> out) {
              out.collect(new long[] {key, in.iterator().next(), c.window().getStart(), c.window().getEnd()});
            }
          }).addSink(new DiscardingSink<>());
      case "q3" -> {
        DataStream<Generator.Person> local = ev.flatMap((Event e, Collector<Generator.Person> out) -> {
          if (e.kind == 0 && (e.person.state.equals("OR") || e.person.state.equals("ID") || e.person.state.equals("CA"))) out.collect(e.person);
        }).returns(Generator.Person.class);
        DataStream<Generator.Auction> cat10 = ev.flatMap((Event e, Collector<Generator.Auction> out) -> {
          if (e.kind == 1 && e.auction.category == 10) out.collect(e.auction);
        }).returns(Generator.Auction.class);
        cat10.keyBy(a -> a.seller).connect(local.keyBy(x -> x.id))
            .process(new KeyedCoProcessFunction<Long, Generator.Auction, Generator.Person, String[]>() {
              transient ValueState<String[]> person;
              transient ListState<Long> waiting;
              @Override public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
                person = getRuntimeContext().getState(new ValueStateDescriptor<>("person", String[].class));
                waiting = getRuntimeContext().getListState(new ListStateDescriptor<>("auctions", Types.LONG));
              }
              @Override public void processElement1(Generator.Auction a, Context ctx, Collector<String[]> out) throws Exception {
                String[] p = person.value();
                if (p != null) out.collect(new String[] {p[0], p[1], p[2], Long.toString(a.id)});
                else waiting.add(a.id);
              }
              @Override public void processElement2(Generator.Person x, Context ctx, Collector<String[]> out) throws Exception {
                person.update(new String[] {x.name, x.city, x.state});
                for (Long id : waiting.get()) out.collect(new String[] {x.name, x.city, x.state, Long.toString(id)});
                waiting.clear();
              }
            }).addSink(new DiscardingSink<>());
      }
      case "q4" -> {
        DataStream<Generator.Auction> auctions = ev.flatMap((Event e, Collector<Generator.Auction> out) -> { if (e.kind == 1) out.collect(e.auction); })
            .returns(Generator.Auction.class);
        DataStream<long[]> winners = auctions.keyBy(a -> a.id).connect(bids.map(Slim::new).returns(Slim.class).keyBy(b -> b.auction))
            .process(new KeyedCoProcessFunction<Long, Generator.Auction, Slim, long[]>() {
              // auction: category, dateTime, expires, closed (0/1)
              transient ValueState<long[]> auction;
              transient ValueState<Long> best;
              transient ListState<long[]> early; // price, dateTime
              @Override public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
                auction = getRuntimeContext().getState(new ValueStateDescriptor<>("auction", long[].class));
                best = getRuntimeContext().getState(new ValueStateDescriptor<>("best", Types.LONG));
                early = getRuntimeContext().getListState(new ListStateDescriptor<>("early", long[].class));
              }
              void raise(long price) throws Exception { Long b = best.value(); if (b == null || price > b) best.update(price); }
              @Override public void processElement1(Generator.Auction a, Context ctx, Collector<long[]> out) throws Exception {
                auction.update(new long[] {a.category, a.dateTime, a.expires, 0});
                for (long[] b : early.get()) if (a.dateTime <= b[1] && b[1] <= a.expires) raise(b[0]);
                early.clear();
                ctx.timerService().registerEventTimeTimer(a.expires);
              }
              @Override public void processElement2(Slim b, Context ctx, Collector<long[]> out) throws Exception {
                long[] a = auction.value();
                if (a != null) { if (a[3] == 0 && a[1] <= b.dateTime && b.dateTime <= a[2]) raise(b.price); return; }
                if (!early.get().iterator().hasNext()) ctx.timerService().registerEventTimeTimer(b.dateTime);
                early.add(new long[] {b.price, b.dateTime});
              }
              @Override public void onTimer(long t, OnTimerContext ctx, Collector<long[]> out) throws Exception {
                long[] a = auction.value();
                if (a == null) {
                  List<long[]> keep = new ArrayList<>();
                  long next = Long.MAX_VALUE;
                  for (long[] b : early.get()) if (b[1] > t) { keep.add(b); next = Math.min(next, b[1]); }
                  early.update(keep);
                  if (!keep.isEmpty()) ctx.timerService().registerEventTimeTimer(next);
                } else if (t == a[2] && a[3] == 0) {
                  Long b = best.value();
                  if (b != null) out.collect(new long[] {a[0], b});
                  best.clear();
                  a[3] = 1;
                  auction.update(a);
                  ctx.timerService().registerEventTimeTimer(a[2] + (a[2] - a[1]) + 1);
                } else if (a[3] == 1 && t > a[2]) {
                  auction.clear();
                }
              }
            });
        winners.keyBy(w -> w[0]).process(new KeyedProcessFunction<Long, long[], long[]>() {
          transient ValueState<long[]> acc;
          @Override public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
            acc = getRuntimeContext().getState(new ValueStateDescriptor<>("avg", long[].class));
          }
          @Override public void processElement(long[] w, Context ctx, Collector<long[]> out) throws Exception {
            long[] a = acc.value();
            if (a == null) a = new long[2];
            a[0] += w[1];
            a[1]++;
            acc.update(a);
            out.collect(new long[] {w[0], a[0] / a[1]});
          }
        }).addSink(new DiscardingSink<>());
      }
      case "q8" -> {
        DataStream<long[]> sellers = ev.flatMap((Event e, Collector<long[]> out) -> { if (e.kind == 1) out.collect(new long[] {e.auction.seller, e.auction.dateTime}); })
            .returns(long[].class);
        DataStream<Generator.Person> people = ev.flatMap((Event e, Collector<Generator.Person> out) -> { if (e.kind == 0) out.collect(e.person); })
            .returns(Generator.Person.class);
        people.coGroup(sellers).where(x -> x.id, Types.LONG).equalTo(s -> s[0], Types.LONG)
            .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
            .apply((Iterable<Generator.Person> ps, Iterable<long[]> ss, Collector<String> out) -> {
              if (!ss.iterator().hasNext()) return;
              java.util.Set<String> seen = new java.util.HashSet<>();
              for (Generator.Person x : ps) if (seen.add(x.name)) out.collect(x.id + " " + x.name);
            }, Types.STRING).addSink(new DiscardingSink<>());
      }
      default -> throw new IllegalArgumentException("unknown query " + q);
    }
  }

  static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  static MiniCluster cluster;

  /** One job on the running MiniCluster; returns {wall ns, cpu ns}. */
  static long[] run(String q, int p, long events) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(p);
    env.getConfig().enableObjectReuse();
    build(env, q, events);
    JobGraph job = env.getStreamGraph().getJobGraph();
    long c0 = cpuNanos(), w0 = System.nanoTime();
    cluster.executeJobBlocking(job);
    return new long[] {System.nanoTime() - w0, cpuNanos() - c0};
  }

  public static void main(String[] args) throws Exception {
    List<String> queries = Arrays.asList("q0", "q1", "q2", "q5", "q7", "q11");
    int[] ps = {1, 2};
    long events = 2_000_000;
    int runs = 3;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--queries" -> queries = Arrays.asList(args[i + 1].split(","));
        case "--parallelism" -> ps = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
        case "--events" -> events = Long.parseLong(args[i + 1]);
        case "--runs" -> runs = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown flag " + args[i]);
      }
    }
    if (args.length > 0 && args[0].equals("--sample")) {
      Generator.sample(0, 60).forEach(System.out::println);
      return;
    }
    // One MiniCluster (one TaskManager, two slots) for every job, started
    // before any measurement, as floe's benchmark runs jobs in a process
    // that is already up.
    Configuration conf = new Configuration();
    conf.set(TaskManagerOptions.NUM_TASK_SLOTS, 2);
    cluster = new MiniCluster(new MiniClusterConfiguration.Builder().setConfiguration(conf).setNumTaskManagers(1).setNumSlotsPerTaskManager(2).build());
    cluster.start();
    for (String q : queries) {
      for (int p : ps) {
        run(q, p, events / 4); // JIT warm-up
        for (int r = 0; r < runs; r++) {
          long[] m = run(q, p, events);
          double cpu = m[1], wall = m[0];
          System.out.printf("BenchmarkFlinkQuery/%s/p%d-2 1 %d ns/op %.1f cpu-ns/ev %.0f ev/s %.0f ev/s/core%n",
              q, p, m[0], cpu / events, events / (wall / 1e9), events / (cpu / 1e9));
        }
      }
    }
    cluster.close();
  }
}

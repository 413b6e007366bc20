// Command benchnexmark is `make bench-nexmark`: floe and Apache Flink (its
// DataStream API running floe's plans, scripts/flink-bench) side by side on
// the Nexmark queries, with a watchdog.
//
// For every query and parallelism it starts one JVM (a MiniCluster, then one
// warm-up run of a quarter of the events for the JIT, not measured) and then
// alternates measured runs: floe, Flink, floe, Flink, ... floe runs as users
// run it, `bin/floe run -p P nexmark --query Q --events E`, one process per
// run: its CPU time and peak resident set come from wait4's rusage of that
// process (everything it spent, start-up included, which is milliseconds),
// its wall rate from the job time the CLI prints. Flink's CPU time is the
// JVM's process CPU time over the job, its peak resident set the JVM's VmHWM
// (reset before each run), its wall rate the job's time on the MiniCluster.
//
// The watchdog: a run that makes no progress for NEXMARK_STALL (60s) fails
// loudly. floe's progress is its CPU time (a running query burns a core; a
// deadlocked one almost nothing); Flink's is the count of generated events
// the JVM reports every second, or its CPU time. A stalled floe process gets
// SIGQUIT (its goroutines are dumped to its log) and, 5 s later, SIGKILL; a
// stalled JVM gets SIGQUIT (a thread dump) then SIGKILL.
//
// The state backend is a dimension too (NEXMARK_BACKENDS): hashmap runs
// both on the heap, pebble runs floe with -D state.backend.type=pebble and
// Flink on its RocksDB backend (EmbeddedRocksDBStateBackend), the embedded
// LSM store of each; a run of every backend follows the other within one
// round, so they are interleaved too, and the JVM warms up on each.
//
// Environment: NEXMARK_EVENTS (10000000), NEXMARK_QUERIES (every query both
// implement), NEXMARK_PARALLELISM (1,2), NEXMARK_RUNS (3), NEXMARK_SYSTEMS
// (floe,flink), NEXMARK_BACKENDS (hashmap; hashmap,pebble for both),
// NEXMARK_STALL (60s), NEXMARK_DOC (docs/benchmarks.md; "-": do not write
// it), NEXMARK_SECTION (bench-nexmark: the name of the doc's markers). Logs
// go to bin/bench-nexmark/.
package main

import (
	"bufio"
	"errors"
	"floe/internal/benchutil"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// flinkQueries are the queries scripts/flink-bench implements.
var flinkQueries = []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11"}

// flinkBackend is Flink's counterpart of each floe state backend.
var flinkBackend = map[string]string{"hashmap": "hashmap", "pebble": "rocksdb"}

type settings struct {
	events   int64
	queries  []string
	ps       []int
	backends []string
	runs     int
	floe     bool
	flink    bool
	stall    time.Duration
	doc      string
	section  string
	logDir   string
	floeBin  string
	jar      string
	cp       string
}

// sample is one measured run.
type sample struct {
	cpu, wall time.Duration
	rssKB     int64
}

// failure is a run that did not finish: why, in words.
type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

type cell struct {
	floe, flink       []sample
	floeErr, flinkErr error
}

func main() {
	s, err := load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-nexmark:", err)
		os.Exit(2)
	}
	machine := benchutil.Machine()
	fmt.Fprintf(os.Stderr, "bench-nexmark: %d events, queries %s, p %v, %d runs, logs in %s\n%s\n",
		s.events, strings.Join(s.queries, ","), s.ps, s.runs, s.logDir, machine)
	start := time.Now()
	results := map[string]*cell{}
	failed := false
	for _, q := range s.queries {
		for _, p := range s.ps {
			cs := map[string]*cell{}
			for _, be := range s.backends {
				cs[be] = &cell{}
				results[key(q, p, be)] = cs[be]
			}
			runPair(s, q, p, cs)
			for _, c := range cs {
				if c.floeErr != nil || c.flinkErr != nil {
					failed = true
				}
			}
		}
	}
	table := render(s, results)
	fmt.Println(table)
	if s.doc != "-" {
		sec := section(s, machine, table, time.Since(start))
		if err := benchutil.WriteSection(s.doc, begin(s), end(s), sec, "## Checkpoints"); err != nil {
			fmt.Fprintln(os.Stderr, "bench-nexmark:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "bench-nexmark: table written to %s\n", s.doc)
	}
	if failed {
		fmt.Fprintln(os.Stderr, "bench-nexmark: FAILED: some runs did not finish (see above)")
		os.Exit(1)
	}
}

func key(q string, p int, backend string) string { return fmt.Sprintf("%s/p%d/%s", q, p, backend) }

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func load() (settings, error) {
	s := settings{logDir: "bin/bench-nexmark", floeBin: "bin/floe", jar: "scripts/flink-bench/target/floe-flink-bench.jar"}
	var err error
	if s.events, err = strconv.ParseInt(env("NEXMARK_EVENTS", "10000000"), 10, 64); err != nil || s.events < 1 {
		return s, fmt.Errorf("NEXMARK_EVENTS=%q: want a positive number", os.Getenv("NEXMARK_EVENTS"))
	}
	if s.runs, err = strconv.Atoi(env("NEXMARK_RUNS", "3")); err != nil || s.runs < 1 {
		return s, fmt.Errorf("NEXMARK_RUNS=%q: want a positive number", os.Getenv("NEXMARK_RUNS"))
	}
	if s.stall, err = time.ParseDuration(env("NEXMARK_STALL", "60s")); err != nil || s.stall <= 0 {
		return s, fmt.Errorf("NEXMARK_STALL=%q: want a duration such as 60s", os.Getenv("NEXMARK_STALL"))
	}
	s.queries = strings.Split(env("NEXMARK_QUERIES", strings.Join(flinkQueries, ",")), ",")
	for _, f := range strings.Split(env("NEXMARK_PARALLELISM", "1,2"), ",") {
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 {
			return s, fmt.Errorf("NEXMARK_PARALLELISM: %q is not a parallelism", f)
		}
		s.ps = append(s.ps, p)
	}
	for _, sys := range strings.Split(env("NEXMARK_SYSTEMS", "floe,flink"), ",") {
		switch sys {
		case "floe":
			s.floe = true
		case "flink":
			s.flink = true
		default:
			return s, fmt.Errorf("NEXMARK_SYSTEMS: %q is neither floe nor flink", sys)
		}
	}
	if s.flink {
		for _, q := range s.queries {
			if !slices.Contains(flinkQueries, q) {
				return s, fmt.Errorf("NEXMARK_QUERIES: scripts/flink-bench has no %s (it has %s); set NEXMARK_SYSTEMS=floe", q, strings.Join(flinkQueries, ","))
			}
		}
		cp, err := os.ReadFile("scripts/flink-bench/target/classpath.txt")
		if err != nil {
			return s, fmt.Errorf("flink classpath (build scripts/flink-bench first): %w", err)
		}
		s.cp = strings.TrimSpace(string(cp))
	}
	for _, be := range strings.Split(env("NEXMARK_BACKENDS", "hashmap"), ",") {
		if _, ok := flinkBackend[be]; !ok {
			return s, fmt.Errorf("NEXMARK_BACKENDS: %q is neither hashmap nor pebble", be)
		}
		s.backends = append(s.backends, be)
	}
	s.doc = env("NEXMARK_DOC", "docs/benchmarks.md")
	s.section = env("NEXMARK_SECTION", "bench-nexmark")
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return s, fmt.Errorf("log directory: %w", err)
	}
	return s, nil
}

// runPair measures one query at one parallelism on both systems and every
// backend, interleaved: each round runs floe and Flink on each backend.
func runPair(s settings, q string, p int, cs map[string]*cell) {
	var jvm *flinkJVM
	if s.flink {
		var err error
		jvm, err = startJVM(s, q, p)
		for _, be := range s.backends {
			if err == nil {
				// The JIT's warm-up: a short run first, not measured.
				_, err = jvm.run(s, q, p, be, s.events/4, "warm-up")
			}
		}
		if err != nil {
			for _, c := range cs {
				c.flinkErr = err
			}
			loud(err)
			jvm.stop()
			jvm = nil
		}
	}
	for r := 1; r <= s.runs; r++ {
		for _, be := range s.backends {
			c := cs[be]
			if s.floe && c.floeErr == nil {
				m, err := runFloe(s, q, p, be, r)
				if err != nil {
					c.floeErr = err
					loud(err)
				} else {
					c.floe = append(c.floe, m)
					progress("floe", q, p, be, r, s.events, m)
				}
			}
			if jvm != nil && c.flinkErr == nil {
				m, err := jvm.run(s, q, p, be, s.events, fmt.Sprintf("run %d", r))
				if err != nil {
					// The JVM stalled and was killed, or its job failed
					// (which ends it): no more runs in it.
					loud(err)
					for _, c := range cs {
						if c.flinkErr == nil {
							c.flinkErr = err
						}
					}
					jvm.stop()
					jvm = nil
				} else {
					c.flink = append(c.flink, m)
					progress("flink "+flinkBackend[be], q, p, be, r, s.events, m)
				}
			}
		}
	}
	if jvm != nil {
		jvm.stop()
	}
}

func loud(err error) {
	fmt.Fprintf(os.Stderr, "\nbench-nexmark: !!! %v\n\n", err)
}

func progress(sys, q string, p int, backend string, r int, events int64, m sample) {
	fmt.Fprintf(os.Stderr, "bench-nexmark: %-5s %s p=%d %s run %d: %s/core, %s wall, CPU %.1fs, peak RSS %s\n",
		sys, q, p, backend, r, rate(float64(events)/m.cpu.Seconds()), rate(float64(events)/m.wall.Seconds()), m.cpu.Seconds(), mb(m.rssKB))
}

var floeLine = regexp.MustCompile(`nexmark \S+: \d+ events in (\S+) `)

// runFloe runs the floe CLI once, under the watchdog.
func runFloe(s settings, q string, p int, backend string, r int) (sample, error) {
	logPath := filepath.Join(s.logDir, fmt.Sprintf("%s-p%d-%s-run%d.floe.log", q, p, backend, r))
	logf, err := os.Create(logPath)
	if err != nil {
		return sample{}, fmt.Errorf("floe %s p=%d: log: %w", q, p, err)
	}
	defer logf.Close()
	var out strings.Builder
	args := []string{"run", "-p", strconv.Itoa(p)}
	if backend != "hashmap" {
		args = append(args, "-D", "state.backend.type="+backend)
	}
	args = append(args, "nexmark", "--query", q, "--events", strconv.FormatInt(s.events, 10))
	cmd := exec.Command(s.floeBin, args...)
	cmd.Stdout = io.MultiWriter(&out, logf)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("floe %s p=%d: start %s: %w", q, p, s.floeBin, err)
	}
	w := watch(cmd.Process.Pid, s.stall, nil)
	werr := cmd.Wait()
	stalled := w.stop()
	if stalled != "" {
		return sample{}, &failure{fmt.Sprintf("WATCHDOG: floe %s p=%d run %d: %s; killed (SIGQUIT, then SIGKILL); goroutine dump in %s", q, p, r, stalled, logPath)}
	}
	if werr != nil {
		return sample{}, fmt.Errorf("floe %s p=%d run %d: %w (log: %s)", q, p, r, werr, logPath)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	m := sample{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), rssKB: ru.Maxrss}
	sub := floeLine.FindStringSubmatch(out.String())
	if sub == nil {
		return sample{}, fmt.Errorf("floe %s p=%d run %d: no summary line in its output %q", q, p, r, out.String())
	}
	if m.wall, err = time.ParseDuration(sub[1]); err != nil {
		return sample{}, fmt.Errorf("floe %s p=%d run %d: summary %q: %w", q, p, r, sub[0], err)
	}
	return m, nil
}

// watchdog samples a process's progress every second and, when it has made
// none for the stall period (less than minCPUShare of a core and no new
// events generated), sends SIGQUIT and, 5 s later, SIGKILL.
type watchdog struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	stalled string
}

// minCPUShare is the share of one core a process must spend to count as
// making progress: a running query spends about a core (a fifth of one on a
// machine loaded five times over), a deadlocked one its timers' and
// heartbeats' few milliseconds a second (q8 at p=2: 0.6 %).
const minCPUShare = 20 // 1/20: 5 % of a core, 3 s of CPU in 60 s

// watch starts a watchdog on pid. counter, when not nil, is a second measure
// of progress (events generated), read on every tick.
func watch(pid int, stall time.Duration, counter func() int64) *watchdog {
	w := &watchdog{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t0 := time.Now()
		lastAt, lastCPU, lastCount := t0, procCPU(pid), int64(0)
		minCPU := stall / minCPUShare
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case now := <-tick.C:
				cpu := procCPU(pid)
				var n int64
				if counter != nil {
					n = counter()
				}
				if cpu-lastCPU >= minCPU || n > lastCount {
					lastAt, lastCPU, lastCount = now, cpu, n
					continue
				}
				if now.Sub(lastAt) < stall {
					continue
				}
				msg := fmt.Sprintf("no progress for %s: %.2fs of CPU since %s into the run (progress needs %s), %.2fs in all",
					stall, (cpu - lastCPU).Seconds(), lastAt.Sub(t0).Round(time.Second), minCPU, cpu.Seconds())
				if counter != nil {
					msg += fmt.Sprintf("; events generated: %d, unchanged since then", lastCount)
				}
				w.mu.Lock()
				w.stalled = msg
				w.mu.Unlock()
				fmt.Fprintf(os.Stderr, "bench-nexmark: watchdog: pid %d: %s: SIGQUIT\n", pid, msg)
				_ = syscall.Kill(pid, syscall.SIGQUIT)
				select {
				case <-w.done:
					return
				case <-time.After(5 * time.Second):
				}
				fmt.Fprintf(os.Stderr, "bench-nexmark: watchdog: pid %d: SIGKILL\n", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				return
			}
		}
	}()
	return w
}

// stop ends the watchdog and says why it fired ("" if it did not).
func (w *watchdog) stop() string {
	close(w.done)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stalled
}

// procCPU is a live process's user plus system CPU time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (in parentheses, which may hold spaces).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// flinkJVM is one JVM running scripts/flink-bench's Bench --serve.
type flinkJVM struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	results chan string
	logf    *os.File
	logPath string

	mu        sync.Mutex
	generated int64
}

func startJVM(s settings, q string, p int) (*flinkJVM, error) {
	j := &flinkJVM{results: make(chan string, 1), logPath: filepath.Join(s.logDir, fmt.Sprintf("%s-p%d.flink.log", q, p))}
	var err error
	if j.logf, err = os.Create(j.logPath); err != nil {
		return nil, fmt.Errorf("flink %s p=%d: log: %w", q, p, err)
	}
	// The module opens Flink's own scripts pass on Java 17: Kryo, which
	// serializes state objects into RocksDB (not on the heap backend),
	// reaches into java.util's collections.
	args := []string{"-Xmx2g"}
	for _, pkg := range []string{"java.lang", "java.lang.reflect", "java.io", "java.net", "java.nio", "sun.nio.ch",
		"java.text", "java.time", "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "java.util.concurrent.locks"} {
		args = append(args, "--add-opens=java.base/"+pkg+"=ALL-UNNAMED")
	}
	args = append(args, "-cp", s.jar+":"+s.cp, "floe.flinkbench.Bench", "--serve")
	j.cmd = exec.Command("java", args...)
	j.cmd.Stderr = j.logf
	out, err := j.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("flink %s p=%d: %w", q, p, err)
	}
	if j.stdin, err = j.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("flink %s p=%d: %w", q, p, err)
	}
	if err := j.cmd.Start(); err != nil {
		return nil, fmt.Errorf("flink %s p=%d: start java: %w", q, p, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "PROGRESS "):
				f := strings.Fields(l)
				if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					j.mu.Lock()
					j.generated = n
					j.mu.Unlock()
				}
			case strings.HasPrefix(l, "RESULT "):
				j.results <- l
			default:
				fmt.Fprintln(j.logf, l) // thread dumps and the like
			}
		}
		close(j.results)
	}()
	return j, nil
}

func (j *flinkJVM) count() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.generated
}

// run runs one job in the JVM under the watchdog.
func (j *flinkJVM) run(s settings, q string, p int, backend string, events int64, what string) (sample, error) {
	what += " (" + flinkBackend[backend] + ")"
	if _, err := fmt.Fprintf(j.stdin, "run %s %d %d %s\n", q, p, events, flinkBackend[backend]); err != nil {
		return sample{}, fmt.Errorf("flink %s p=%d %s: write to the JVM: %w (log: %s)", q, p, what, err, j.logPath)
	}
	w := watch(j.cmd.Process.Pid, s.stall, j.count)
	var line string
	var ok bool
	for !ok {
		select {
		case line, ok = <-j.results:
			if !ok {
				w.stop()
				return sample{}, fmt.Errorf("flink %s p=%d %s: the JVM exited without a result (log: %s)", q, p, what, j.logPath)
			}
		case <-time.After(time.Second):
			w.mu.Lock()
			st := w.stalled
			w.mu.Unlock()
			if st != "" {
				w.wg.Wait() // its SIGKILL, 5 s after the SIGQUIT's thread dump
				return sample{}, &failure{fmt.Sprintf("WATCHDOG: flink %s p=%d %s: %s; killed (SIGQUIT: thread dump, then SIGKILL); log %s", q, p, what, st, j.logPath)}
			}
		}
	}
	w.stop()
	var wall, cpu, rss int64
	if _, err := fmt.Sscanf(line, "RESULT %d %d %d", &wall, &cpu, &rss); err != nil {
		return sample{}, fmt.Errorf("flink %s p=%d %s: result %q: %w", q, p, what, line, err)
	}
	return sample{wall: time.Duration(wall), cpu: time.Duration(cpu), rssKB: rss}, nil
}

func (j *flinkJVM) stop() {
	if j == nil {
		return
	}
	_ = j.stdin.Close()
	done := make(chan struct{})
	go func() { _ = j.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = j.cmd.Process.Kill()
		<-done
	}
	_ = j.logf.Close()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type medians struct{ perCore, wall, rssKB float64 }

func med(ms []sample, events int64) medians {
	var c, w, r []float64
	for _, m := range ms {
		c = append(c, float64(events)/m.cpu.Seconds())
		w = append(w, float64(events)/m.wall.Seconds())
		r = append(r, float64(m.rssKB))
	}
	return medians{median(c), median(w), median(r)}
}

func rate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.0fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func mb(kb int64) string {
	if kb <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MB", float64(kb)/1024)
}

func render(s settings, res map[string]*cell) string {
	var b strings.Builder
	b.WriteString("| query | p | state (floe / Flink) | floe ev/s/core | Flink ev/s/core | floe / Flink | floe ev/s (wall) | Flink ev/s (wall) | floe peak RSS | Flink peak RSS |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, q := range s.queries {
		for _, p := range s.ps {
			for _, be := range s.backends {
				c := res[key(q, p, be)]
				f, k := med(c.floe, s.events), med(c.flink, s.events)
				cols := []string{q, strconv.Itoa(p), be + " / " + flinkBackend[be], "-", "-", "-", "-", "-", "-", "-"}
				if len(c.floe) > 0 {
					cols[3], cols[6], cols[8] = "**"+rate(f.perCore)+"**", rate(f.wall), mb(int64(f.rssKB))
				}
				if len(c.flink) > 0 {
					cols[4], cols[7], cols[9] = rate(k.perCore), rate(k.wall), mb(int64(k.rssKB))
				}
				if len(c.floe) > 0 && len(c.flink) > 0 {
					cols[5] = fmt.Sprintf("%.2f", f.perCore/k.perCore)
				}
				if c.floeErr != nil {
					cols[3] = "FAILED" + note(c.floeErr)
				}
				if c.flinkErr != nil {
					cols[4] = "FAILED" + note(c.flinkErr)
				}
				if (s.floe && len(c.floe) < s.runs) || (s.flink && len(c.flink) < s.runs) {
					cols[0] += fmt.Sprintf(" (runs: floe %d, Flink %d)", len(c.floe), len(c.flink))
				}
				b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
			}
		}
	}
	return b.String()
}

func note(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return " (no progress for the stall period: watchdog)"
	}
	return ""
}

func section(s settings, machine, table string, took time.Duration) string {
	var b strings.Builder
	title := "Nexmark, floe against Flink's DataStream"
	if len(s.backends) > 1 || s.backends[0] != "hashmap" {
		title += ", heap and LSM state backends"
	}
	fmt.Fprintf(&b, "%s\n### %s (`make bench-nexmark`, %s)\n\n", begin(s), title, time.Now().Format("2006-01-02"))
	fmt.Fprintf(&b, "Written by `make bench-nexmark` (scripts/benchnexmark); rerunning it replaces this section.\n")
	fmt.Fprintf(&b, "%d events per run, medians of %d interleaved runs (floe, Flink, floe, Flink, ...), parallelism %v, state backends %s; the whole harness took %s.\n",
		s.events, s.runs, s.ps, strings.Join(s.backends, ","), took.Round(time.Second))
	b.WriteString("floe: `bin/floe run -p P nexmark --query Q --events E`, one process per run; CPU and peak RSS from wait4's rusage of that process " +
		"(start-up included: milliseconds), wall rate from the job time the CLI prints. Flink 1.20.1: one JVM (`-Xmx2g`, MiniCluster of one " +
		"TaskManager with two slots, object reuse, the `--add-opens` of Flink's scripts) per query and parallelism, started and JIT-warmed with a run of a quarter of the events " +
		"before measuring; CPU is the JVM's process CPU time over the job, peak RSS the JVM's VmHWM (reset before each run), wall the job's time. " +
		"State: hashmap is both on the heap; pebble is floe with `-D state.backend.type=pebble` against Flink's EmbeddedRocksDBStateBackend " +
		"(RocksDB, no checkpoints taken in either). Ratio > 1: floe does more events per CPU second.\n\n")
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		machine += "\nload average at the end: " + strings.Join(strings.Fields(string(l))[:3], " ")
	}
	b.WriteString("Machine:\n\n```\n" + machine + "\n```\n\n")
	b.WriteString(table)
	b.WriteString(end(s) + "\n")
	return b.String()
}

func begin(s settings) string { return "<!-- " + s.section + ":begin -->" }
func end(s settings) string   { return "<!-- " + s.section + ":end -->" }

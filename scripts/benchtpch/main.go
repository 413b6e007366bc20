// Command benchtpch is `make bench-tpch`: TPC-H queries 1, 3, 5, 6, 10, 12,
// 14 and 18 at scale 1 on floe (`bin/floe run -p 2 tpch`), DuckDB (2
// threads) and Spark (pyspark, local[2]), over the same Parquet files, one
// run of each, in the order floe, DuckDB, Spark per query.
//
// The tables and DuckDB's reference answers come from TPC-H's own generator
// (DuckDB's tpch extension, scripts/tpch/tpch.py gen) into .cache/tpch/sf1;
// every system's answer is checked against DuckDB's with the tests' Compare.
// Each run is one process (Spark's: the Python driver and the JVM it starts
// and waits for): wall time from start to exit, CPU time (user + system)
// from wait4's rusage, which counts the descendants the process waited for,
// and peak memory as the larger of that rusage's maximum resident set and
// the highest sum of the resident sets of the process and its descendants,
// sampled every 50 ms. DuckDB's and Spark's times include starting Python
// (and Spark's JVM); the query's own time, as the engine's driver measured
// it, is shown beside.
//
// Environment: TPCH_SF (1), TPCH_QUERIES (all eight), TPCH_SYSTEMS
// (floe,duckdb,spark), TPCH_PARALLELISM (2), TPCH_DOC (docs/benchmarks.md;
// "-": do not write it). Logs and answers go to bin/bench-tpch/.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"floe/internal/benchutil"
	"floe/internal/jobs/tpch"
)

type settings struct {
	sf      string
	queries []tpch.Query
	systems []string
	p       int
	doc     string
	outDir  string
	floeBin string
}

// sample is one measured run.
type sample struct {
	wall, cpu, query time.Duration // query: the engine's own time (0: not known)
	rssKB            int64
	err              error // the run failed or its answer differs from DuckDB's
}

func main() {
	s, err := load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-tpch:", err)
		os.Exit(2)
	}
	started := time.Now()
	machine := benchutil.Machine()
	spark := slices.Contains(s.systems, "spark")
	root, err := tpch.RepoRoot()
	if err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "bench-tpch: TPC-H scale %s (generated once into .cache/tpch/sf%s)\n", s.sf, s.sf)
	ref, err := tpch.Reference(context.Background(), root, s.sf, spark)
	if err != nil {
		fatal(err)
	}
	res := map[string]map[string]sample{}
	for _, q := range s.queries {
		res[q.Name] = map[string]sample{}
		for _, sys := range s.systems {
			m := runOne(s, ref, q, sys)
			res[q.Name][sys] = m
			status := "ok"
			if m.err != nil {
				status = m.err.Error()
			}
			fmt.Fprintf(os.Stderr, "bench-tpch: %s %-6s wall %s cpu %s peak %s: %s\n", q.Name, sys, secs(m.wall), secs(m.cpu), mb(m.rssKB), status)
		}
	}
	table := render(s, res)
	fmt.Print(table)
	if s.doc != "-" {
		if err := benchutil.WriteSection(s.doc, begin, end, section(s, machine, table, time.Since(started)), "## Checkpoints"); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "bench-tpch: wrote %s\n", s.doc)
	}
	for _, q := range s.queries {
		for _, sys := range s.systems {
			if res[q.Name][sys].err != nil {
				os.Exit(1)
			}
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench-tpch:", err)
	os.Exit(1)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func load() (settings, error) {
	s := settings{sf: env("TPCH_SF", "1"), doc: env("TPCH_DOC", "docs/benchmarks.md"), outDir: "bin/bench-tpch", floeBin: "bin/floe"}
	for _, name := range strings.Split(env("TPCH_QUERIES", strings.Join(tpch.Names(), ",")), ",") {
		q, err := tpch.Lookup(strings.TrimSpace(name))
		if err != nil {
			return s, err
		}
		s.queries = append(s.queries, q)
	}
	for _, sys := range strings.Split(env("TPCH_SYSTEMS", "floe,duckdb,spark"), ",") {
		if !slices.Contains([]string{"floe", "duckdb", "spark"}, sys) {
			return s, fmt.Errorf("TPCH_SYSTEMS: unknown system %q (floe, duckdb, spark)", sys)
		}
		s.systems = append(s.systems, sys)
	}
	p, err := strconv.Atoi(env("TPCH_PARALLELISM", "2"))
	if err != nil || p < 1 {
		return s, fmt.Errorf("TPCH_PARALLELISM=%q: want a positive number", os.Getenv("TPCH_PARALLELISM"))
	}
	s.p = p
	if err := os.RemoveAll(s.outDir); err != nil {
		return s, err
	}
	return s, os.MkdirAll(s.outDir, 0o755)
}

// sparkTolerance is the tolerance for Spark's answers: its avg of a
// DECIMAL(15,2) is a DECIMAL of scale 6 (rounded to 5e-7, which is 1e-5 of
// an average discount of 0.05), where DuckDB's is a double.
var sparkTolerance = tpch.Tolerance{Rel: 1e-5, Abs: tpch.DefaultTolerance.Abs}

// runOne runs q on sys and checks its answer.
func runOne(s settings, ref tpch.RefData, q tpch.Query, sys string) sample {
	base := filepath.Join(s.outDir, q.Name+"."+sys)
	var cmd *exec.Cmd
	switch sys {
	case "floe":
		cmd = exec.Command(s.floeBin, "run", "-p", strconv.Itoa(s.p), "tpch", "--query", q.Name,
			"--input", ref.Parquet, "--output", base+".out")
	default:
		cmd = exec.Command(ref.Python, ref.Script, "run", "--engine", sys, "--data", ref.Parquet,
			"--query", strings.TrimPrefix(q.Name, "q"), "--threads", strconv.Itoa(s.p), "--out", base+".csv")
	}
	m, stdout := measure(cmd, base+".log")
	if m.err != nil {
		return m
	}
	var got [][]string
	var err error
	if sys == "floe" {
		got, err = tpch.ReadOutput(base+".out", q)
	} else {
		var line struct {
			QuerySeconds float64 `json:"query_seconds"`
		}
		if err := json.Unmarshal(lastLine(stdout), &line); err == nil {
			m.query = time.Duration(line.QuerySeconds * float64(time.Second))
		}
		got, err = tpch.ReadCSV(base + ".csv")
	}
	if err == nil {
		var want [][]string
		if want, err = tpch.ReadCSV(ref.Answer(q)); err == nil {
			tol := tpch.DefaultTolerance
			if sys == "spark" {
				tol = sparkTolerance
			}
			err = tpch.CompareWithin(q, want, got, tol)
		}
	}
	m.err = err
	return m
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

// measure runs cmd to its end, its stdout and stderr into logPath too.
func measure(cmd *exec.Cmd, logPath string) (sample, []byte) {
	logf, err := os.Create(logPath)
	if err != nil {
		return sample{err: err}, nil
	}
	defer logf.Close()
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, logf)
	cmd.Stderr = logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{err: fmt.Errorf("start %s: %w", cmd.Path, err)}, nil
	}
	peak := sampleTree(cmd.Process.Pid)
	werr := cmd.Wait()
	m := sample{wall: time.Since(start), rssKB: peak()}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	m.rssKB = max(m.rssKB, ru.Maxrss)
	if werr != nil {
		m.err = fmt.Errorf("%s: %w (log: %s)", strings.Join(cmd.Args, " "), werr, logPath)
	}
	return m, out.Bytes()
}

// sampleTree samples the summed resident set of pid and its descendants
// every 50 ms until the returned function is called, which returns the
// highest sum in kB.
func sampleTree(pid int) func() int64 {
	var mu sync.Mutex
	var peak int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			kb := treeRSS(pid)
			mu.Lock()
			peak = max(peak, kb)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// treeRSS is the summed VmRSS, in kB, of pid and its descendants.
func treeRSS(root int) int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command, in parentheses, may hold spaces: fields follow the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 {
			ppid, _ := strconv.Atoi(f[1])
			parent[pid] = ppid
		}
	}
	in := func(pid int) bool {
		for n := 0; pid > 1 && n < 64; n++ {
			if pid == root {
				return true
			}
			pid = parent[pid]
		}
		return false
	}
	var sum int64
	for pid := range parent {
		if !in(pid) {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				sum += kb
			}
		}
	}
	return sum
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func mb(kb int64) string {
	if kb == 0 {
		return "-"
	}
	return fmt.Sprintf("%d MB", kb/1024)
}

func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
}

func render(s settings, res map[string]map[string]sample) string {
	var b strings.Builder
	head := []string{"query"}
	for _, sys := range s.systems {
		head = append(head, sys+" wall", sys+" CPU", sys+" peak")
		if sys != "floe" {
			head = append(head, sys+" query")
		}
	}
	has := func(sys string) bool { return slices.Contains(s.systems, sys) }
	if has("floe") && has("duckdb") {
		head = append(head, "floe/DuckDB wall", "floe/DuckDB CPU")
	}
	if has("floe") && has("spark") {
		head = append(head, "floe/Spark wall", "floe/Spark CPU")
	}
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|" + strings.Repeat(" --- |", len(head)) + "\n")
	var failures []string
	for _, q := range s.queries {
		r := res[q.Name]
		cols := []string{q.Name}
		for _, sys := range s.systems {
			m := r[sys]
			switch {
			case m.err != nil && m.cpu == 0: // it did not run
				failures = append(failures, fmt.Sprintf("- %s on %s: %s", q.Name, sys, oneLine(m.err.Error())))
				cols = append(cols, "failed", "", "")
			case m.err != nil: // it ran, but failed or answered wrongly: measured, marked
				failures = append(failures, fmt.Sprintf("- %s on %s (marked ✗): %s", q.Name, sys, oneLine(m.err.Error())))
				cols = append(cols, secs(m.wall)+" ✗", secs(m.cpu), mb(m.rssKB))
			default:
				cols = append(cols, secs(m.wall), secs(m.cpu), mb(m.rssKB))
			}
			if sys != "floe" {
				cols = append(cols, secs(m.query))
			}
		}
		f := r["floe"]
		for _, other := range []string{"duckdb", "spark"} {
			if has("floe") && has(other) {
				o := r[other]
				if f.cpu == 0 || o.cpu == 0 {
					cols = append(cols, "-", "-")
				} else {
					cols = append(cols, ratio(f.wall, o.wall), ratio(f.cpu, o.cpu))
				}
			}
		}
		b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
	}
	if len(failures) > 0 {
		b.WriteString("\nFailed or wrong:\n\n" + strings.Join(failures, "\n") + "\n")
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

const (
	begin = "<!-- bench-tpch:begin -->"
	end   = "<!-- bench-tpch:end -->"
)

func section(s settings, machine, table string, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### TPC-H, floe against DuckDB and Spark (`make bench-tpch`, %s)\n\n", begin, time.Now().Format("2006-01-02"))
	b.WriteString("Written by `make bench-tpch` (scripts/benchtpch); rerunning it replaces this section.\n")
	fmt.Fprintf(&b, "TPC-H scale %s generated by DuckDB's tpch extension (dbgen), the same Parquet files for all three, parallelism %d, "+
		"one run each; the whole harness took %s. Every answer equals DuckDB's reference answer (`tpch.Compare`; Spark's to 1e-5 relative, as its averages of decimals are rounded to 6 places) unless listed below the table.\n",
		s.sf, s.p, took.Round(time.Second))
	fmt.Fprintf(&b, "floe: `bin/floe run -p %d tpch --query Q --input DIR --output DIR`. DuckDB: the Python package, an in-memory database "+
		"with views over the Parquet files, `SET threads = %d`. Spark: pyspark, `local[%d]`, 4 GB driver heap, `spark.sql.shuffle.partitions=%d`, "+
		"the same SQL text as DuckDB's (`tpch_queries()`). Wall: the process from start to exit (Python's start, and Spark's JVM's, included); "+
		"query: the engine's own time for the query, as its Python driver measured it. CPU: user + system of the process and its waited-for "+
		"descendants (wait4). Peak: the larger of the maximum resident set from wait4 and the highest sampled sum over the process tree. "+
		"Ratios below 1: floe took less.\n\n", s.p, s.p, s.p, s.p)
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		machine += "\nload average at the end: " + strings.Join(strings.Fields(string(l))[:3], " ")
	}
	b.WriteString("Machine:\n\n```\n" + machine + "\n```\n\n")
	b.WriteString(table)
	b.WriteString(end + "\n")
	return b.String()
}

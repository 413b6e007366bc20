package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"floe/internal/fsys"
)

var floeBin string

// testVersion is the version floeBin is linked with, as the Makefile does.
const testVersion = "v0.0.0-clitest"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "floe-cli-test-")
	if err != nil {
		panic(err)
	}
	floeBin = filepath.Join(dir, "floe")
	build := exec.Command("go", "build", "-ldflags", "-X floe/appmaster.Version="+testVersion, "-o", floeBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build floe:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	pid            int
}

func floe(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(floeBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("floe %v did not finish", args)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String(), pid: cmd.Process.Pid}
}

// countWords is an independent word count: runs of letters or digits, lower-cased.
func countWords(t *testing.T, files ...string) map[string]int64 {
	re := regexp.MustCompile(`[\p{L}\p{N}]+`)
	counts := map[string]int64{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range re.FindAllString(string(b), -1) {
			counts[strings.ToLower(w)]++
		}
	}
	return counts
}

// readOutput reads a wordcount output directory, local or hdfs://.
func readOutput(t *testing.T, dir string) map[string]int64 {
	got := map[string]int64{}
	fsy, root, err := fsys.Resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fsy.List(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ".") || strings.HasPrefix(e.Name, "_") {
			t.Errorf("hidden file %s left in the output", e.Name)
			continue
		}
		f, err := fsy.Open(t.Context(), fsy.Join(root, e.Name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var w string
			var n int64
			if _, err := fmt.Sscanf(strings.Replace(sc.Text(), "\t", " ", 1), "%s %d", &w, &n); err != nil {
				t.Fatalf("%s: bad line %q", e.Name, sc.Text())
			}
			if _, dup := got[w]; dup {
				t.Fatalf("word %q appears twice", w)
			}
			got[w] = n
		}
		f.Close()
	}
	return got
}

// writeCorpus writes several files with unicode, digits and punctuation.
func writeCorpus(t *testing.T) string {
	dir := t.TempDir()
	words := []string{"Straße", "straße", "naïve", "日本語", "x1", "42", "don't", "well-known", "A", "the", "The", "THE"}
	for f := range 3 {
		var b strings.Builder
		for i := range 4000 {
			fmt.Fprintf(&b, "%s, %s;%s.\n", words[(i*7+f)%len(words)], words[(i*3+f)%len(words)], words[i%len(words)])
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("in-%d.txt", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWordCountMatchesIndependentCount(t *testing.T) {
	in := writeCorpus(t)
	files, _ := filepath.Glob(filepath.Join(in, "*.txt"))
	want := countWords(t, files...)
	for _, p := range []string{"1", "2", "4"} {
		out := filepath.Join(t.TempDir(), "out")
		r := floe(t, nil, "run", "-p", p, "wordcount", "--input", in, "--output", out)
		if r.code != 0 {
			t.Fatalf("p=%s: exit %d: %s", p, r.code, r.stderr)
		}
		if got := readOutput(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("p=%s: counts differ\n got %v\nwant %v", p, got, want)
		}
	}
	// A glob of the same files with a file:// prefix.
	out := filepath.Join(t.TempDir(), "out")
	if r := floe(t, nil, "run", "-p", "2", "wordcount", "--input", "file://"+in+"/in-*.txt", "--output", out); r.code != 0 {
		t.Fatalf("glob: exit %d: %s", r.code, r.stderr)
	}
	if got := readOutput(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("glob: counts differ")
	}
}

func TestWordCountPrintsTopWords(t *testing.T) {
	in := writeCorpus(t)
	r := floe(t, nil, "run", "-p", "2", "wordcount", "--input", in)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(in, "*.txt"))
	want := countWords(t, files...)
	type wc struct {
		w string
		n int64
	}
	var all []wc
	for w, n := range want {
		all = append(all, wc{w, n})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].w < all[j].w
	})
	var b strings.Builder
	for _, x := range all[:min(20, len(all))] {
		fmt.Fprintf(&b, "%s\t%d\n", x.w, x.n)
	}
	if r.stdout != b.String() {
		t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, b.String())
	}
}

// The same job with TaskManagers as separate OS processes of the binary.
func TestWordCountWithTaskManagerProcesses(t *testing.T) {
	in := writeCorpus(t)
	files, _ := filepath.Glob(filepath.Join(in, "*.txt"))
	out := filepath.Join(t.TempDir(), "out")
	r := floe(t, []string{"FLOE_LOG_LEVEL=debug"}, "run", "-p", "4", "-D", "local.taskmanager.processes=true",
		"wordcount", "--input", in, "--output", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got, want := readOutput(t, out), countWords(t, files...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("counts differ")
	}
	pids := map[int]bool{}
	for _, line := range strings.Split(r.stderr, "\n") {
		var rec struct {
			Message string `json:"message"`
			PID     int    `json:"pid"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "TaskManager registered" {
			pids[rec.PID] = true
		}
	}
	if len(pids) != 2 || pids[r.pid] || pids[0] {
		t.Fatalf("TaskManager pids %v, client pid %d: want two other processes", pids, r.pid)
	}
	for pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("TaskManager process %d still running", pid)
		}
	}
}

func TestBadInputGetsOneLineAndExitCode(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "job.txt")
	os.WriteFile(notExec, []byte("x"), 0o644)
	readOnly := filepath.Join(dir, "ro")
	os.Mkdir(readOnly, 0o555)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "nosuchjob"}, 2, "unknown job"},
		{[]string{"run", "--bogus", "wordcount"}, 2, "bogus"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"run"}, 2, "missing <job>"},
		{[]string{"run", "wordcount"}, 2, "--input is required"},
		{[]string{"run", "wordcount", "--input", filepath.Join(dir, "missing")}, 2, "does not exist"},
		{[]string{"run", "wordcount", "--input", dir, "--output", "/proc/floe-out"}, 2, "not writable"},
		{[]string{"run", "-p", "0", "wordcount", "--input", dir}, 2, "parallelism"},
		{[]string{"run", "-D", "novalue", "wordcount", "--input", dir}, 2, "key=value"},
		{[]string{"run", "-D", "execution.buffer-timeout=soon", "wordcount", "--input", notExec}, 2, "duration"},
		{[]string{"run", "-t", "mars", "wordcount"}, 2, "unknown target"},
		{[]string{"run", "-p", "100000", "wordcount", "--input", dir}, 2, "max parallelism"},
		{[]string{"run", "-D", "execution.runtime-mode=batchy", "wordcount", "--input", dir}, 2, "STREAMING or BATCH"},
		{[]string{"run", "-D", "execution.buffer-timeout=-5s", "wordcount", "--input", dir}, 2, "want -1"},
		{[]string{"run", "-D", "execution.checkpointing.interval=soon", "wordcount", "--input", dir}, 2, "not a duration"}, // no TaskManager starts: one line
		{[]string{"run", "-D", "floe.config.strict=true", "-D", "execution.checkpointing.intervall=1s", "wordcount", "--input", dir}, 2, `did you mean "execution.checkpointing.interval"`},
		{[]string{"run", notExec}, 2, "not an executable"},
		{[]string{"run", "keyed-count", "--events", "-1", "--output", dir}, 2, "--events"},
		{[]string{"run", "nexmark"}, 2, "--query is required"},
		{[]string{"run", "nexmark", "--query", "q6"}, 2, "unknown query"},
		{[]string{"run", "nexmark", "--query", "q1", "--sink", "kafka"}, 2, "--sink"},
		{[]string{"run", "nexmark", "--query", "q1", "--sink", "file"}, 2, "--output"},
		{[]string{"run", "nexmark", "--query", "q1", "--events", "-5"}, 2, "negative"},
	} {
		r := floe(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("floe %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines > 0 || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("floe %v: stderr is not one line: %q", tc.args, r.stderr)
		}
	}
	if os.Geteuid() != 0 { // root writes anywhere
		r := floe(t, nil, "run", "wordcount", "--input", notExec, "--output", filepath.Join(readOnly, "out"))
		if r.code != 2 {
			t.Errorf("read-only output: exit %d %s", r.code, r.stderr)
		}
	}
}

// A Nexmark query through the CLI: q2's JSON lines are the bids of q0's
// output that it selects (the check that one query's output can be
// recomputed from q0's).
func TestNexmarkCLI(t *testing.T) {
	dir := t.TempDir()
	read := func(sub string) []string {
		var lines []string
		files, _ := filepath.Glob(filepath.Join(dir, sub, "part-*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		}
		return lines
	}
	for _, q := range []string{"q0", "q2"} {
		r := floe(t, nil, "run", "-p", "2", "nexmark", "--query", q, "--events", "20000", "--seed", "3", "--sink", "file", "--output", filepath.Join(dir, q))
		if r.code != 0 {
			t.Fatalf("nexmark %s: exit %d: %s", q, r.code, r.stderr)
		}
	}
	type bid struct {
		Auction int64 `json:"auction"`
		Price   int64 `json:"price"`
	}
	var want []string
	for _, l := range read("q0") {
		var b bid
		if err := json.Unmarshal([]byte(l), &b); err != nil {
			t.Fatalf("q0 line %q: %v", l, err)
		}
		if b.Auction%123 == 0 {
			want = append(want, fmt.Sprintf("{\"auction\":%d,\"price\":%d}", b.Auction, b.Price))
		}
	}
	got := read("q2")
	slices.Sort(got)
	slices.Sort(want)
	if len(read("q0")) < 15000 || len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("q2 has %d rows, q0 %d bids of which %d selected", len(got), len(read("q0")), len(want))
	}
}

func TestVersionAndHelp(t *testing.T) {
	if r := floe(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "floe "+testVersion+" ") {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
	r := floe(t, nil, "run", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "wordcount") || !strings.Contains(r.stdout, "-D") {
		t.Errorf("run --help: %d %q", r.code, r.stdout)
	}
}

// Ctrl-C cancels a running job: exit 130, output not published, and no
// TaskManager process left behind.
func TestInterruptCancelsJob(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(floeBin, "run", "-p", "2", "-D", "local.taskmanager.processes=true",
		"keyed-count", "--events", "0", "--keys", "5", "--rate", "2000", "--output", out)
	cmd.Env = append(os.Environ(), "FLOE_LOG_LEVEL=debug")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the job runs (the sink has opened its in-progress files).
	deadline := time.Now().Add(30 * time.Second)
	for {
		ents, _ := os.ReadDir(out)
		if len(ents) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("job did not start: %s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("floe did not stop after SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130: %s", code, errb.String())
	}
	for _, line := range strings.Split(errb.String(), "\n") {
		var rec struct {
			Message string `json:"message"`
			PID     int    `json:"pid"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "TaskManager registered" {
			if syscall.Kill(rec.PID, 0) == nil {
				t.Errorf("TaskManager process %d still running", rec.PID)
			}
		}
	}
}

// A word over 64 KiB (bufio.Scanner's default limit) is counted and printed
// when the top words are read back; invalid UTF-8 stays inside its word.
func TestWordCountLongWordAndInvalidUTF8(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.txt")
	long := strings.Repeat("x", 100<<10)
	if err := os.WriteFile(in, []byte(long+" "+long+" caf\xe9 caf\xe9 caf\xe9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := floe(t, nil, "run", "wordcount", "--input", in)
	if r.code != 0 {
		t.Fatalf("exit %d: %.300s", r.code, r.stderr)
	}
	if want := "caf\uFFFD\t3\n" + long + "\t2\n"; r.stdout != want {
		t.Fatalf("stdout %.200q, want %.200q", r.stdout, want)
	}
}

// --timeout holds for -t local too: the job is cancelled and floe exits 1
// saying why.
func TestLocalTimeout(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	r := floe(t, nil, "run", "--timeout", "2s", "keyed-count", "--events", "0", "--rate", "100", "--output", out)
	if r.code != 1 || !strings.Contains(r.stderr, "ran longer than --timeout 2s") {
		t.Fatalf("exit %d after %s, stderr %q; want exit 1 saying it ran longer than --timeout", r.code, time.Since(start), r.stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %s", d)
	}
}

// A -D key under floe's prefixes that floe does not know gets one warning
// line naming the nearest key; a job's own key gets none.
func TestUnknownKeyWarns(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("a b\n"), 0o644)
	r := floe(t, nil, "run", "-D", "execution.checkpointing.intervall=1s", "-D", "wordcount.mine=1", "wordcount", "--input", in)
	want := "floe: warning: unknown configuration key \"execution.checkpointing.intervall\" (did you mean \"execution.checkpointing.interval\"?)\n"
	if r.code != 0 || r.stderr != want {
		t.Fatalf("exit %d, stderr %q; want 0 and %q", r.code, r.stderr, want)
	}
}

// A binary that is not a floe job is refused on every target before it runs
// its work; one that takes longer than the probe's limit to build its graph
// is stopped at that limit; a floe job binary runs.
func TestRunRefusesNonFloeBinary(t *testing.T) {
	dir := t.TempDir()
	sleeper := filepath.Join(dir, "sleeper")
	marker := filepath.Join(dir, "ran")
	os.WriteFile(sleeper, []byte("#!/bin/sh\ntouch "+marker+"\nsleep 45\n"), 0o755)
	for _, target := range []string{"local", "yarn-per-job", "yarn-session"} {
		for _, bin := range []string{"/bin/ls", sleeper} {
			start := time.Now()
			r := floe(t, nil, "run", "-t", target, bin)
			if r.code != 2 || !strings.Contains(r.stderr, "not a floe job") || time.Since(start) > 5*time.Second {
				t.Errorf("-t %s %s: exit %d after %s, stderr %q; want exit 2 at once saying it is not a floe job", target, bin, r.code, time.Since(start), r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("-t %s %s ran: stdout %q", target, bin, r.stdout)
			}
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the script ran")
	}
	job := buildTestJob(t)
	start := time.Now()
	r := floe(t, nil, "run", job, "--delay", "45s")
	if d := time.Since(start); r.code != 2 || !strings.Contains(r.stderr, "within 10s") || d > 20*time.Second {
		t.Errorf("slow job: exit %d after %s, stderr %q; want exit 2 after the probe's 10 s", r.code, d, r.stderr)
	}
	if r := floe(t, nil, "run", "-p", "2", job, "--events", "100"); r.code != 0 {
		t.Errorf("floe job binary: exit %d: %s", r.code, r.stderr)
	}
}

// An output directory that is not empty is refused before the job runs;
// --overwrite (or floe.output.overwrite) replaces its files, leaving none of
// the earlier run's.
func TestOutputExistsIsRefused(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	parts := func() []string {
		m, _ := filepath.Glob(filepath.Join(out, "*"))
		slices.Sort(m)
		return m
	}
	if r := floe(t, nil, "run", "-p", "2", "keyed-count", "--events", "1000", "--keys", "3", "--output", out); r.code != 0 {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	first := parts()
	r := floe(t, nil, "run", "-p", "1", "keyed-count", "--events", "1000", "--keys", "3", "--output", out)
	if r.code != 2 || !strings.Contains(r.stderr, "exists and is not empty") || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("second run: exit %d, stderr %q; want exit 2 saying the output is not empty", r.code, r.stderr)
	}
	if !slices.Equal(parts(), first) {
		t.Fatalf("refused run changed the output: %v, was %v", parts(), first)
	}
	for _, args := range [][]string{{"keyed-count", "--overwrite"}, {"-D", "floe.output.overwrite=true", "keyed-count"}} {
		args = append(append([]string{"run", "-p", "1"}, args...), "--events", "1000", "--keys", "3", "--output", out)
		if r := floe(t, nil, args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		for _, p := range parts() {
			if !strings.HasPrefix(filepath.Base(p), "part-0-") {
				t.Fatalf("%v: %s of the earlier run is still there: %v", args, p, parts())
			}
		}
		n := 0
		for _, p := range parts() {
			b, _ := os.ReadFile(p)
			n += strings.Count(string(b), "\n")
		}
		if n != 1000 {
			t.Fatalf("%v: %d lines, want 1000", args, n)
		}
	}
}

// A savepoint that is missing, corrupt or does not fit the job, and a
// checkpoint directory that cannot be created, would fail every restart the
// same way: floe says so in one line, exit 2, within seconds (they used to
// go through the restart strategy and exit 1).
func TestRestoreErrorsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	chk := filepath.Join(dir, "chk")
	r := floe(t, nil, "run", "-p", "2", "--timeout", "3s", "-D", "execution.checkpointing.interval=200ms",
		"-D", "execution.checkpointing.dir="+chk, "-D", "execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION",
		"keyed-count", "--events", "0", "--rate", "5000", "--keys", "20", "--output", filepath.Join(dir, "out0"))
	cps, _ := filepath.Glob(filepath.Join(chk, "*", "chk-*", "_metadata"))
	if len(cps) == 0 {
		t.Fatalf("no retained checkpoint in %s (exit %d: %s)", chk, r.code, r.stderr)
	}
	sp := filepath.Dir(cps[len(cps)-1])
	corrupt := filepath.Join(dir, "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "_metadata"), []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "in.txt")
	os.WriteFile(input, []byte("a b c\n"), 0o644)
	missing := filepath.Join(dir, "nosuch")
	for i, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing -s path", []string{"-s", missing, "keyed-count", "--events", "100"}, []string{missing, "does not exist"}},
		{"corrupt _metadata", []string{"-s", corrupt, "keyed-count", "--events", "100"}, []string{corrupt, "corrupt metadata"}},
		{"uid mismatch", []string{"-s", sp, "wordcount", "--input", input}, []string{sp, `operator uid "count"`, "--allow-non-restored-state"}},
		{"max parallelism changed", []string{"-s", sp, "-D", "pipeline.max-parallelism=64", "keyed-count", "--events", "100"}, []string{sp, "max parallelism 128", "set pipeline.max-parallelism to 128"}},
		{"checkpoint dir cannot be created", []string{"-D", "execution.checkpointing.interval=100ms", "-D", "execution.checkpointing.dir=/proc/floe-chk",
			"keyed-count", "--events", "100000", "--rate", "20000"}, []string{"/proc/floe-chk", "execution.checkpointing.dir", "not writable"}},
	} {
		args := append([]string{"run"}, tc.args...)
		args = append(args, "--output", filepath.Join(dir, fmt.Sprintf("out%d", i+1)))
		start := time.Now()
		r := floe(t, nil, args...)
		took := time.Since(start)
		stderr := strings.TrimSpace(r.stderr)
		if r.code != 2 || strings.Contains(stderr, "\n") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line", tc.name, r.code, stderr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q does not mention %q", tc.name, stderr, w)
			}
		}
		if took > 3*time.Second {
			t.Errorf("%s: took %s: went through restarts?", tc.name, took)
		}
	}
	// With --allow-non-restored-state the unmatched state is dropped and the job runs.
	if r := floe(t, nil, "run", "-s", sp, "-n", "wordcount", "--input", input, "--output", filepath.Join(dir, "out-allowed")); r.code != 0 {
		t.Errorf("-n: exit %d: %s", r.code, r.stderr)
	}
}

// Command pprofgroup reads `go tool pprof -traces` output of a floe profile on
// stdin and prints where the samples go, grouped two ways:
//
//   - by component: each sample goes to the innermost frame of its stack that
//     belongs to one of floe's parts (generator, user functions, state,
//     timers, encoding, exchange, operators, task loop); runtime and other
//     standard-library frames are skipped in that walk, so an allocation or
//     a map lookup counts for the code that made it. Stacks under the garbage collector's own goroutines (marking,
//     sweeping, scavenging, assists) count as GC; stacks with no floe frame
//     at all as runtime (scheduler and the rest). Two further lines say how
//     much of everything was under runtime.mallocgc and in system calls.
//   - flat by package: the leaf frame's package.
//
// Used by scripts/profile-nexmark; works for CPU (durations) and allocation
// (sizes) profiles.
package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type rule struct {
	component string
	match     func(fn, pkg string) bool
}

var timerRE = regexp.MustCompile(`(?i)timer`)

// rules are tried in order on each frame, innermost first.
var rules = []rule{
	{"timers", func(fn, pkg string) bool { return strings.HasPrefix(pkg, "floe/") && timerRE.MatchString(fn) }},
	{"generator", func(fn, pkg string) bool {
		return pkg == "floe/internal/nexmark" || strings.HasPrefix(fn, "floe/datastream.(*generator[")
	}},
	{"user functions", func(fn, pkg string) bool { return pkg == "floe/internal/nexmark/queries" }},
	{"state", func(fn, pkg string) bool { return strings.HasPrefix(pkg, "floe/internal/state") }},
	{"encoding", func(fn, pkg string) bool {
		return strings.HasPrefix(pkg, "floe/internal/codec") || strings.HasPrefix(pkg, "github.com/apache/arrow") ||
			strings.HasPrefix(fn, "floe/datastream.(*decoder[") || strings.HasPrefix(pkg, "hash/crc32") ||
			strings.HasPrefix(pkg, "github.com/klauspost") || strings.HasPrefix(pkg, "github.com/pierrec") ||
			strings.HasPrefix(pkg, "github.com/google/flatbuffers")
	}},
	{"exchange", func(fn, pkg string) bool {
		return strings.HasPrefix(pkg, "floe/container/network") || strings.HasPrefix(pkg, "google.golang.org/") ||
			strings.HasPrefix(pkg, "golang.org/x/net") || strings.HasPrefix(pkg, "floe/internal/rpc") ||
			pkg == "net" || pkg == "internal/poll" || pkg == "syscall" || strings.HasPrefix(pkg, "crypto/")
	}},
	{"operators (datastream: chain, windows, keyed ops)", func(fn, pkg string) bool { return pkg == "floe/datastream" }},
	{"task loop (container)", func(fn, pkg string) bool { return strings.HasPrefix(pkg, "floe/container") }},
	{"other floe", func(fn, pkg string) bool { return strings.HasPrefix(pkg, "floe/") }},
}

var gcFrames = []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge",
	"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination", "runtime.forEachP", "runtime.gcDrain"}

// pkgOf is the package of a function name as pprof prints it.
func pkgOf(fn string) string {
	s := fn
	if i := strings.IndexAny(s, "[("); i >= 0 {
		s = s[:i]
	}
	slash := strings.LastIndexByte(s, '/')
	if dot := strings.IndexByte(s[slash+1:], '.'); dot >= 0 {
		return strings.TrimSuffix(s[:slash+1+dot], ".")
	}
	return strings.TrimSuffix(s, ".")
}

func component(stack []string) string {
	for _, fn := range stack {
		if slices.Contains(gcFrames, fn) {
			return "GC (marking, sweeping, assists)"
		}
	}
	for _, fn := range stack {
		pkg := pkgOf(fn)
		if pkg == "runtime" || strings.HasPrefix(pkg, "runtime/") || strings.HasPrefix(pkg, "internal/runtime") {
			continue
		}
		for _, r := range rules {
			if r.match(fn, pkg) {
				return r.component
			}
		}
		if first, _, _ := strings.Cut(pkg, "/"); !strings.Contains(first, ".") {
			continue // the standard library: its caller decides
		}
		return "other: " + pkg
	}
	return "runtime (scheduler, other)"
}

var sizeUnits = map[string]float64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}

// value parses a sample's value: a duration (CPU) or a size (allocation).
func value(s string) (float64, bool) {
	if d, err := time.ParseDuration(s); err == nil {
		return float64(d), true
	}
	for u, m := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u); ok {
			if f, err := strconv.ParseFloat(n, 64); err == nil {
				return f * m, true
			}
		}
	}
	return 0, false
}

func main() {
	byComp, byPkg := map[string]float64{}, map[string]float64{}
	var total, malloc, sys float64
	var v float64
	var stack []string
	flush := func() {
		if len(stack) == 0 {
			return
		}
		total += v
		byComp[component(stack)] += v
		byPkg[pkgOf(stack[0])] += v
		if slices.ContainsFunc(stack, func(fn string) bool { return strings.HasPrefix(fn, "runtime.mallocgc") }) {
			malloc += v
		}
		if slices.ContainsFunc(stack, func(fn string) bool {
			return strings.HasPrefix(fn, "syscall.") || strings.HasPrefix(fn, "internal/runtime/syscall.")
		}) {
			sys += v
		}
		stack = stack[:0]
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(stack) == 0 && !strings.HasPrefix(line, " ") {
			continue // the header: File, Type, Duration ...
		}
		if len(stack) == 0 {
			x, ok := value(f[0])
			if !ok || len(f) < 2 {
				continue
			}
			v = x
			stack = append(stack, strings.TrimSuffix(strings.Join(f[1:], " "), " (inline)"))
			continue
		}
		stack = append(stack, strings.TrimSuffix(strings.Join(f, " "), " (inline)"))
	}
	flush()
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "pprofgroup: read:", err)
		os.Exit(1)
	}
	if total == 0 {
		fmt.Fprintln(os.Stderr, "pprofgroup: no samples on stdin (want `go tool pprof -traces` output)")
		os.Exit(1)
	}
	print("by component (innermost floe part of each stack)", byComp, total, 0)
	fmt.Printf("  %-52s %5.1f%%\n", "(of all: under runtime.mallocgc)", 100*malloc/total)
	fmt.Printf("  %-52s %5.1f%%\n", "(of all: in system calls)", 100*sys/total)
	print("flat by package (leaf frame)", byPkg, total, 12)
}

func print(title string, m map[string]float64, total float64, top int) {
	type kv struct {
		k string
		v float64
	}
	var rows []kv
	for k, v := range m {
		rows = append(rows, kv{k, v})
	}
	slices.SortFunc(rows, func(a, b kv) int { return cmp.Compare(b.v, a.v) })
	if top > 0 && len(rows) > top {
		rows = rows[:top]
	}
	fmt.Println(title + ":")
	for _, r := range rows {
		fmt.Printf("  %-52s %5.1f%%\n", r.k, 100*r.v/total)
	}
}

// Command benchtable turns `go test -bench` output into a table of medians
// per benchmark and metric (run benchmarks with -count N for N samples).
//
// With -doc FILE -section NAME -only PREFIX it also writes the table of the
// benchmarks whose name starts with PREFIX into FILE, between the lines
// <!-- NAME:begin --> and <!-- NAME:end --> (which must be there), under a
// line with the date and the machine (and -by: what wrote it).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	doc := flag.String("doc", "", "also write the table of -only's benchmarks into this file, between -section's markers")
	section := flag.String("section", "", "the markers' name: <!-- NAME:begin --> and <!-- NAME:end -->")
	only := flag.String("only", "", "the benchmarks (name prefix) written into -doc")
	by := flag.String("by", "make bench-yarn", "what wrote the table, for the line above it in -doc")
	flag.Parse()
	var all, part bytes.Buffer
	table(os.Stdin, &all, "")
	os.Stdout.Write(all.Bytes())
	if *doc == "" {
		return
	}
	table(bytes.NewReader(input.Bytes()), &part, *only)
	if err := writeSection(*doc, *section, *by, part.String()); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// input is what table read first, for the second table.
var input bytes.Buffer

// writeSection replaces the text between name's markers in doc with body.
func writeSection(doc, name, by, body string) error {
	b, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q and %q markers", doc, begin, end)
	}
	load := ""
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average at the end " + strings.Join(strings.Fields(string(l))[:3], " ")
	}
	sec := fmt.Sprintf("Written by `%s` on %s%s.\n\n%s", by, time.Now().Format("2006-01-02"), load, body)
	return os.WriteFile(doc, []byte(s[:i+len(begin)]+sec+s[j:]), 0o644)
}

// table reads benchmark output from r and writes the table of medians of
// the benchmarks whose name starts with only.
func table(r io.Reader, w io.Writer, only string) {
	samples := map[string]map[string][]float64{}
	var order []string
	cpu := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if only == "" {
			input.WriteString(line + "\n")
		}
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = c
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		if !strings.HasPrefix(name, only) {
			continue
		}
		if samples[name] == nil {
			samples[name] = map[string][]float64{}
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			samples[name][f[i+1]] = append(samples[name][f[i+1]], v)
		}
	}
	fmt.Fprintf(w, "machine: %s, %d cores, %s\n\n", cpu, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| benchmark | metric | median | samples |")
	fmt.Fprintln(w, "|---|---|---:|---:|")
	for _, name := range order {
		var units []string
		for u := range samples[name] {
			if u != "ns/op" {
				units = append(units, u)
			}
		}
		sort.Strings(units)
		for _, u := range units {
			v := slices.Clone(samples[name][u])
			slices.Sort(v)
			fmt.Fprintf(w, "| %s | %s | %s | %d |\n", name, u, format(v[len(v)/2]), len(v))
		}
	}
}

func format(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// Command benchtable turns `go test -bench` output into a table of medians
// per benchmark and metric (run benchmarks with -count N for N samples).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	samples := map[string]map[string][]float64{}
	var order []string
	cpu := ""
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := sc.Text()
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
	fmt.Printf("machine: %s, %d cores, %s\n\n", cpu, runtime.NumCPU(), runtime.Version())
	fmt.Println("| benchmark | metric | median | samples |")
	fmt.Println("|---|---|---:|---:|")
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
			fmt.Printf("| %s | %s | %s | %d |\n", name, u, format(v[len(v)/2]), len(v))
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

package benchutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Machine describes the machine a benchmark runs on, one fact per line: the
// CPU's model, cores and threads per core (lscpu), the memory, Go's and
// Java's versions, the load average now and the date. Facts it cannot read
// are left out.
func Machine() string {
	var lines []string
	if out, err := exec.Command("lscpu").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Model name:") || strings.HasPrefix(l, "CPU(s):") || strings.HasPrefix(l, "Thread(s) per core:") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		lines = append(lines, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		l, _, _ := strings.Cut(string(out), "\n")
		lines = append(lines, strings.TrimSpace(l))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			lines = append(lines, "load average at start: "+strings.Join(f[:3], " "))
		}
	}
	lines = append(lines, "date: "+time.Now().Format(time.RFC3339))
	return strings.Join(lines, "\n")
}

// WriteSection puts sec, a piece of Markdown that starts with the line
// begin and ends with the line end (HTML comments marking it), into the file
// doc: in place of what lies between those markers, or, the first time,
// before the heading line before (or at the end when doc has none).
func WriteSection(doc, begin, end, sec, before string) error {
	b, err := os.ReadFile(doc)
	if err != nil {
		return fmt.Errorf("read %s: %w", doc, err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	switch {
	case i >= 0 && j > i:
		rest := s[j+len(end):]
		rest = strings.TrimPrefix(rest, "\n")
		s = s[:i] + sec + rest
	default:
		k := strings.Index(s, "\n"+before)
		if before == "" || k < 0 {
			s += "\n" + sec
		} else {
			s = s[:k+1] + sec + "\n" + s[k+1:]
		}
	}
	if err := os.WriteFile(doc, []byte(s), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", doc, err)
	}
	return nil
}

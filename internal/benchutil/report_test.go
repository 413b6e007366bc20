package benchutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The section goes before the given heading the first time and replaces
// itself, and nothing else, afterwards.
func TestWriteSection(t *testing.T) {
	const begin, end = "<!-- x:begin -->", "<!-- x:end -->"
	doc := filepath.Join(t.TempDir(), "b.md")
	orig := "# B\n\n## Nexmark\n\ntext\n\n## Checkpoints\n\nmore\n"
	if err := os.WriteFile(doc, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	sec := func(body string) string { return begin + "\n" + body + "\n" + end + "\n" }
	for _, body := range []string{"first", "second"} {
		if err := WriteSection(doc, begin, end, sec(body), "## Checkpoints"); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(doc)
	want := "# B\n\n## Nexmark\n\ntext\n\n" + sec("second") + "\n## Checkpoints\n\nmore\n"
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

// Without the heading the section goes at the end.
func TestWriteSectionAppends(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "b.md")
	if err := os.WriteFile(doc, []byte("# B\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSection(doc, "<!-- a -->", "<!-- b -->", "<!-- a -->\nx\n<!-- b -->\n", "## None"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	if got := string(b); got != "# B\n\n<!-- a -->\nx\n<!-- b -->\n" {
		t.Errorf("got %q", got)
	}
}

func TestMachine(t *testing.T) {
	m := Machine()
	if !strings.Contains(m, "date: ") || !strings.Contains(m, "go version") {
		t.Errorf("Machine() = %q: want the Go version and the date", m)
	}
}

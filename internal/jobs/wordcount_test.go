package jobs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"The cat, the hat.", []string{"the", "cat", "the", "hat"}},
		{"Straße x1 42 don't", []string{"straße", "x1", "42", "don", "t"}},
		// Invalid UTF-8 does not split a word: each invalid byte becomes U+FFFD inside it.
		{"caf\xe9 ol\xff\xfeé", []string{"caf\uFFFD", "ol\uFFFD\uFFFDé"}},
		{"\xff", []string{"\uFFFD"}},
		{"", nil},
	} {
		var got []string
		Tokenize(tc.line, func(w string) { got = append(got, w) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

// A word longer than bufio.Scanner's default 64 KiB token limit is read back.
func TestReadWordCountsLongWord(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("a", 200<<10)
	if err := os.WriteFile(filepath.Join(dir, "part-0-0"), []byte(long+"\t3\nb\t1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWordCounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (WordCount{long, 3}) || got[1] != (WordCount{"b", 1}) {
		t.Fatalf("read %d counts, first word %d bytes", len(got), len(got[0].Word))
	}
}

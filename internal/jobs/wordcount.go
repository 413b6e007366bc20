package jobs

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"floe/datastream"
	"floe/internal/fsys"
)

var wordCount = Job{
	Name: "wordcount",
	Usage: "--input <file|dir|glob> [--output <dir> [--overwrite]]: count words (runs of letters or digits, lower-cased; " +
		"an invalid UTF-8 byte is part of its word, as U+FFFD); without --output print the 20 most frequent",
	Run: runWordCount,
}

// WordCount is one word and how often it occurs.
type WordCount struct {
	Word  string
	Count int64
}

// Tokenize emits the maximal runs of Unicode letters or digits of line,
// lower-cased. A byte that is not valid UTF-8 counts as a letter and becomes
// U+FFFD in the word, so text in another encoding neither splits words nor
// yields invalid UTF-8 in the output.
func Tokenize(line string, emit func(string)) {
	start := -1
	for i, r := range line {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == utf8.RuneError {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			emit(lower(line[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		emit(lower(line[start:]))
	}
}

// lower lower-cases w and replaces each invalid byte by U+FFFD (strings.Map's rule).
func lower(w string) string { return strings.Map(unicode.ToLower, w) }

func runWordCount(ctx context.Context, env *datastream.Environment, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	input := fs.String("input", "", "input file, directory or glob")
	output := fs.String("output", "", "output directory")
	overwrite := fs.Bool("overwrite", false, "replace the output directory's files")
	if err := fs.Parse(args); err != nil {
		return usageErr("wordcount", "%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("wordcount", "unexpected argument %q", fs.Arg(0))
	}
	if *input == "" {
		return usageErr("wordcount", "--input is required")
	}
	if _, err := datastream.ExpandPaths(*input); err != nil {
		return usageErr("wordcount", "%v", err)
	}
	dir := *output
	printTop := dir == ""
	if printTop {
		tmp, err := os.MkdirTemp("", "floe-wordcount-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	env.SetRuntimeMode(datastream.Batch)
	lines := datastream.ReadTextFile(env, *input).Name("Source: " + *input)
	words := datastream.FlatMap(lines, func(line string, emit func(WordCount)) {
		Tokenize(line, func(w string) { emit(WordCount{Word: w, Count: 1}) })
	}).Name("Tokenize")
	counts := datastream.Sum(datastream.KeyBy(words, func(w WordCount) string { return w.Word }),
		func(w *WordCount) *int64 { return &w.Count })
	sink := datastream.WriteText(counts, dir, func(w WordCount) string {
		return w.Word + "\t" + strconv.FormatInt(w.Count, 10)
	}).Name("Sink: " + dir)
	if *overwrite {
		sink.Overwrite()
	}
	if _, err := env.Execute(ctx, "wordcount"); err != nil {
		return outputErr("wordcount", err)
	}
	if !printTop {
		return nil
	}
	all, err := ReadWordCounts(dir)
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Count != all[j].Count {
			return all[i].Count > all[j].Count
		}
		return all[i].Word < all[j].Word
	})
	for _, w := range all[:min(20, len(all))] {
		fmt.Fprintf(stdout, "%s\t%d\n", w.Word, w.Count)
	}
	return nil
}

// ReadWordCounts reads the visible part files of a wordcount output directory.
func ReadWordCounts(dir string) ([]WordCount, error) {
	files, err := datastream.ExpandPaths(dir)
	if err != nil {
		return nil, err
	}
	var all []WordCount
	for _, name := range files {
		fsy, p, err := fsys.Resolve(name)
		if err != nil {
			return nil, err
		}
		f, err := fsy.Open(context.Background(), p)
		if err != nil {
			return nil, err
		}
		// A reader, not a bufio.Scanner: a word has no length limit.
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadString('\n')
			if line = strings.TrimSuffix(line, "\n"); line != "" {
				w, c, ok := strings.Cut(line, "\t")
				n, perr := strconv.ParseInt(c, 10, 64)
				if !ok || perr != nil {
					f.Close()
					return nil, fmt.Errorf("%s: malformed line %.80q", filepath.Base(name), line)
				}
				all = append(all, WordCount{Word: w, Count: n})
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("read %s: %w", name, err)
			}
		}
		f.Close()
	}
	return all, nil
}

package fsys

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLocalGlob(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.txt", "b.txt", "c.log", ".hidden", "_SUCCESS"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	for _, tc := range []struct {
		uri  string
		want []string
	}{
		{dir, []string{"a.txt", "b.txt", "c.log"}},
		{"file://" + dir, []string{"a.txt", "b.txt", "c.log"}},
		{filepath.Join(dir, "*.txt"), []string{"a.txt", "b.txt"}},
		{"file://" + filepath.Join(dir, "c.log"), []string{"c.log"}},
	} {
		got, err := Glob(context.Background(), tc.uri)
		if err != nil {
			t.Fatalf("%s: %v", tc.uri, err)
		}
		var names []string
		for _, g := range got {
			names = append(names, filepath.Base(g))
			f, p, _ := Resolve(g)
			r, err := f.Open(context.Background(), p)
			if err != nil {
				t.Fatalf("open %s: %v", g, err)
			}
			b, _ := io.ReadAll(r)
			r.Close()
			if string(b) != filepath.Base(g) {
				t.Fatalf("%s holds %q", g, b)
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%s: %v, want %v", tc.uri, names, tc.want)
		}
	}
	if _, err := Glob(context.Background(), filepath.Join(dir, "missing")); !errors.Is(err, ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Glob(context.Background(), filepath.Join(dir, "*.csv")); !errors.Is(err, ErrNotExist) {
		t.Errorf("no match: %v", err)
	}
	if _, _, err := Resolve("s3://bucket/x"); err == nil {
		t.Error("s3 accepted")
	}
}

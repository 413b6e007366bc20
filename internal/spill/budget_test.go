package spill

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"floe/config"
)

func TestManagedMemory(t *testing.T) {
	for _, tc := range []struct {
		kv   map[string]string
		want int64
		bad  bool
	}{
		{map[string]string{}, 128 << 20, false},
		{map[string]string{config.TaskManagerMemory: "2g"}, 512 << 20, false},
		{map[string]string{KeyManagedMemory: "128mb"}, 128 << 20, false},
		{map[string]string{KeyManagedMemory: "1g"}, 1 << 30, false},
		{map[string]string{KeyManagedMemory: "64 m"}, 64 << 20, false},
		{map[string]string{KeyManagedMemory: "512KB"}, 512 << 10, false},
		{map[string]string{KeyManagedMemory: "1048576"}, 1 << 20, false},
		{map[string]string{KeyManagedMemory: "3 bytes"}, 3, false},
		{map[string]string{KeyManagedMemory: "lots"}, 0, true},
		{map[string]string{KeyManagedMemory: "1.5g"}, 0, true},
		{map[string]string{KeyManagedMemory: "1x"}, 0, true},
		{map[string]string{KeyManagedMemory: "99999999999t"}, 0, true},
	} {
		got, err := ManagedMemory(config.New(tc.kv))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%v: %d, %v; want %d (error %v)", tc.kv, got, err, tc.want, tc.bad)
		}
		if tc.bad && !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%v: error %v does not wrap config.ErrInvalid", tc.kv, err)
		}
	}
}

func TestTmpDirs(t *testing.T) {
	t.Setenv("LOCAL_DIRS", "/y1,/y2")
	if got := TmpDirs(config.New(map[string]string{KeyTmpDirs: "/a, /b:/c"})); !slices.Equal(got, []string{"/a", "/b", "/c"}) {
		t.Errorf("io.tmp.dirs: %v", got)
	}
	if got := TmpDirs(config.New(nil)); !slices.Equal(got, []string{"/y1", "/y2"}) {
		t.Errorf("LOCAL_DIRS: %v", got)
	}
	t.Setenv("LOCAL_DIRS", "")
	if got := TmpDirs(config.New(nil)); !slices.Equal(got, []string{os.TempDir()}) {
		t.Errorf("default: %v", got)
	}
}

func TestBudgetSplit(t *testing.T) {
	b := NewBudget(1000)
	kids := b.Split(4)
	if kids[0].Limit() != 250 {
		t.Fatalf("child limit %d", kids[0].Limit())
	}
	if !kids[0].reserve(200) || kids[0].reserve(100) || !kids[1].reserve(250) {
		t.Fatal("children's limits not enforced on their own")
	}
	if b.Used() != 450 {
		t.Errorf("parent used %d, want the children's 450", b.Used())
	}
	kids[0].release(200)
	if b.Used() != 250 || b.Peak() != 450 {
		t.Errorf("after release: used %d peak %d", b.Used(), b.Peak())
	}
}

func TestSize(t *testing.T) {
	type inner struct {
		S []string
		B []byte
	}
	type outer struct {
		A string
		I inner
		N int64
		M map[int64]int64
	}
	v := outer{A: "abc", I: inner{S: []string{"de", "f"}, B: make([]byte, 2, 10)}, M: map[int64]int64{1: 1}}
	sh := shapeOf[outer]()
	strHdr := int64(16)
	want := sh.fixed + 3 + (2*strHdr + 3) + 10 + (8 + 8 + mapEntryOverhead)
	if got := sh.size(ptrOf(&v)); got != want {
		t.Errorf("size %d, want %d", got, want)
	}
	// own gives the strings and slices copies of their own.
	w := v
	sh.own(ptrOf(&w))
	if unsafe.StringData(w.A) == unsafe.StringData(v.A) || &w.I.S[0] == &v.I.S[0] || w.A != v.A || !slices.Equal(w.I.S, v.I.S) {
		t.Error("own did not copy, or changed the value")
	}
	if s := shapeOf[int64](); s.extra != nil || s.size(ptrOf(new(int64))) != 8 {
		t.Error("fixed-size type has a variable part")
	}
}

// A cancelled context ends an operator with the context's error, and Close
// still removes its files.
func TestCancelCleansUp(t *testing.T) {
	dir := t.TempDir()
	in := genRecs(4, 20000, 1<<30, 0)
	s, err := NewSorter(byKey, NewBudget(bytesOf(in)/8), WithDirs(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i, r := range in {
		if i == len(in)/2 {
			cancel()
		}
		if err = s.Add(ctx, r); err != nil {
			break
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Add after cancel: %v", err)
	}
	if s.Stats().Runs == 0 {
		t.Fatal("nothing spilled before the cancel: the test proves nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, dir)
}

// A damaged spill file fails with ErrCorrupt, not a panic.
func FuzzFileReader(f *testing.F) {
	dir := f.TempDir()
	st := &Stats{}
	sp := newSpace([]string{dir}, st)
	defer sp.close()
	c := mustCodec[rec](f)
	w, err := newFileWriter(sp, c, "fuzz", 1<<10)
	if err != nil {
		f.Fatal(err)
	}
	rs := genRecs(5, 50, 10, 0)
	if err := w.writeAll(rs); err != nil {
		f.Fatal(err)
	}
	name, err := w.finish()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(name)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := eachRecord(c, p, func(*rec) error { return nil })
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	})
}

package checkpoint

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"floe/internal/keygroup"
)

// keyedOperator is an operator at parallelism p whose subtask i wrote file
// "k<i>" holding its key groups, group g taking g+1 bytes.
func keyedOperator(uid string, p, maxP int) OperatorState {
	op := OperatorState{UID: uid, Parallelism: p, MaxParallelism: maxP}
	for i := range p {
		lo, hi := keygroup.Range(maxP, p, i)
		if lo == hi {
			continue
		}
		h := KeyedHandle{Path: fmt.Sprintf("k%d", i), Start: lo, Offsets: []int64{0}}
		for g := lo; g < hi; g++ {
			h.Offsets = append(h.Offsets, h.Offsets[len(h.Offsets)-1]+int64(g+1))
		}
		h.Size = h.Offsets[len(h.Offsets)-1]
		op.Subtasks = append(op.Subtasks, SubtaskState{Subtask: i, Keyed: []KeyedHandle{h}})
	}
	return op
}

func TestReassignKeyGroups(t *testing.T) {
	for _, tc := range []struct{ maxP, p1, p2 int }{
		{128, 2, 3}, {128, 3, 1}, {128, 1, 128}, {128, 7, 5}, {4, 4, 3}, {10, 3, 3}, {5, 5, 1},
	} {
		op := keyedOperator("count", tc.p1, tc.maxP)
		subs, err := Reassign(&op, tc.p2)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != tc.p2 {
			t.Fatalf("%v: %d subtasks", tc, len(subs))
		}
		seen := make([]int, tc.maxP)
		for j, s := range subs {
			lo, hi := keygroup.Range(tc.maxP, tc.p2, j)
			if s.Subtask != j {
				t.Fatalf("%v: subtask %d at %d", tc, s.Subtask, j)
			}
			for _, h := range s.Keyed {
				for g := h.Start; g < h.End(); g++ {
					if g < lo || g >= hi {
						t.Fatalf("%v: subtask %d of %d got key group %d, owns %d..%d", tc, j, tc.p2, g, lo, hi-1)
					}
					seen[g]++
					// The byte range is the one the old file has for g.
					old := keygroup.Subtask(g, tc.maxP, tc.p1)
					if h.Path != fmt.Sprintf("k%d", old) {
						t.Fatalf("%v: key group %d from %s, want k%d", tc, g, h.Path, old)
					}
					off, n, ok := h.Group(g)
					oo, on, _ := op.Subtasks[old].Keyed[0].Group(g)
					if !ok || off != oo || n != on || n != int64(g+1) {
						t.Fatalf("%v: key group %d at %d+%d, want %d+%d", tc, g, off, n, oo, on)
					}
				}
			}
		}
		for g, n := range seen {
			if n != 1 {
				t.Fatalf("%v: key group %d assigned %d times", tc, g, n)
			}
		}
	}
}

func entries(names ...string) []ListEntry {
	var es []ListEntry
	for _, n := range names {
		es = append(es, ListEntry{Inline: []byte(n)})
	}
	return es
}

func names(es []ListEntry) string {
	var s []string
	for _, e := range es {
		s = append(s, string(e.Inline))
	}
	return strings.Join(s, ",")
}

func TestReassignListState(t *testing.T) {
	op := OperatorState{UID: "src", Parallelism: 2, MaxParallelism: 128, Subtasks: []SubtaskState{
		{Subtask: 0, Lists: []ListState{
			{Name: SourcePositions, Distribution: Split, Entries: entries("a", "b", "c")},
			{Name: "u", Distribution: Union, Entries: entries("u0")},
		}},
		{Subtask: 1, Lists: []ListState{
			{Name: SourcePositions, Distribution: Split, Entries: entries("d")},
			{Name: "u", Distribution: Union, Entries: entries("u1")},
		}},
	}}
	for _, tc := range []struct {
		p          int
		split, uni []string
	}{
		{2, []string{"a,b,c", "d"}, []string{"u0,u1", "u0,u1"}}, // unchanged parallelism keeps each subtask's own
		{3, []string{"a,d", "b", "c"}, []string{"u0,u1", "u0,u1", "u0,u1"}},
		{1, []string{"a,b,c,d"}, []string{"u0,u1"}},
		{5, []string{"a", "b", "c", "d", ""}, []string{"u0,u1", "u0,u1", "u0,u1", "u0,u1", "u0,u1"}},
	} {
		subs, err := Reassign(&op, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		var split, uni []string
		for _, s := range subs {
			if len(s.Lists) != 2 || s.Lists[0].Name != SourcePositions || s.Lists[1].Name != "u" || s.Lists[1].Distribution != Union {
				t.Fatalf("p=%d: lists %+v", tc.p, s.Lists)
			}
			if s.Lists[0].Entries == nil {
				t.Fatalf("p=%d: nil entries: a restored source must see an empty list, not none", tc.p)
			}
			split = append(split, names(s.Lists[0].Entries))
			uni = append(uni, names(s.Lists[1].Entries))
		}
		if !reflect.DeepEqual(split, tc.split) || !reflect.DeepEqual(uni, tc.uni) {
			t.Errorf("p=%d: split %q union %q, want %q %q", tc.p, split, uni, tc.split, tc.uni)
		}
	}
	if _, err := Reassign(&op, 0); !errors.Is(err, ErrParallelism) {
		t.Fatalf("p=0: %v", err)
	}
	if _, err := Reassign(&op, 129); !errors.Is(err, ErrParallelism) {
		t.Fatalf("p=129: %v", err)
	}
}

// Savepoint at 2, restore at 3, then at 1: every key group's bytes survive.
func TestReassignChain(t *testing.T) {
	op := keyedOperator("count", 2, 128)
	at3, err := Reassign(&op, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The restored job at 3 would write new files; as a stand-in, keep the slices.
	op3 := OperatorState{UID: "count", Parallelism: 3, MaxParallelism: 128, Subtasks: at3}
	if err := (&Metadata{ID: 1, Kind: KindSavepoint, Operators: []OperatorState{op3}}).Validate(); err != nil {
		t.Fatalf("reassigned state is not valid metadata: %v", err)
	}
	at1, err := Reassign(&op3, 1)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, h := range at1[0].Keyed {
		total += h.End() - h.Start
	}
	if total != 128 {
		t.Fatalf("%d key groups after 2 -> 3 -> 1", total)
	}
}

func TestCheckRestore(t *testing.T) {
	m := sampleMetadata() // count (keyed, maxP 8), map (stateless), src (lists)
	full := []OperatorSpec{{"count", 3, 8}, {"src", 1, 8}, {"sink", 2, 8}}
	if err := CheckRestore(m, full, false); err != nil {
		t.Fatalf("matching job: %v", err)
	}
	// The stateless "map" needs no match; "src" missing does.
	noSrc := []OperatorSpec{{"count", 3, 8}}
	err := CheckRestore(m, noSrc, false)
	if !errors.Is(err, ErrUnmatchedState) || !strings.Contains(err.Error(), `"src"`) || strings.Contains(err.Error(), `"map"`) || !strings.Contains(err.Error(), "--allow-non-restored-state") {
		t.Fatalf("missing operator: %v", err)
	}
	if err := CheckRestore(m, noSrc, true); err != nil {
		t.Fatalf("allow non-restored state: %v", err)
	}
	err = CheckRestore(m, []OperatorSpec{{"count", 3, 16}, {"src", 1, 16}}, false)
	if !errors.Is(err, ErrMaxParallelismChanged) || !strings.Contains(err.Error(), `"count"`) {
		t.Fatalf("max parallelism change: %v", err)
	}
	if err := CheckRestore(m, []OperatorSpec{{"count", 9, 8}, {"src", 1, 8}}, false); !errors.Is(err, ErrParallelism) {
		t.Fatalf("parallelism above max: %v", err)
	}
}

func TestPlanRestore(t *testing.T) {
	m := sampleMetadata()
	plan, err := PlanRestore(m, "hdfs://nn/sp/savepoint-012345-abc", []OperatorSpec{{"count", 1, 8}, {"src", 3, 8}, {"map", 2, 8}, {"new", 2, 8}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plan["map"]; ok {
		t.Fatal("plan for a stateless operator")
	}
	if _, ok := plan["new"]; ok {
		t.Fatal("plan for an operator the savepoint lacks")
	}
	count := plan["count"]
	if len(count) != 1 || len(count[0].Keyed) != 2 || count[0].Keyed[0].Path != "hdfs://nn/sp/savepoint-012345-abc/count-0-keyed" {
		t.Fatalf("count %+v", count)
	}
	src := plan["src"]
	if len(src) != 3 || names(src[0].Lists[0].Entries) != "split-a@10" || src[2].Lists[0].Entries[0].Path != "hdfs://nn/sp/savepoint-012345-abc/src-1-operator" {
		t.Fatalf("src %+v", src)
	}
}

package mailbox

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A scripted owner: each step is a Post or a Take, with what it must report.
func TestScript(t *testing.T) {
	type step struct {
		post    int   // > 0: Post(post), else Take
		wasIdle bool  // Post: expected result
		took    []int // Take: expected items
		pending bool  // Pending after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty take", []step{{took: nil}}},
		{"post take", []step{
			{post: 1, wasIdle: true, pending: true},
			{took: []int{1}},
		}},
		{"order kept", []step{
			{post: 1, wasIdle: true, pending: true},
			{post: 2, pending: true},
			{post: 3, pending: true},
			{took: []int{1, 2, 3}},
		}},
		{"busy until a take finds nothing", []step{
			{post: 1, wasIdle: true, pending: true},
			{took: []int{1}},
			{post: 2, wasIdle: false, pending: true}, // the owner has not seen the box empty yet
			{took: []int{2}},
			{took: nil},
			{post: 3, wasIdle: true, pending: true},
			{took: []int{3}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Mailbox[int]
			for i, s := range tt.steps {
				if s.post > 0 {
					if got := m.Post(s.post); got != s.wasIdle {
						t.Fatalf("step %d: Post(%d) = %v, want %v", i, s.post, got, s.wasIdle)
					}
				} else if got := m.Take(); !slices.Equal(got, s.took) {
					t.Fatalf("step %d: Take() = %v, want %v", i, got, s.took)
				}
				if got := m.Pending(); got != s.pending {
					t.Fatalf("step %d: Pending() = %v, want %v", i, got, s.pending)
				}
			}
		})
	}
}

// Signal holds a token while items wait, also for items posted before the
// channel was asked for, and no token once they were taken.
func TestSignal(t *testing.T) {
	var m Mailbox[int]
	m.Post(1)
	sig := m.Signal()
	select {
	case <-sig:
	default:
		t.Fatal("no token for an item posted before Signal")
	}
	m.Take()
	select {
	case <-sig:
		t.Fatal("token with nothing posted since")
	default:
	}
	m.Post(2)
	m.Post(3)
	<-sig
	if got := m.Take(); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("Take() = %v, want [2 3]", got)
	}
	if sig2 := m.Signal(); sig2 != sig {
		t.Fatal("Signal returned another channel")
	}
}

// Drain runs what waits in order; what those post waits for the next Drain.
func TestDrain(t *testing.T) {
	var m Mailbox[func()]
	var got []int
	m.Post(func() { got = append(got, 1) })
	m.Post(func() {
		got = append(got, 2)
		m.Post(func() { got = append(got, 3) })
	})
	Drain(&m)
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("first Drain ran %v, want [1 2]", got)
	}
	Drain(&m)
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("second Drain ran %v, want [1 2 3]", got)
	}
}

// Many posters, one owner started on demand by whoever finds the box idle:
// every item is taken exactly once, at most one owner runs at a time, and
// each poster's items come out in its order.
func TestOwnerOnDemand(t *testing.T) {
	var m Mailbox[[2]int] // poster, sequence
	var owners, running sync.WaitGroup
	var holding atomic.Int32 // owners holding taken items
	var mu sync.Mutex        // guards last and total
	last := map[int]int{}
	total := 0
	own := func() {
		defer owners.Done()
		for {
			items := m.Take()
			if len(items) == 0 {
				return
			}
			if holding.Add(1) > 1 {
				t.Error("two owners hold items at once")
			}
			mu.Lock()
			for _, it := range items {
				if prev, ok := last[it[0]]; ok && it[1] != prev+1 {
					t.Errorf("poster %d: item %d after %d", it[0], it[1], prev)
				}
				last[it[0]] = it[1]
				total++
			}
			mu.Unlock()
			holding.Add(-1)
		}
	}
	const posters, each = 8, 500
	for p := range posters {
		running.Add(1)
		go func() {
			defer running.Done()
			for i := range each {
				if m.Post([2]int{p, i}) {
					owners.Add(1)
					go own()
				}
			}
		}()
	}
	running.Wait()
	owners.Wait()
	if total != posters*each {
		t.Fatalf("took %d items, want %d", total, posters*each)
	}
}

func BenchmarkPendingEmpty(b *testing.B) {
	var m Mailbox[func()]
	n := 0
	for b.Loop() {
		if m.Pending() {
			n++
		}
	}
	if n != 0 {
		b.Fatal("empty box pending")
	}
}

func BenchmarkPostDrain(b *testing.B) {
	var m Mailbox[func()]
	n := 0
	fn := func() { n++ }
	for b.Loop() {
		m.Post(fn)
		Drain(&m)
	}
	if n != b.N {
		b.Fatalf("ran %d, want %d", n, b.N)
	}
}

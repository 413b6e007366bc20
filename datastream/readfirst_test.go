package datastream_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"floe/datastream"
)

// probeAfterBuild joins input 1 (probe) against input 2 (build) and fails
// the job if a probe record comes before the build side has ended.
type probeAfterBuild struct {
	build map[int64]int64
	built bool
	early int
}

func (p *probeAfterBuild) Process1(v int64, emit func(string)) {
	if !p.built {
		p.early++
		return
	}
	if b, ok := p.build[v%10]; ok {
		emit(fmt.Sprintf("%d-%d", v, b))
	}
}

func (p *probeAfterBuild) Process2(v int64, _ func(string)) { p.build[v] = v * 100 }

func (p *probeAfterBuild) EndInput(input int, _ func(string)) {
	if input == 2 {
		p.built = true
	}
	if input == 1 && p.early > 0 {
		panic(fmt.Errorf("%d probe records came before the build side ended", p.early))
	}
}

func readFirstJob(env *datastream.Environment, probeN int) datastream.Stream[string] {
	probe := make([]int64, probeN)
	for i := range probe {
		probe[i] = int64(i)
	}
	a := datastream.FromSlice(env, probe)
	b := datastream.FromSlice(env, []int64{1, 3, 5, 7})
	return datastream.Transform2(a, b, "Probe", datastream.ExchangeForward[int64](), datastream.ExchangeBroadcast[int64](),
		func(datastream.OperatorInfo) (datastream.BoundedOperator2[int64, int64, string], error) {
			return &probeAfterBuild{build: map[int64]int64{}}, nil
		}, datastream.ReadSecondFirst())
}

// In BATCH mode a ReadSecondFirst operator gets input 2 whole before any
// record of input 1, and its forward input 1 (here a source, at p=1) is
// chained into it: the source's task reads the broadcast input, then runs.
func TestReadSecondFirstBatch(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			env := newEnv(p)
			env.SetRuntimeMode(datastream.Batch)
			out, _ := datastream.Collect(readFirstJob(env, 5000))
			g, err := datastream.JobGraph(env, t.Name())
			if err != nil {
				t.Fatal(err)
			}
			// FromSlice runs in one subtask: at p=2 the forward edge becomes a
			// rebalance, nothing is chained, and the task still reads input 2
			// first.
			chain := "Source (not chained at p=2)"
			for _, v := range g.Vertices {
				if p > 1 {
					break
				}
				if strings.Contains(v.Name, "Probe") {
					chain = v.Name
					if !v.IsSource || len(v.Inputs) != 1 || v.Inputs[0].Input != 2 {
						t.Fatalf("vertex %q: source %v, inputs %v: want the probe source chained with one other input (2)", v.Name, v.IsSource, v.Inputs)
					}
				}
			}
			if !strings.HasPrefix(chain, "Source") {
				t.Fatalf("the two-input operator is in vertex %q, want it chained after its source", chain)
			}
			if _, err := env.Execute(context.Background(), t.Name()); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range int64(5000) {
				if k := i % 10; k%2 == 1 && k < 8 {
					want = append(want, fmt.Sprintf("%d-%d", i, k*100))
				}
			}
			got := out.Items()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%d results, want %d", len(got), len(want))
			}
		})
	}
}

// A ReadSecondFirst operator whose inputs share an upstream operator is not
// chained (its task would read its own output), and still reads input 2
// first.
func TestReadSecondFirstSharedUpstream(t *testing.T) {
	env := newEnv(2)
	env.SetRuntimeMode(datastream.Batch)
	nums := make([]int64, 3000)
	for i := range nums {
		nums[i] = int64(i)
	}
	src := datastream.FromSlice(env, nums)
	small := src.Filter(func(v int64) bool { return v < 10 && v%2 == 1 })
	s := datastream.Transform2(src, small, "Probe", datastream.ExchangeForward[int64](), datastream.ExchangeBroadcast[int64](),
		func(datastream.OperatorInfo) (datastream.BoundedOperator2[int64, int64, string], error) {
			return &probeAfterBuild{build: map[int64]int64{}}, nil
		}, datastream.ReadSecondFirst())
	out, _ := datastream.Collect(s)
	g, err := datastream.JobGraph(env, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range g.Vertices {
		if strings.Contains(v.Name, "Probe") && strings.Contains(v.Name, "Source") {
			t.Fatalf("vertex %q chains the operator into the source both its inputs read", v.Name)
		}
	}
	if _, err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatal(err)
	}
	if n := len(out.Items()); n != 1500 {
		t.Fatalf("%d results, want 1500", n)
	}
}

// In STREAMING mode nothing is chained and the inputs come as they arrive:
// the operator above fails when probe records come first, so only the
// graph is checked.
func TestReadSecondFirstStreamingNotChained(t *testing.T) {
	env := newEnv(2)
	datastream.Collect(readFirstJob(env, 10))
	g, err := datastream.JobGraph(env, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range g.Vertices {
		if v.IsSource && len(v.Inputs) > 0 {
			t.Fatalf("STREAMING vertex %q is a source with inputs", v.Name)
		}
	}
}

package submit_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/client"
	"floe/config"
	"floe/datastream"
	"floe/internal/role"
)

// squares runs FromSlice -> rebalance -> map -> collect through Execute, which
// in the client role with the default target is the local run of this package.
func squares(t *testing.T, conf map[string]string) ([]int64, *client.Result, error) {
	t.Helper()
	t.Setenv(role.EnvRole, string(role.Client))
	t.Setenv(role.EnvConfig, "")
	env := datastream.NewEnvironment(datastream.WithConfig(config.New(conf)), datastream.WithLogger(zerolog.Nop()))
	src := datastream.FromSlice(env, []int64{1, 2, 3, 4, 5, 6, 7, 8})
	out, _ := datastream.Collect(datastream.Map(src.Rebalance(), func(v int64) int64 { return v * v }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := env.Execute(ctx, "squares")
	got := out.Items()
	slices.Sort(got)
	return got, r, err
}

func TestRunLocal(t *testing.T) {
	got, r, err := squares(t, map[string]string{config.Parallelism: "2", config.LocalTaskManagers: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 4, 9, 16, 25, 36, 49, 64}; !slices.Equal(got, want) {
		t.Errorf("collected %v, want %v", got, want)
	}
	if r == nil || r.Status != appmaster.Finished || r.ID == "" {
		t.Fatalf("result %+v, want a finished job with an id", r)
	}
	var out int64
	for _, v := range r.Vertices {
		if v.Parallelism != 2 && v.Parallelism != 1 {
			t.Errorf("vertex %s has parallelism %d", v.Name, v.Parallelism)
		}
		out = max(out, v.RecordsOut)
	}
	if out != 8 {
		t.Errorf("no vertex counted the 8 records out: %+v", r.Vertices)
	}
}

func TestRunLocalRefusesLayout(t *testing.T) {
	_, _, err := squares(t, map[string]string{config.Parallelism: "4", config.LocalTaskManagers: "1", config.Slots: "2"})
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("err %v, want config.ErrInvalid (4 subtasks, 2 slots)", err)
	}
}

func TestSubmitUnknownTarget(t *testing.T) {
	_, r, err := squares(t, map[string]string{config.Target: "kubernetes"})
	if !errors.Is(err, client.ErrUnsupported) || r != nil {
		t.Fatalf("%v, %v; want client.ErrUnsupported", r, err)
	}
}

package spill

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"go.uber.org/goleak"

	"floe/internal/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rec is the test record: a key with skew, a payload, and a sequence
// number that tells apart records with equal keys.
type rec struct {
	Key string
	Seq int64
	Val float64
	Pad string
}

// genRecs makes n records whose keys are drawn from distinct keys, with
// one key taking skew of them (0: none).
func genRecs(seed uint64, n, distinct int, skew float64) []rec {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]rec, n)
	for i := range out {
		k := r.IntN(max(distinct, 1))
		if r.Float64() < skew {
			k = 7
		}
		out[i] = rec{Key: fmt.Sprintf("key-%07d", k), Seq: int64(i), Val: float64(r.IntN(1000)), Pad: fmt.Sprintf("pad-%d", r.Uint64())}
	}
	return out
}

// bytesOf is the estimate the operators use for a slice of records.
func bytesOf[T any](rs []T) int64 {
	sh := shapeOf[T]()
	var n int64
	for i := range rs {
		n += sh.size(ptrOf(&rs[i]))
	}
	return n
}

// assertEmptyDir fails when dir holds anything.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}

func mustCodec[T any](tb testing.TB) *codec.Codec[T] {
	c, err := codec.For[T]()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

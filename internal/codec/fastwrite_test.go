package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/ipc"
)

type fastRec struct {
	K  int64
	S  string
	U  uint8
	F  float64
	T  string
	I3 int32
}

// TestFastWriteMatchesArrowReader writes batches through the template
// path and reads each back with Arrow's own IPC reader (the independent
// check that the messages are valid Arrow) and with the channel's Reader.
func TestFastWriteMatchesArrowReader(t *testing.T) {
	c, err := For[fastRec]()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(15, 16))
	w, rd := c.NewWriter(nil), c.NewReader(nil)
	if !w.fast {
		t.Fatal("numbers and strings should take the fast path")
	}
	var stream []byte // schema and every batch, for Arrow's reader
	var sent [][]fastRec
	for round, n := range []int{3, 1, 0, 200, 1, 1024, 7} {
		rows := make([]fastRec, n)
		for i := range rows {
			rows[i] = fastRec{K: r.Int64(), S: strings.Repeat("s", r.IntN(40)), U: uint8(r.Uint32()),
				F: r.Float64(), T: strings.Repeat("t", r.IntN(3)), I3: r.Int32()}
		}
		msg, err := w.AppendOwned(rows)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 && w.tmpl == nil {
			t.Fatal("no template after the first batch")
		}
		stream = append(stream, msg[:len(msg)-4]...)
		got, err := rd.Read(msg, nil)
		if err != nil {
			t.Fatalf("round %d (%d rows): %v", round, n, err)
		}
		if len(got) != n {
			t.Fatalf("round %d: %d rows, want %d", round, len(got), n)
		}
		for i := range rows {
			if got[i] != rows[i] {
				t.Fatalf("round %d row %d: %+v, want %+v", round, i, got[i], rows[i])
			}
		}
		sent = append(sent, rows)
	}
	if w.fastBatches != 5 { // all but the first and the empty one
		t.Fatalf("%d batches written by the template, want 5", w.fastBatches)
	}
	ar, err := ipc.NewReader(bytes.NewReader(stream), ipc.WithSchema(c.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Release()
	for b, rows := range sent {
		if !ar.Next() {
			t.Fatalf("arrow's reader stops before batch %d: %v", b, errors.Join(ar.Err()))
		}
		got, err := c.Decode(ar.Record(), nil)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		if len(got) != len(rows) {
			t.Fatalf("batch %d: arrow reads %d rows, want %d", b, len(got), len(rows))
		}
		for i := range rows {
			if got[i] != rows[i] {
				t.Fatalf("batch %d row %d: arrow reads %+v, want %+v", b, i, got[i], rows[i])
			}
		}
	}
}

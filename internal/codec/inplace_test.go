package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/ipc"
)

// withSum appends the CRC-32C a channel's message ends with, so that the
// bytes reach the decoder behind the checksum.
func withSum(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(append([]byte(nil), b...), crc32.Checksum(b, castagnoli))
}

// arrowDecode decodes IPC stream bytes (schema, then one record batch) with
// Arrow's own reader, which copies every buffer: the reference the
// in-place reader is compared with.
func arrowDecode(c *Codec[Everything], stream []byte) ([]Everything, error) {
	rd, err := ipc.NewReader(bytes.NewReader(stream), ipc.WithSchema(c.Schema()))
	if err != nil {
		return nil, err
	}
	defer rd.Release()
	if !rd.Next() {
		return nil, errors.Join(rd.Err(), ErrMalformed)
	}
	return c.Decode(rd.Record(), nil)
}

// TestReaderInPlaceMatchesArrow reads a channel's messages in place and
// with Arrow's reader: the same records, and none of them refers to the
// message (it is overwritten after each read).
func TestReaderInPlaceMatchesArrow(t *testing.T) {
	c, _ := For[Everything]()
	r := rand.New(rand.NewPCG(5, 6))
	w, rd := c.NewWriter(nil), c.NewReader(nil)
	var schema []byte // the first message's schema, for Arrow's reader of later messages
	for round := range 30 {
		rows := make([]Everything, r.IntN(100))
		for i := range rows {
			rows[i] = randomEverything(r)
		}
		msg, err := w.Append(rows)
		if err != nil {
			t.Fatal(err)
		}
		stream := msg[:len(msg)-4]
		if round == 0 {
			m, _, err := nextMessage(stream)
			if err != nil {
				t.Fatal(err)
			}
			schema = append([]byte(nil), m.whole...)
		} else {
			stream = append(append([]byte(nil), schema...), stream...)
		}
		want, err := arrowDecode(c, stream)
		if err != nil {
			t.Fatalf("round %d: arrow: %v", round, err)
		}
		buf := append([]byte(nil), msg...)
		got, err := rd.Read(buf, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		clear(buf)
		if len(got) != len(rows) || len(want) != len(rows) {
			t.Fatalf("round %d: %d and %d rows, want %d", round, len(got), len(want), len(rows))
		}
		for i := range rows {
			if !equal(got[i], want[i]) || !equal(got[i], rows[i]) {
				t.Fatalf("round %d row %d:\n in    %+v\n place %+v\n arrow %+v", round, i, rows[i], got[i], want[i])
			}
		}
	}
}

// TestReaderInPlaceUnaligned reads a message that does not start at a
// multiple of 8 in memory (the columns are read through casts).
func TestReaderInPlaceUnaligned(t *testing.T) {
	c, _ := For[Everything]()
	r := rand.New(rand.NewPCG(7, 8))
	rows := []Everything{randomEverything(r), randomEverything(r)}
	msg, _ := c.NewWriter(nil).Append(rows)
	buf := append(make([]byte, 3, 3+len(msg)), msg...)[3:]
	got, err := c.NewReader(nil).Read(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if !equal(got[i], rows[i]) {
			t.Fatalf("row %d: %+v, want %+v", i, got[i], rows[i])
		}
	}
}

// FuzzReaderInPlace feeds the in-place reader arbitrary record batch
// messages behind a valid checksum, after a valid first message (the
// schema's, which Arrow's own code checks, as before): it must not crash or
// over-allocate, and whatever it accepts that Arrow's copying reader also
// accepts decodes to the same records.
func FuzzReaderInPlace(f *testing.F) {
	c, _ := For[Everything]()
	r := rand.New(rand.NewPCG(9, 10))
	w := c.NewWriter(nil)
	first, _ := w.Append([]Everything{randomEverything(r)})
	first = append([]byte(nil), first...)
	m, _, err := nextMessage(first[:len(first)-4])
	if err != nil {
		f.Fatal(err)
	}
	schema := m.whole
	for _, rows := range [][]Everything{{randomEverything(r), randomEverything(r), {}}, nil, {{}}} {
		msg, _ := w.Append(rows)
		f.Add(append([]byte(nil), msg[:len(msg)-4]...))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, batch []byte) {
		rd := c.NewReader(nil)
		if _, err := rd.Read(first, nil); err != nil {
			t.Fatal(err)
		}
		got, err := rd.Read(withSum(batch), nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedType) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		want, aerr := arrowDecode(c, append(append([]byte(nil), schema...), batch...))
		if aerr != nil {
			return // Arrow's reader is stricter about some metadata
		}
		if len(got) != len(want) {
			t.Fatalf("%d rows, arrow %d", len(got), len(want))
		}
		for i := range got {
			if !equal(got[i], want[i]) {
				t.Fatalf("row %d: %+v, arrow %+v", i, got[i], want[i])
			}
		}
	})
}

// TestAppendOwnedKeepsEachMessage checks that AppendOwned gives every batch
// a buffer of its own (the record writer sends it away and encodes the next
// one at once), each decoding to its batch after later ones were encoded.
func TestAppendOwnedKeepsEachMessage(t *testing.T) {
	c, _ := For[Everything]()
	r := rand.New(rand.NewPCG(11, 12))
	w, rd := c.NewWriter(nil), c.NewReader(nil)
	var batches [][]Everything
	var msgs [][]byte
	for range 5 {
		rows := make([]Everything, 1+r.IntN(50))
		for i := range rows {
			rows[i] = randomEverything(r)
		}
		msg, err := w.AppendOwned(rows)
		if err != nil {
			t.Fatal(err)
		}
		batches, msgs = append(batches, rows), append(msgs, msg)
	}
	for b, msg := range msgs {
		got, err := rd.Read(msg, nil)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		for i := range batches[b] {
			if !equal(got[i], batches[b][i]) {
				t.Fatalf("batch %d row %d: %+v, want %+v", b, i, got[i], batches[b][i])
			}
		}
	}
}

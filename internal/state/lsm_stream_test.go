package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// A pebble view written out one key group at a time (EncodeTo), with key
// groups larger than encodeChunk cut into several records, restores into
// both backends with every entry, and EncodeTo's blocks are Encode's.
func TestEncodeToStreamsLargeKeyGroups(t *testing.T) {
	const maxP, n = 4, 20000
	src := newBackend[int64](t, "pebble", maxP)
	tab, err := Value[int64, string](src, "v")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{}
	for k := range int64(n) {
		v := strings.Repeat(fmt.Sprintf("%08d", k), 128) // 1 KiB: 5 MiB per key group, two records
		tab.Put(k, v)
		want[k] = v
	}
	view := src.View()
	defer view.Release()
	whole, err := view.Encode(0, maxP)
	if err != nil {
		t.Fatal(err)
	}
	var streamed [][]byte
	records := 0
	if err := view.EncodeTo(0, maxP, func(kg int, blk []byte) error {
		if kg != len(streamed) {
			t.Fatalf("key group %d after %d", kg, len(streamed))
		}
		streamed = append(streamed, bytes.Clone(blk))
		records += countRecords(t, blk)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(streamed) != maxP {
		t.Fatalf("%d blocks, want %d", len(streamed), maxP)
	}
	for g := range whole {
		if !bytes.Equal(whole[g], streamed[g]) {
			t.Errorf("key group %d: EncodeTo's block differs from Encode's", g)
		}
	}
	if records <= maxP {
		t.Errorf("%d records for %d key groups of about 5 MiB: none was cut at %d bytes", records, maxP, encodeChunk)
	}
	for _, kind := range kinds {
		dst := newBackend[int64](t, kind, maxP)
		dt, err := Value[int64, string](dst, "v")
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range streamed {
			if err := dst.Restore(blk, false); err != nil {
				t.Fatal(err)
			}
		}
		got := contents(dt)
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries restored, want %d", kind, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: key %d: got %.16q, want %.16q", kind, k, got[k], v)
			}
		}
	}
}

// countRecords counts the (name, message) records of a block.
func countRecords(t *testing.T, blk []byte) int {
	n := 0
	for len(blk) > 0 {
		for range 2 { // name, then message
			l, k := binary.Uvarint(blk)
			if k <= 0 || uint64(len(blk)-k) < l {
				t.Fatal("bad block")
			}
			blk = blk[k+int(l):]
		}
		n++
	}
	return n
}

package checkpoint

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleMetadata() *Metadata {
	return &Metadata{
		ID: 7, JobID: "0123456789abcdef", Kind: KindCheckpoint,
		Timestamp: time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC),
		Operators: []OperatorState{
			{UID: "count", Parallelism: 2, MaxParallelism: 8, Subtasks: []SubtaskState{
				{Subtask: 0, Keyed: []KeyedHandle{{Path: "count-0-keyed", Size: 100, Start: 0, Offsets: []int64{0, 10, 10, 30, 100}}}},
				{Subtask: 1, Keyed: []KeyedHandle{{Path: "count-1-keyed", Size: 50, Start: 4, Offsets: []int64{0, 5, 20, 40, 50}}}},
			}},
			{UID: "map", Parallelism: 2, MaxParallelism: 8},
			{UID: "src", Parallelism: 2, MaxParallelism: 8, Subtasks: []SubtaskState{
				{Subtask: 0, Lists: []ListState{
					{Name: SourcePositions, Distribution: Split, Entries: []ListEntry{{Inline: []byte("split-a@10")}, {Inline: []byte("split-b@0")}}},
					{Name: "watermarks", Distribution: Union, Entries: []ListEntry{{Inline: []byte{1}}}},
				}},
				{Subtask: 1, Lists: []ListState{
					{Name: SourcePositions, Distribution: Split, Entries: []ListEntry{{Path: "src-1-operator", Offset: 0, Length: 12}}},
					{Name: "watermarks", Distribution: Union, Entries: []ListEntry{{Inline: []byte{2}}}},
				}},
			}},
		},
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	m := sampleMetadata()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "FLOECKPT" || binary.BigEndian.Uint32(b[8:12]) != 1 {
		t.Fatalf("header % x", b[:16])
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Timestamp.Equal(m.Timestamp) {
		t.Fatalf("timestamp %v, want %v", got.Timestamp, m.Timestamp)
	}
	got.Timestamp = m.Timestamp
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
	if h, ok := got.Operator("count"); !ok || h.Subtasks[1].Keyed[0].End() != 8 {
		t.Fatalf("operator lookup %v %v", h, ok)
	}
	if _, ok := got.Operator("nope"); ok {
		t.Fatal("found a missing operator")
	}
}

// reseal fixes the checksum of b after a test changed it.
func reseal(b []byte) []byte {
	n := len(b) - 4
	binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	body := func(json string) []byte { return seal([]byte(json)) }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrCorrupt, "shorter than the header"},
		{"truncated", good[:len(good)-10], ErrCorrupt, "truncated"},
		{"appended", append(append([]byte(nil), good...), 'x'), ErrCorrupt, "truncated or appended"},
		{"magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), ErrCorrupt, "magic"},
		{"bit flip", mut(func(b []byte) []byte { b[40] ^= 1; return b }), ErrCorrupt, "checksum"},
		{"version", mut(func(b []byte) []byte { b[11] = 9; return reseal(b) }), ErrUnsupportedVersion, "version 9"},
		{"not json", body("{"), ErrCorrupt, ""},
		{"trailing json", body(`{"id":1,"kind":"checkpoint"} {}`), ErrCorrupt, ""},
		{"id 0", body(`{"id":0,"kind":"checkpoint"}`), ErrInvalidMetadata, "checkpoint id 0"},
		{"kind", body(`{"id":1,"kind":"x"}`), ErrInvalidMetadata, "kind"},
		{"uid order", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"b","parallelism":1,"max_parallelism":1},{"uid":"a","parallelism":1,"max_parallelism":1}]}`), ErrInvalidMetadata, "sorted"},
		{"parallelism", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":3,"max_parallelism":2}]}`), ErrInvalidMetadata, "parallelism 3"},
		{"max parallelism", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":40000}]}`), ErrInvalidMetadata, "max parallelism"},
		{"subtask range", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":2,"subtasks":[{"subtask":1}]}]}`), ErrInvalidMetadata, "subtask 1"},
		{"key groups of another subtask", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":2,"max_parallelism":4,"subtasks":[{"subtask":0,"keyed":[{"path":"f","size":9,"start":1,"offsets":[0,1,2]}]}]}]}`), ErrInvalidMetadata, "outside the subtask"},
		{"offsets decrease", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":4,"subtasks":[{"subtask":0,"keyed":[{"path":"f","size":9,"start":0,"offsets":[0,5,2]}]}]}]}`), ErrInvalidMetadata, "decrease"},
		{"offset past the file", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":4,"subtasks":[{"subtask":0,"keyed":[{"path":"f","size":1,"start":0,"offsets":[0,5]}]}]}]}`), ErrInvalidMetadata, "outside the file"},
		{"escaping path", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":4,"subtasks":[{"subtask":0,"keyed":[{"path":"../x","size":1,"start":0,"offsets":[0,1]}]}]}]}`), ErrInvalidPath, "leaves"},
		{"distribution", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":4,"subtasks":[{"subtask":0,"lists":[{"name":"l","distribution":"broadcast"}]}]}]}`), ErrInvalidMetadata, "distribution"},
		{"inline and file", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":4,"subtasks":[{"subtask":0,"lists":[{"name":"l","distribution":"split","entries":[{"inline":"AA==","path":"f"}]}]}]}]}`), ErrInvalidMetadata, "both"},
		{"range overflow", body(`{"id":1,"kind":"checkpoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":4,"subtasks":[{"subtask":0,"lists":[{"name":"l","distribution":"split","entries":[{"path":"f","offset":9223372036854775807,"length":1}]}]}]}]}`), ErrInvalidMetadata, "bad range"},
	} {
		_, err := Decode(tc.b)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
}

func TestEncodeValidates(t *testing.T) {
	m := sampleMetadata()
	m.Operators[0].Subtasks[0].Keyed[0].Offsets = []int64{0}
	if _, err := Encode(m); !errors.Is(err, ErrInvalidMetadata) {
		t.Fatalf("Encode of invalid metadata: %v", err)
	}
}

func TestResolved(t *testing.T) {
	m := sampleMetadata()
	m.Operators[0].Subtasks[1].Keyed[0].Path = "hdfs://nn:8020/ckpt/j/shared/sst-1"
	r := m.Resolved("hdfs://nn:8020/ckpt/j/chk-7")
	if p := r.Operators[0].Subtasks[0].Keyed[0].Path; p != "hdfs://nn:8020/ckpt/j/chk-7/count-0-keyed" {
		t.Fatalf("relative path resolved to %s", p)
	}
	if p := r.Operators[0].Subtasks[1].Keyed[0].Path; p != "hdfs://nn:8020/ckpt/j/shared/sst-1" {
		t.Fatalf("absolute path changed to %s", p)
	}
	if p := r.Operators[2].Subtasks[1].Lists[0].Entries[0].Path; p != "hdfs://nn:8020/ckpt/j/chk-7/src-1-operator" {
		t.Fatalf("list entry resolved to %s", p)
	}
	if m.Operators[0].Subtasks[0].Keyed[0].Path != "count-0-keyed" {
		t.Fatal("Resolved changed its receiver")
	}
	files := m.files("/d")
	want := []fileRef{{"/d/count-0-keyed", 100}, {"/d/src-1-operator", 12}, {"hdfs://nn:8020/ckpt/j/shared/sst-1", 50}}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
}

// seal wraps a JSON body in a valid header and checksum.
func seal(body []byte) []byte {
	b := []byte(metadataMagic)
	b = binary.BigEndian.AppendUint32(b, MetadataVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	return reseal(append(b, 0, 0, 0, 0))
}

// FuzzDecodeMetadata decodes the input as it is (mutations mostly break
// the framing and checksum) and sealed as a JSON body (to reach the parser
// and the validation): Decode must not panic, and what it accepts must
// encode again and reassign to any parallelism.
func FuzzDecodeMetadata(f *testing.F) {
	good, err := Encode(sampleMetadata())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	if inc, err := Encode(incrementalMetadata(2, "hdfs://nn:8020/c/job", []string{"a"}, []string{"b", "c"})); err == nil {
		f.Add(inc)
	}
	f.Add(good[headerLen : len(good)-trailerLen])
	f.Add(good[:20])
	f.Add([]byte("FLOECKPT"))
	f.Add([]byte(`{"id":1,"kind":"savepoint","operators":[{"uid":"a","parallelism":1,"max_parallelism":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		if len(b) < 1<<16 {
			check(t, seal(b))
		}
	})
}

func check(t *testing.T, b []byte) {
	m, err := Decode(b)
	if err != nil {
		return
	}
	b2, err := Encode(m)
	if err != nil {
		t.Fatalf("decoded metadata does not encode: %v", err)
	}
	if _, err := Decode(b2); err != nil {
		t.Fatalf("re-encoded metadata does not decode: %v", err)
	}
	for i := range m.Operators {
		op := &m.Operators[i]
		for _, p := range []int{1, op.Parallelism, min(op.MaxParallelism, op.Parallelism+1)} {
			if _, err := Reassign(op, p); err != nil {
				t.Fatalf("reassign %q to %d: %v", op.UID, p, err)
			}
		}
	}
	m.files("/d")
	m.Resolved("hdfs://nn/d")
}

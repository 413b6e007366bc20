package failover

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"floe/internal/fsys"
)

func sample() Metadata {
	return Metadata{JobID: "3f2a9c0d1e4b5a6f7081928374655647", Application: "application_1_0001",
		Binary: []byte{0x0a, 0x03, 'a', 'b', 'c'}, Args: []string{"keyed-count", "--events", "10"},
		Config: map[string]string{"execution.checkpointing.dir": "hdfs:///ckpt"}, Savepoint: "hdfs:///sp/savepoint-1",
		CheckpointDir: "hdfs:///ckpt/3f2a9c0d1e4b5a6f7081928374655647", Attempt: 1, Written: time.Unix(1700000000, 0).UTC()}
}

func TestMetadataRoundTrip(t *testing.T) {
	m := sample()
	b, err := EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Version = metadataVersion
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
}

func TestDecodeMetadataRefuses(t *testing.T) {
	good, _ := EncodeMetadata(sample())
	for name, b := range map[string]string{
		"empty":         "",
		"not json":      "job",
		"no job id":     `{"version":1,"attempt":1}`,
		"job id path":   `{"version":1,"job_id":"../x","attempt":1}`,
		"old version":   `{"version":0,"job_id":"j","attempt":1}`,
		"future":        `{"version":2,"job_id":"j","attempt":1}`,
		"unknown field": `{"version":1,"job_id":"j","attempt":1,"plan":"x"}`,
		"negative":      `{"version":1,"job_id":"j","attempt":-1}`,
		"trailing":      string(good) + `{}`,
		"truncated":     string(good[:len(good)/2]),
	} {
		if _, err := DecodeMetadata([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestLeaderRoundTripAndRefusals(t *testing.T) {
	l := Leader{Attempt: 2, Address: "127.0.0.1:4567", Container: "container_1_0001_02_000001", Written: time.Unix(5, 0).UTC()}
	b, err := EncodeLeader(l)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeLeader(b); err != nil || got != l {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, s := range []string{`{"attempt":0,"address":"h:1"}`, `{"attempt":1,"address":"h"}`, `{"attempt":1,"address":"h:"}`, `[]`} {
		if _, err := DecodeLeader([]byte(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", s, err)
		}
	}
}

func TestWriteReadAndSupersede(t *testing.T) {
	dir := t.TempDir()
	fs, root, err := fsys.Resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := ReadMetadata(ctx, fs, root); !errors.Is(err, fsys.ErrNotExist) {
		t.Fatalf("missing metadata: %v", err)
	}
	if err := WriteMetadata(ctx, fs, root, sample()); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMetadata(ctx, fs, root)
	if err != nil || m.JobID != sample().JobID {
		t.Fatalf("read back: %+v, %v", m, err)
	}
	if sup, _, err := Superseded(ctx, fs, root, 1); sup || err != nil {
		t.Fatalf("no leader file: superseded %v, %v", sup, err)
	}
	for _, a := range []int32{1, 2} {
		if err := PublishLeader(ctx, fs, root, Leader{Attempt: a, Address: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
	}
	if sup, l, err := Superseded(ctx, fs, root, 1); !sup || l.Attempt != 2 || err != nil {
		t.Fatalf("attempt 1 after attempt 2 published: superseded %v (%+v), %v", sup, l, err)
	}
	if sup, _, _ := Superseded(ctx, fs, root, 2); sup {
		t.Fatal("attempt 2 superseded by itself")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	os.WriteFile(filepath.Join(dir, LeaderFile), []byte("garbage"), 0o644)
	if _, _, err := Superseded(ctx, fs, root, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage leader file: %v", err)
	}
}

func FuzzDecodeMetadata(f *testing.F) {
	good, _ := EncodeMetadata(sample())
	f.Add(good)
	f.Add([]byte(`{"version":1,"job_id":"j","attempt":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMetadata(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes, and that encoding is a fixed point.
		b2, err := EncodeMetadata(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		m2, err := DecodeMetadata(b2)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b2, err)
		}
		if b3, _ := EncodeMetadata(m2); string(b3) != string(b2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b2, b3)
		}
	})
}

func FuzzDecodeLeader(f *testing.F) {
	f.Add([]byte(`{"attempt":2,"address":"127.0.0.1:1","container":"c"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeLeader(b)
		if err != nil {
			return
		}
		if l.Attempt < 1 {
			t.Fatalf("decoded attempt %d", l.Attempt)
		}
	})
}

// A session's accepted jobs round-trip through its staging directory, in
// the order accepted; a removed job is gone, a malformed file is refused.
func TestSessionJobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, _, err := fsys.Resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	if js, err := ReadSessionJobs(ctx, fs, dir); err != nil || len(js) != 0 {
		t.Fatalf("no jobs yet: %v %v", js, err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"bbb", "aaa", "ccc"} {
		j := SessionJob{JobID: id, Binary: []byte{1, 2}, Args: []string{"keyed-count", "--events", "0"}, ConfigJSON: `{"a":"b"}`,
			Attempt: 1, Accepted: t0.Add(time.Duration(i) * time.Second)}
		if id == "ccc" {
			j.Savepoint, j.CheckpointDir = "hdfs://nn/sp/1", "hdfs://nn/chk/ccc"
		}
		if err := WriteSessionJob(ctx, fs, dir, j); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveSessionJob(ctx, fs, dir, "aaa"); err != nil {
		t.Fatal(err)
	}
	js, err := ReadSessionJobs(ctx, fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].JobID != "bbb" || js[1].JobID != "ccc" || js[1].Args[1] != "--events" || js[0].ConfigJSON != `{"a":"b"}` ||
		js[1].Savepoint != "hdfs://nn/sp/1" || js[1].CheckpointDir != "hdfs://nn/chk/ccc" || js[0].CheckpointDir != "" {
		t.Fatalf("read back %+v", js)
	}
	if err := WriteSessionJob(ctx, fs, dir, SessionJob{JobID: "../x"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a job id with a slash: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, SessionJobsDir, "ddd.json"), []byte(`{"version":1,"job_id":"eee"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSessionJobs(ctx, fs, dir); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a file that names another job: %v", err)
	}
}

// A jobs/<id>.json comes from HDFS: whatever it holds, DecodeSessionJob
// returns an error or a record that encodes and decodes to itself.
func FuzzDecodeSessionJob(f *testing.F) {
	f.Add([]byte(`{"version":1,"job_id":"a","binary":"AQI=","attempt":1,"accepted":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"version":1,"job_id":"../x"}`))
	f.Add([]byte(`{"version":2,"job_id":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := DecodeSessionJob(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeSessionJob(out)
		if err != nil {
			t.Fatalf("re-encoded %s: %v", out, err)
		}
		if again.JobID != j.JobID || again.Savepoint != j.Savepoint || again.CheckpointDir != j.CheckpointDir || !again.Accepted.Equal(j.Accepted) {
			t.Fatalf("round trip: %+v -> %+v", j, again)
		}
	})
}

// A job's end round-trips through the staging directory, and counts only
// when the latest attempt that published itself (or a newer one) wrote it.
func TestEndedRecordCountsForTheLatestAttempt(t *testing.T) {
	ctx := t.Context()
	fs, root, err := fsys.Resolve(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const job = "3f2a9c0d1e4b5a6f7081928374655647"
	if _, ok, err := RecordedEnd(ctx, fs, root, job); ok || err != nil {
		t.Fatalf("no record: ok %v, %v", ok, err)
	}
	want := Ended{Version: metadataVersion, JobID: job, Status: "FINISHED", Outputs: []string{"hdfs:///out/a", "file:///out/b"},
		Attempt: 1, Written: time.Unix(1700000000, 0).UTC()}
	if err := WriteEnded(ctx, fs, root, want); err != nil {
		t.Fatal(err)
	}
	// No leader file yet: the record counts.
	if got, ok, err := RecordedEnd(ctx, fs, root, job); !ok || err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back: %+v ok %v, %v; want %+v", got, ok, err, want)
	}
	for _, c := range []struct {
		leader int32
		counts bool
	}{{1, true}, {2, false}} {
		if err := PublishLeader(ctx, fs, root, Leader{Attempt: c.leader, Address: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := RecordedEnd(ctx, fs, root, job); ok != c.counts || err != nil {
			t.Errorf("record of attempt 1, leader attempt %d: counts %v (%v), want %v", c.leader, ok, err, c.counts)
		}
	}
	if _, ok, _ := RecordedEnd(ctx, fs, root, "another"); ok {
		t.Error("the record of one job ends another")
	}
	if err := WriteEnded(ctx, fs, root, Ended{JobID: job, Status: "RUNNING", Attempt: 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("a record of a job that did not end: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, EndedDir, job+".json"), []byte(`{"version":1,"job_id":"other","status":"FAILED","attempt":1,"written":"2025-01-01T00:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := RecordedEnd(ctx, fs, root, job); !errors.Is(err, ErrMalformed) {
		t.Errorf("a record under another job's name: %v", err)
	}
}

func FuzzDecodeEnded(f *testing.F) {
	good, _ := EncodeEnded(Ended{JobID: "j", Status: "FAILED", Failure: "boom", Outputs: []string{"/o"}, Attempt: 2})
	f.Add(good)
	f.Add([]byte(`{"version":1,"job_id":"j","status":"CANCELED","attempt":0,"written":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"version":1,"job_id":"j/../k","status":"FINISHED"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnded(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b2, err := EncodeEnded(e)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", e, err)
		}
		e2, err := DecodeEnded(b2)
		if err != nil || e2.JobID != e.JobID || e2.Status != e.Status || e2.Attempt != e.Attempt || !slices.Equal(e2.Outputs, e.Outputs) {
			t.Fatalf("round trip: %+v -> %+v, %v", e, e2, err)
		}
		if b3, _ := EncodeEnded(e2); string(b3) != string(b2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b2, b3)
		}
	})
}

package checkpoint

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"floe/config"
)

// unalignedMetadata is sampleMetadata with channel state on the first
// operator of two tasks, one of them stateless otherwise.
func unalignedMetadata() *Metadata {
	m := sampleMetadata()
	m.Operators[0].Subtasks[1].Channels = &ChannelStateHandle{Path: "count-1-channels", Size: 321}
	m.Operators[1].Subtasks = []SubtaskState{{Subtask: 0, Channels: &ChannelStateHandle{Path: "map-0-channels", Size: 99}}}
	return m
}

// Channel state survives _metadata's encoding, is resolved against the
// checkpoint's directory, is listed among the files a restore needs, and
// is handed to the same subtask at the same parallelism.
func TestMetadataChannelStateRoundTrip(t *testing.T) {
	m := unalignedMetadata()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Operators, m.Operators) {
		t.Fatalf("operators differ after the round trip:\n%+v\n%+v", got.Operators, m.Operators)
	}
	if op, _ := got.Operator("map"); !op.HasState() {
		t.Fatal("an operator with channel state only has no state")
	}
	r := got.Resolved("hdfs://nn/ck/job/chk-7")
	if p := r.Operators[1].Subtasks[0].Channels.Path; p != "hdfs://nn/ck/job/chk-7/map-0-channels" {
		t.Fatalf("resolved to %q", p)
	}
	var found bool
	for _, f := range got.files("/ck/chk-7") {
		found = found || f.path == "/ck/chk-7/map-0-channels" && f.minSize == 99
	}
	if !found {
		t.Fatal("the channel-state file is not among the files a restore needs")
	}
	subs, err := Reassign(&got.Operators[0], 2)
	if err != nil {
		t.Fatal(err)
	}
	if subs[0].Channels != nil || subs[1].Channels == nil || subs[1].Channels.Path != "count-1-channels" {
		t.Fatalf("reassigned channels %+v / %+v", subs[0].Channels, subs[1].Channels)
	}
}

// Channel state restores at the same parallelism only, with a clear error;
// a savepoint never has it; a bad handle is refused.
func TestChannelStateRefusals(t *testing.T) {
	m := unalignedMetadata()
	if _, err := Reassign(&m.Operators[1], 3); !errors.Is(err, ErrParallelism) || !strings.Contains(err.Error(), "same parallelism") {
		t.Fatalf("rescale with channel state: %v", err)
	}
	sp := unalignedMetadata()
	sp.Kind = KindSavepoint
	if _, err := Encode(sp); !errors.Is(err, ErrInvalidMetadata) {
		t.Fatalf("savepoint with channel state: %v", err)
	}
	bad := unalignedMetadata()
	bad.Operators[1].Subtasks[0].Channels.Path = "../elsewhere"
	if _, err := Encode(bad); err == nil {
		t.Fatal("a channel-state path outside the checkpoint accepted")
	}
	bad.Operators[1].Subtasks[0].Channels = &ChannelStateHandle{Path: "x", Size: 0}
	if _, err := Encode(bad); err == nil {
		t.Fatal("an empty channel-state file accepted")
	}
}

func TestUnalignedConfig(t *testing.T) {
	cfg, err := ParseConfig(config.New(map[string]string{KeyUnaligned: "true", KeyAlignedTimeout: "30s"}))
	if err != nil || !cfg.Unaligned || cfg.AlignedTimeout.Seconds() != 30 {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, kv := range []map[string]string{
		{KeyUnaligned: "true", KeyMode: "AT_LEAST_ONCE"},
		{KeyUnaligned: "yes please"},
		{KeyAlignedTimeout: "-1s"},
	} {
		if _, err := ParseConfig(config.New(kv)); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%v: %v, want ErrInvalid", kv, err)
		}
	}
}

package submit

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

func node(totalMB, usedMB int64, totalV, usedV int32) *hadooppb.NodeReportProto {
	return &hadooppb.NodeReportProto{
		Capability: &hadooppb.ResourceProto{Memory: proto.Int64(totalMB), VirtualCores: proto.Int32(totalV)},
		Used:       &hadooppb.ResourceProto{Memory: proto.Int64(usedMB), VirtualCores: proto.Int32(usedV)}}
}

// A wait for containers is quiet at first, then says what was asked,
// granted and is free: every interval on a terminal, on a change elsewhere,
// and nothing once every container was granted.
func TestContainerWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	nodes := []*hadooppb.NodeReportProto{node(4096, 3328, 8, 2), node(4096, 3072, 8, 1)}

	w := newContainerWait(4, 3072, 1, true)
	if w.due(at(0), 2) || w.due(at(2.9), 2) {
		t.Fatal("said something in the first 3 s")
	}
	if !w.due(at(3), 2) {
		t.Fatal("nothing said after 3 s of waiting")
	}
	line := w.line(at(3), 2, nodes)
	for _, want := range []string{"4 asked (3072 MB, 1 vcores each)", "2 granted", "1792 MB and 13 vcores free on 2 nodes", "at most 1024 MB on one"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if w.due(at(7), 2) || !w.due(at(8), 2) {
		t.Fatal("on a terminal: not every 5 s")
	}
	w.line(at(8), 2, nodes)
	if w.due(at(9), 4) || w.due(at(20), 1) {
		t.Fatal("said something once every container was granted")
	}

	w = newContainerWait(4, 3072, 1, false)
	w.due(at(0), 1)
	if !w.due(at(3), 1) {
		t.Fatal("not a terminal: nothing said at first")
	}
	w.line(at(3), 1, nodes)
	if w.due(at(30), 1) || !w.due(at(31), 2) {
		t.Fatal("not a terminal: want a line on each change only")
	}
}

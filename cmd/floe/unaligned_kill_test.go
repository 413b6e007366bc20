package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"floe/internal/fsys"
	"floe/internal/nexmark"
	"floe/internal/testenv"
)

// unalignedQ1 is the Nexmark q1 run of the unaligned TaskManager-kill
// tests: an unthrottled source in front of a sink throttled to a fraction
// of its rate, so the queues between them are full when the barriers come
// and unaligned checkpoints carry channel state.
var unalignedQ1 = []string{"-D", "execution.checkpointing.unaligned.enabled=true",
	"-D", "execution.checkpointing.num-retained=2", "-D", "execution.checkpointing.interval=300ms",
	"-D", "restart-strategy.fixed-delay.delay=200ms"}

const unalignedEvents = 20000

func unalignedQ1Args(out string) []string {
	return []string{"nexmark", "--query", "q1", "--events", strconv.Itoa(unalignedEvents), "--rate", "3000",
		"--event-rate", "1000", "--seed", "7", "--sink", "file", "--sink-delay", "200us", "--output", out}
}

// checkQ1 compares q1's committed rows under out with the plain-Go
// computation over the same seeded events: each exactly once.
func checkQ1(t *testing.T, out string) {
	gen := nexmark.DefaultConfig()
	gen.Seed, gen.EventRate = 7, 1000
	evs := make([]nexmark.Event, unalignedEvents)
	for i := range evs {
		evs[i] = gen.Event(int64(i))
	}
	want := nexmark.RefQ1(evs)
	got := readJSONLines[nexmark.Q1Row](t, out)
	g, w := nexmark.Canonical(got), nexmark.Canonical(want)
	slices.Sort(g)
	slices.Sort(w)
	if len(w) == 0 || !slices.Equal(g, w) {
		t.Fatalf("q1 after a TaskManager kill: %d rows, want %d (lost or duplicated)", len(g), len(w))
	}
}

// channelFiles counts the channel-state files of the checkpoints under ckpt.
func channelFiles(t *testing.T, ckpt string) int {
	fsy, root, err := fsys.Resolve(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	jobs, _ := fsy.List(t.Context(), root)
	for _, j := range jobs {
		cks, _ := fsy.List(t.Context(), fsy.Join(root, j.Name))
		for _, c := range cks {
			files, _ := fsy.List(t.Context(), fsy.Join(root, j.Name, c.Name))
			for _, f := range files {
				if strings.HasSuffix(f.Name, "-channels") {
					n++
				}
			}
		}
	}
	return n
}

// A TaskManager process killed at a random moment of a back-pressured job
// with unaligned checkpoints: the job restores operator and channel state
// and commits every q1 row exactly once.
func TestLocalTaskManagerKilledUnaligned(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ckpt := filepath.Join(dir, "checkpoints")
	args := append([]string{"run", "-p", "2", "-D", "local.taskmanager.processes=true", "-D", "execution.checkpointing.dir=file://" + ckpt},
		unalignedQ1...)
	cmd := exec.Command(floeBin, append(args, unalignedQ1Args(out)...)...)
	killDuring(t, cmd, out, 30*time.Second, func() {
		if n := channelFiles(t, ckpt); n == 0 {
			t.Errorf("no channel state under %s at the kill: the job was not back-pressured or checkpoints were aligned", ckpt)
		}
	})
	checkQ1(t, out)
}

// The same on YARN with checkpoints and output on HDFS.
func TestIntegrationTaskManagerKilledUnaligned(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	base := toHDFS(t, nil)
	out := base + "/q1"
	args := append([]string{"run", "-t", "yarn-per-job", "-p", "2", "-s", "1", "-jm", "256m", "-tm", "256m",
		"-D", "execution.checkpointing.dir=" + base + "/checkpoints"}, unalignedQ1...)
	cmd := exec.Command(floeBin, append(args, unalignedQ1Args(out)...)...)
	cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
	killDuring(t, cmd, out, 90*time.Second, func() {
		if n := channelFiles(t, base+"/checkpoints"); n == 0 {
			t.Errorf("no channel state under %s at the kill", base)
		}
	})
	checkQ1(t, out)
}

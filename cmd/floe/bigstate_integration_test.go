package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"floe/checkpoint"
	"floe/internal/fsys"
	"floe/internal/hadoop/yarn"
	"floe/internal/testenv"
)

// The large-state test: a keyed job on pebble with incremental checkpoints
// on HDFS, one TaskManager container of bigTMMB, whose state grows to about
// five times that; the TaskManager is killed once a completed checkpoint
// holds that much, and its replacement restores from the checkpoint's files.
const (
	bigTMMB     = 192
	bigValue    = 1000 // bytes per key
	bigStride   = 8    // the job checks every 8th key after the kill
	bigSample   = 512  // and writes out every 512th key's checksum
	bigStateMul = 5
)

// bigKeys is how many keys make bigStateMul times the container: a key's
// entry on disk is its value plus about 30 bytes of key and SST overhead.
var bigKeys = bigStateMul * bigTMMB << 20 / (bigValue + 30) * 21 / 20

func TestIntegrationStateFiveTimesTaskManagerMemory(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir)
	env := []string{"HADOOP_CONF_DIR=" + dir, "FLOE_HOME=" + t.TempDir()}
	job := buildTestJob(t)
	base := toHDFS(t, nil)
	out, ckpt := base+"/out", base+"/checkpoints"
	run := startFloe(t, env, "run", "-t", "yarn-per-job", "-p", "1", "-s", "1", "-jm", "256m", "-tm", strconv.Itoa(bigTMMB)+"m",
		"-D", "state.backend.type=pebble", "-D", "execution.checkpointing.incremental=true",
		"-D", "execution.checkpointing.interval=3s", "-D", "execution.checkpointing.num-retained=2",
		"-D", "execution.checkpointing.dir="+ckpt, "-D", "restart-strategy.fixed-delay.delay=200ms",
		"-D", "floe.log.level=info", job, "--bigstate-keys", strconv.Itoa(bigKeys), "--value-bytes", strconv.Itoa(bigValue),
		"--sample", strconv.Itoa(bigSample), "--read-stride", strconv.Itoa(bigStride), "--read-rate", "4000", "--output", out)

	rm := rmClient(t, dir)
	t.Cleanup(func() { // a test that stops early leaves no application behind
		if id, err := yarn.ParseApplicationID(appIDRe.FindString(run.stdout.String() + run.stderr.String())); err == nil {
			rm.Kill(context.Background(), id, "test ended")
		}
	})
	mem := newRSSSampler(out)
	defer mem.stop()
	limit := int64(bigStateMul) * bigTMMB << 20
	var victim int
	var size int64
	var chk int64
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of %d MB within the deadline (last: chk-%d, %d MB)\n%s", limit>>20, chk, size>>20, run.stderr.String())
		}
		select {
		case <-run.done:
			t.Fatalf("the job ended before the kill (chk-%d, %d MB): %s\n%s", chk, size>>20, run.stdout.String(), run.stderr.String())
		default:
		}
		var n int
		chk, size, n = latestCheckpoint(t, ckpt)
		if n >= 2 && size >= limit {
			pids := mem.pids()
			if len(pids) != 1 {
				t.Fatalf("%d TaskManager processes, want 1", len(pids))
			}
			victim = pids[0]
			break
		}
	}
	mem.sample() // the victim's peak, up to the kill
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed TaskManager %d after chk-%d with %d MB of state (%d keys of %d bytes)", victim, chk, size>>20, bigKeys, bigValue)
	if code := run.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, run.stdout.String(), run.stderr.String())
	}
	mem.stop()

	// Every TaskManager stayed below its container's size, the replacement too.
	peaks := mem.peaks()
	if len(peaks) < 2 {
		t.Fatalf("sampled %d TaskManager processes, want the killed one and its replacement", len(peaks))
	}
	for pid, p := range peaks {
		t.Logf("TaskManager %d: peak RSS %d MB, pebble store up to %d MB on disk (container %d MB)", pid, p.hwm>>20, p.store>>20, bigTMMB)
		if p.hwm >= bigTMMB<<20 {
			t.Errorf("TaskManager %d: peak RSS %d MB, above its %d MB container", pid, p.hwm>>20, bigTMMB)
		}
	}
	checkNoMemoryKill(t, dir, run.stdout.String()+run.stderr.String())
	checkBigState(t, out)
}

// latestCheckpoint is the newest completed checkpoint under ckpt: its id,
// the bytes of the store files it references and how many are complete.
func latestCheckpoint(t *testing.T, ckpt string) (int64, int64, int) {
	fsy, root, err := fsys.Resolve(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := fsy.List(t.Context(), root)
	var best int64 = -1
	var bestDir string
	n := 0
	for _, j := range jobs {
		chks, _ := fsy.List(t.Context(), fsy.Join(root, j.Name))
		for _, c := range chks {
			id, err := strconv.ParseInt(strings.TrimPrefix(c.Name, "chk-"), 10, 64)
			if err != nil || !strings.HasPrefix(c.Name, "chk-") {
				continue
			}
			if _, err := fsy.Stat(t.Context(), fsy.Join(root, j.Name, c.Name, "_metadata")); err != nil {
				continue
			}
			n++
			if id > best {
				best, bestDir = id, ckpt+"/"+j.Name+"/"+c.Name
			}
		}
	}
	if best < 0 {
		return 0, 0, 0
	}
	store, p, err := checkpoint.OpenFS(bestDir)
	if err != nil {
		t.Fatal(err)
	}
	md, err := checkpoint.LoadMetadata(t.Context(), store, p)
	if err != nil {
		return best, 0, n // retention may have removed it meanwhile
	}
	var size int64
	for _, op := range md.Operators {
		for _, st := range op.Subtasks {
			for _, h := range st.Incremental {
				for _, f := range h.Files {
					size += f.Size
				}
			}
		}
	}
	return best, size, n
}

// bigStateValue is testjob's value of key k in phase p, written again
// here: n hex digits of a splitmix64 sequence seeded by k and p.
func bigStateValue(k, p int64, n int) string {
	x := uint64(k)*2 + uint64(p)
	var b strings.Builder
	for b.Len() < n {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		var w [8]byte
		binary.BigEndian.PutUint64(w[:], z)
		s := hex.EncodeToString(w[:])
		b.WriteString(s[:min(len(s), n-b.Len())])
	}
	return b.String()
}

// checkBigState compares the job's committed lines with the keys' values
// computed here: every bigSample-th key once, with the checksum of the
// value it wrote before the kill, and none of the checked keys (every
// bigStride-th: each of the store's files holds hundreds) lost or corrupt.
func checkBigState(t *testing.T, out string) {
	got := readLines(t, out)
	var want []string
	for k := int64(0); k < int64(bigKeys/bigStride*bigStride); k += bigSample {
		want = append(want, fmt.Sprintf("k %d %d", k, crc32.ChecksumIEEE([]byte(bigStateValue(k, 0, bigValue)))))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		bad := 0
		for _, l := range got {
			if !strings.HasPrefix(l, "k ") {
				bad++
				if bad <= 5 {
					t.Errorf("job wrote %q", l)
				}
			}
		}
		t.Fatalf("after the kill: %d lines (%d lost or corrupt keys), want %d", len(got), bad, len(want))
	}
}

// memoryKilled matches YARN's exit statuses of containers killed for
// memory (KILLED_EXCEEDED_VMEM -103, KILLED_EXCEEDED_PMEM -104) and the
// NodeManager's diagnostics of them.
var memoryKilled = regexp.MustCompile(`exited with status -10[34]|beyond the '(PHYSICAL|VIRTUAL)' memory limit`)

// checkNoMemoryKill looks through the ApplicationMaster's log (and the
// client's output) for a container that YARN killed for memory.
func checkNoMemoryKill(t *testing.T, confDir, client string) {
	if memoryKilled.MatchString(client) {
		t.Errorf("a container was killed for memory: %s", memoryKilled.FindString(client))
	}
	app := appIDRe.FindString(client)
	if app == "" {
		t.Fatalf("no application id in the client's output: %s", client)
	}
	logs, _ := filepath.Glob(filepath.Join(filepath.Dir(confDir), "target", "*", "*", "*", app, "*", "jobmanager.log"))
	if len(logs) == 0 {
		t.Fatalf("no ApplicationMaster log of %s", app)
	}
	ended := 0
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if m := memoryKilled.Find(b); m != nil {
			t.Errorf("%s: a container was killed for memory: %s", l, m)
		}
		ended += strings.Count(string(b), "TaskManager container ended")
	}
	if ended != 1 {
		t.Errorf("%d TaskManager containers ended while the job ran, want 1 (the one killed)", ended)
	}
}

// rssSampler follows the peak RSS (VmHWM) of the TaskManager processes
// whose arguments hold marker, their CPU time, and the size of their pebble
// stores.
type rssSampler struct {
	marker string
	mu     sync.Mutex
	seen   map[int]procPeak
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

type procPeak struct {
	hwm   int64         // bytes
	cpu   time.Duration // user and system time, at the last sample before the process ended
	store int64         // bytes of the floe-state-* directories under its LOCAL_DIRS
	dirs  []string
}

func newRSSSampler(marker string) *rssSampler {
	s := &rssSampler{marker: marker, seen: map[int]procPeak{}, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			s.sample()
			select {
			case <-s.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() {
	s.once.Do(func() { close(s.quit) })
	<-s.done
}

// sample reads every matching process's VmHWM (the kernel's peak of its
// resident set) and its stores' size once.
func (s *rssSampler) sample() {
	for pid := range containerProcesses("taskmanager", s.marker) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		hwm := statusKB(string(b), "VmHWM:") << 10
		cpu := cpuTime(pid)
		s.mu.Lock()
		p := s.seen[pid]
		if p.dirs == nil {
			p.dirs = localDirs(pid)
		}
		p.hwm = max(p.hwm, hwm)
		p.cpu = max(p.cpu, cpu)
		s.mu.Unlock()
		store := storeBytes(p.dirs)
		s.mu.Lock()
		p.store = max(p.store, store)
		s.seen[pid] = p
		s.mu.Unlock()
	}
}

func (s *rssSampler) pids() []int {
	var out []int
	for pid := range containerProcesses("taskmanager", s.marker) {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

func (s *rssSampler) peaks() map[int]procPeak {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]procPeak{}
	for pid, p := range s.seen {
		out[pid] = p
	}
	return out
}

// statusKB is a "Key:   123 kB" field of /proc/<pid>/status.
func statusKB(status, key string) int64 {
	for _, l := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTime is process pid's user and system CPU time so far (utime and
// stime of /proc/<pid>/stat, in USER_HZ ticks of 10 ms), 0 once it is gone.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // from field 3, the state
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// localDirs are the LOCAL_DIRS of process pid's container.
func localDirs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return []string{}
	}
	for _, v := range strings.Split(string(b), "\x00") {
		if d, ok := strings.CutPrefix(v, "LOCAL_DIRS="); ok {
			return strings.Split(d, ",")
		}
	}
	return []string{}
}

// storeBytes adds up the files of the pebble stores in dirs (their
// databases, floe-state-*/db*, not the checkpoints' hard links beside them).
func storeBytes(dirs []string) int64 {
	var n int64
	for _, d := range dirs {
		stores, _ := filepath.Glob(filepath.Join(d, "floe-state-*", "db*"))
		for _, st := range stores {
			filepath.WalkDir(st, func(_ string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					if info, err := e.Info(); err == nil {
						n += info.Size()
					}
				}
				return nil
			})
		}
	}
	return n
}

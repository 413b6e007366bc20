package container_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"floe/appmaster"
	"floe/checkpoint"
	"floe/config"
)

// BenchmarkBackPressuredCheckpoints runs the unaligned cycle test's job
// (sinks throttled to a fraction of the sources' rate) for 3 s per
// iteration with checkpoints every 100 ms, aligned and unaligned, with
// network queues of 4, 32 and 128 messages, and reports the checkpoints' durations
// (trigger to _metadata written: median and p90) and channel-state bytes
// per checkpoint. Aligned durations grow with the data queued in front of
// a barrier; unaligned ones should not.
func BenchmarkBackPressuredCheckpoints(b *testing.B) {
	for _, queue := range []int{4, 32, 128} {
		for _, unaligned := range []bool{false, true} {
			name := fmt.Sprintf("queue=%d/aligned", queue)
			if unaligned {
				name = fmt.Sprintf("queue=%d/unaligned", queue)
			}
			b.Run(name, func(b *testing.B) {
				var durs []float64
				var chBytes, cps int64
				for range b.N {
					d, cb, n := backPressuredRun(b, queue, unaligned)
					durs = append(durs, d...)
					chBytes += cb
					cps += n
				}
				slices.Sort(durs)
				if len(durs) == 0 {
					b.Fatal("no checkpoint completed")
				}
				b.ReportMetric(durs[len(durs)/2], "median-ms")
				b.ReportMetric(durs[len(durs)*9/10], "p90-ms")
				b.ReportMetric(float64(chBytes)/float64(max(cps, 1)), "channel-B/ckpt")
				b.ReportMetric(float64(len(durs))/float64(b.N), "ckpts/op")
			})
		}
	}
}

func backPressuredRun(b *testing.B, queue int, unaligned bool) (durMs []float64, channelBytes, n int64) {
	dir := b.TempDir()
	kv := map[string]string{
		config.BufferTimeout:                        "5ms",
		config.QueueCapacity:                        fmt.Sprint(queue),
		config.Credits:                              fmt.Sprint(queue),
		"execution.checkpointing.interval":          "100ms",
		"execution.checkpointing.dir":               "file://" + dir,
		"execution.checkpointing.num-retained":      "1000",
		"execution.checkpointing.unaligned.enabled": fmt.Sprint(unaligned),
	}
	env := &ucEnv{final: map[int]digest{}}
	g := unalignedGraph(env, 1<<40, 200*time.Microsecond, kv)
	jm, _ := cluster(b, 4, g)
	h, err := jm.Submit(g, appmaster.SubmitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	seen := map[string]bool{}
	collect := func() {
		files, _ := filepath.Glob(filepath.Join(dir, "*", "chk-*", checkpoint.MetadataName))
		for _, f := range files {
			if seen[f] {
				continue
			}
			st, err := os.Stat(f)
			if err != nil {
				continue
			}
			store, p, err := checkpoint.OpenFS(filepath.Dir(f))
			if err != nil {
				b.Fatal(err)
			}
			m, err := checkpoint.LoadMetadata(context.Background(), store, p)
			if err != nil {
				continue // being written
			}
			seen[f] = true
			durMs = append(durMs, float64(st.ModTime().Sub(m.Timestamp).Microseconds())/1000)
			for _, op := range m.Operators {
				for _, s := range op.Subtasks {
					if s.Channels != nil {
						channelBytes += s.Channels.Size
					}
				}
			}
			n++
		}
	}
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
		collect()
	}
	h.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.Wait(ctx)
	return durMs, channelBytes, n
}

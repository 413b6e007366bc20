package datastream

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"floe/appmaster"
	"floe/config"
	"floe/container"
	"floe/internal/rpc"
)

type payload struct {
	Seq  int64
	Body string
}

// A slow sink must hold back (the network's credits and queues, package
// container/network, run by real TaskManagers) its producers: the records the source has made
// but the sink has not consumed stay below what the network may buffer, and
// so do the bytes in the TaskManagers' queues. No timing is asserted.
func TestSlowConsumerBackPressuresProducer(t *testing.T) {
	const (
		n         = 6000
		batch     = 50
		credits   = 2
		queue     = 2
		bodyBytes = 100
	)
	env := NewEnvironment(WithConfig(config.New(map[string]string{
		config.Parallelism: "2", config.BatchSize: "50", config.Credits: "2", config.QueueCapacity: "2",
		config.BufferTimeout: "-1"})), WithLogger(zerolog.Nop()))
	var produced, consumed, maxLead atomic.Int64
	body := strings.Repeat("x", bodyBytes)
	src := Generate(env, func(i int64) payload {
		produced.Add(1)
		return payload{Seq: i, Body: body}
	}, GeneratorOptions{Count: n})
	slow := Map(src.Rebalance(), func(p payload) int64 {
		lead := produced.Load() - consumed.Add(1)
		for {
			m := maxLead.Load()
			if lead <= m || maxLead.CompareAndSwap(m, lead) {
				break
			}
		}
		time.Sleep(50 * time.Microsecond)
		return p.Seq
	})
	seen, _ := Collect(slow)
	g, err := env.jobGraph("backpressure")
	if err != nil {
		t.Fatal(err)
	}

	secret := rpc.NewSecret()
	jm, err := appmaster.New(appmaster.Options{Secret: secret, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); jm.Run(ctx) }()
	var tms []*container.TaskManager
	for i := range 2 {
		tm, err := container.New(container.Options{ResourceID: "tm" + string(rune('a'+i)), JobManager: jm.Address(),
			Slots: 1, Secret: secret, Log: zerolog.Nop(), Graph: g})
		if err != nil {
			t.Fatal(err)
		}
		tms = append(tms, tm)
		go tm.Run(ctx)
	}
	h, err := jm.Submit(g, appmaster.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Wait(ctx)
	if err != nil || r.Status != appmaster.Finished {
		t.Fatalf("job: %v %+v", err, r)
	}
	cancel()
	<-done

	if got := len(seen.Items()); got != n {
		t.Fatalf("sink saw %d records, want %d", got, n)
	}
	// Per channel: the writer's buffer, the producer's queue and the
	// consumer's credits, each `batch` records; 2 producers x 2 consumers.
	channels := int64(2 * 2)
	// Plus, per producer, the batch in hand while its send blocks and the record being made.
	bound := channels*(1+queue+credits)*batch + 2*(batch+1)
	if lead := maxLead.Load(); lead > bound {
		t.Errorf("source ran %d records ahead of the slow sink; flow control allows at most %d", lead, bound)
	}
	if lead := maxLead.Load(); lead < batch {
		t.Errorf("source never ran ahead (%d): the test does not measure buffering", lead)
	}
	batchBytes := int64(batch*(bodyBytes+8)) + 4096 // payload plus Arrow framing
	for i, tm := range tms {
		if q := tm.Stats().MaxQueued(); q > channels*(queue+credits)*batchBytes {
			t.Errorf("taskmanager %d buffered %d bytes, bound %d", i, q, channels*(queue+credits)*batchBytes)
		}
		if q := tm.Stats().Queued(); q != 0 {
			t.Errorf("taskmanager %d still holds %d bytes", i, q)
		}
	}
	t.Logf("max lead %d records (bound %d)", maxLead.Load(), bound)
}

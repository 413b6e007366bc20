package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"floe/datastream"
)

// runBigState is the keyed job of the large-state test: keys records that
// write one value of valueBytes per key (phase 0), then keys/stride records
// that read every stride-th key's value back, check it and overwrite it
// (phase 1), at most rate of them a second (0: no limit). A value that is
// missing or wrong after a recovery is written out ("lost", "corrupt");
// every checked key that is a multiple of sample writes "k <key> <crc>" of
// the value it read, which the test computes on its own.
func runBigState(keys, valueBytes, sample, stride int64, rate float64, output string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := datastream.NewEnvironment()
	stride = max(stride, 1)
	var pause time.Duration // per 100 records of phase 1
	if rate > 0 {
		pause = time.Duration(100 / rate * float64(time.Second))
	}
	src := datastream.Generate(env, func(i int64) int64 {
		if i >= keys && pause > 0 && (i-keys)%100 == 0 {
			time.Sleep(pause) // the source's loop checks for barriers between records
		}
		return i
	}, datastream.GeneratorOptions{Count: keys + keys/stride}).SetParallelism(1).UID("events")
	val := datastream.NewValueState[int64, string]("value")
	var buf []byte
	key := func(i int64) int64 {
		if i < keys {
			return i
		}
		return (i - keys) * stride
	}
	checked := datastream.Process(datastream.KeyBy(src, key),
		func(ctx *datastream.KeyedContext[int64], i int64, emit func(string)) {
			k := ctx.Key()
			if i < keys {
				buf = bigStateValue(buf[:0], k, 0, int(valueBytes))
				val.Update(ctx, string(buf))
				return
			}
			v, ok := val.Value(ctx)
			buf = bigStateValue(buf[:0], k, 0, int(valueBytes))
			switch {
			case !ok:
				emit("lost " + strconv.FormatInt(k, 10))
			case v != string(buf):
				emit("corrupt " + strconv.FormatInt(k, 10))
			case k%sample == 0:
				emit("k " + strconv.FormatInt(k, 10) + " " + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(v))), 10))
			}
			buf = bigStateValue(buf[:0], k, 1, int(valueBytes))
			val.Update(ctx, string(buf))
		}, val).SetParallelism(1).UID("values")
	datastream.WriteText(checked, output, nil).SetParallelism(1).UID("sink")
	_, err := env.Execute(ctx, "testjob-bigstate")
	exit(err)
}

// bigStateValue appends key k's value of phase p: n hex digits of a
// splitmix64 sequence seeded by k and p (incompressible, so the store's
// size on disk is the state's).
func bigStateValue(b []byte, k, p int64, n int) []byte {
	x := uint64(k)*2 + uint64(p)
	var w [8]byte
	var h [16]byte
	for len(b) < n {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		binary.BigEndian.PutUint64(w[:], z)
		hex.Encode(h[:], w[:])
		b = append(b, h[:min(16, n-len(b))]...)
	}
	return b
}

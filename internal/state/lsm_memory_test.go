package state

import (
	"errors"
	"testing"

	"floe/config"
)

func TestMemoryFromConfig(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		kv            map[string]string
		managed       int64
		total         int64
		cache, memTbl int64
		wantErr       bool
	}{
		// The slot's managed memory, half to two memtables.
		{kv: nil, managed: 64 * mb, total: 64 * mb, cache: 32 * mb, memTbl: 16 * mb},
		// Unknown slot: a quarter of the process.
		{kv: map[string]string{"taskmanager.memory.process.size": "192m"}, total: 48 * mb, cache: 24 * mb, memTbl: 12 * mb},
		{kv: map[string]string{"taskmanager.memory.managed.size": "100mb", "state.backend.pebble.memory.write-buffer-ratio": "0.25"},
			total: 100 * mb, cache: 75 * mb, memTbl: 12.5 * mb},
		// fixed-per-slot wins over the managed share.
		{kv: map[string]string{"state.backend.pebble.memory.fixed-per-slot": "8mb"}, managed: 64 * mb, total: 8 * mb, cache: 4 * mb, memTbl: 2 * mb},
		// Not managed: the defaults of a store without a budget.
		{kv: map[string]string{"state.backend.pebble.memory.managed": "false"}, managed: 64 * mb, total: 0, cache: 32 * mb, memTbl: 4 * mb},
		{kv: map[string]string{"state.backend.pebble.memory.write-buffer-ratio": "1"}, wantErr: true},
		{kv: map[string]string{"state.backend.pebble.memory.write-buffer-ratio": "x"}, wantErr: true},
		{kv: map[string]string{"state.backend.pebble.memory.fixed-per-slot": "1kb"}, wantErr: true},
		{kv: map[string]string{"state.backend.pebble.memory.managed": "maybe"}, wantErr: true},
	} {
		m, err := MemoryFromConfig(config.New(tc.kv), tc.managed)
		if tc.wantErr {
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("%v: err %v, want ErrInvalid", tc.kv, err)
			}
			continue
		}
		cache, memTbl := m.sizes()
		if err != nil || m.Total != tc.total || cache != tc.cache || memTbl != tc.memTbl {
			t.Errorf("%v, managed %d: total %d cache %d memtable %d (%v); want %d %d %d", tc.kv, tc.managed, m.Total, cache, memTbl, err, tc.total, tc.cache, tc.memTbl)
		}
	}
}

func TestMemoryShare(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		total int64
		n     int
		want  int64
	}{{64 * mb, 1, 64 * mb}, {64 * mb, 0, 64 * mb}, {64 * mb, 4, 16 * mb}, {64 * mb, 3, 64 * mb / 3}, {4 * mb, 8, 2 * mb}, {0, 4, 0}} {
		if got := (Memory{Total: c.total, WriteBufferRatio: 0.3}).Share(c.n); got.Total != c.want || got.WriteBufferRatio != 0.3 {
			t.Errorf("%d bytes in %d shares: %+v, want %d", c.total, c.n, got, c.want)
		}
	}
}

package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"floe/checkpoint"
)

// Incremental checkpoints of the LSM backend (checkpoint/shared.go has the
// model). At the barrier IncrementalView writes the tables' cached writes
// and the memtable out to SST files and hard-links the store's live files
// into a local directory next to the store (pebble's Checkpoint): a flush
// and a list of files. Upload then sends, on another goroutine, the SST
// files that no earlier upload of this store sent to shared/, and the small
// files that describe the store (MANIFEST, OPTIONS, markers) into the
// checkpoint's directory. RestoreIncremental downloads the files of each
// handle in parallel and opens them: as the store itself when one handle
// covers exactly the subtask's key groups (its shared files are then not
// sent again), else read-only, copying the subtask's key groups out.

// incremental is a store's memory of its uploads.
type incremental struct {
	// instance names this store's lineage in shared/: a store restored
	// from a checkpoint numbers its new files on from the checkpoint's, as
	// the store that took it may have gone on doing.
	instance string
	seq      int // local checkpoint directories made

	mu sync.Mutex // one upload at a time; guards uploaded
	// uploaded holds, by local file name, the shared files this store
	// sent (or was restored from) that are still live.
	uploaded map[string]checkpoint.StoreFile
}

func newIncremental() incremental {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return incremental{instance: hex.EncodeToString(b[:]), uploaded: map[string]checkpoint.StoreFile{}}
}

// sharedFile tells the store's immutable data files (sent once, to
// shared/) from the files that describe the store (sent every time).
func sharedFile(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// transfers is how many files Upload and RestoreIncremental move at once.
const transfers = 4

// IncrementalView is a backend's state at a barrier as the files of its
// LSM store, hard-linked into a local directory: Upload sends them (an
// incremental checkpoint), Encode reads them into snapshot blocks (a
// savepoint, always full). Either may run on another goroutine while the
// operator goes on; Release ends the view (call it once, after).
type IncrementalView[K comparable] struct {
	b   *Backend[K] // the tables as of the view
	s   *lsmStore
	dir string
	// flush is how long the memtable's flush took, of the view's
	// synchronous part (the rest: the store's checkpoint, the links).
	flush time.Duration
}

// ErrNotLSM is returned for incremental checkpoints of a heap backend.
var ErrNotLSM = errors.New("state: incremental checkpoints need the pebble backend")

// IncrementalView flushes the store and links its files: the synchronous
// part of an incremental checkpoint.
func (b *Backend[K]) IncrementalView() (*IncrementalView[K], error) {
	s := b.lsm
	if s == nil {
		return nil, ErrNotLSM
	}
	for _, t := range b.tables {
		t.flushLSM()
	}
	// No write-ahead log: the memtable goes into an SST first.
	t0 := time.Now()
	if err := s.db.Flush(); err != nil {
		return nil, fmt.Errorf("state: pebble store %s: flush: %w", s.dir, err)
	}
	flushed := time.Since(t0)
	s.inc.seq++
	dir := filepath.Join(s.root, "chk-"+strconv.Itoa(s.inc.seq))
	if err := s.db.Checkpoint(dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("state: pebble store %s: checkpoint into %s: %w", s.dir, dir, err)
	}
	s.retain()
	v := &Backend[K]{hasher: b.hasher, maxPar: b.maxPar, tables: maps.Clone(b.tables), order: slices.Clone(b.order)}
	return &IncrementalView[K]{b: v, s: s, dir: dir, flush: flushed}, nil
}

// Target is where Upload puts one subtask's store files.
type Target struct {
	Store     checkpoint.FS
	SharedDir string // <job-dir>/shared
	Dir       string // the checkpoint's directory
	UID       string
	Subtask   int
	// Start, End: the key groups the store holds.
	Start, End int
}

// Upload sends the view's files: the SST files not sent before to
// t.SharedDir, the others to t.Dir. It returns the handle for _metadata and
// the bytes it sent.
func (v *IncrementalView[K]) Upload(ctx context.Context, t Target) (checkpoint.IncrementalHandle, int64, error) {
	h := checkpoint.IncrementalHandle{Backend: "pebble", Start: t.Start, End: t.End, Tables: slices.Clone(v.b.order)}
	ents, err := os.ReadDir(v.dir)
	if err != nil {
		return h, 0, fmt.Errorf("state: list checkpoint of pebble store %s: %w", v.s.dir, err)
	}
	inc := &v.s.inc
	inc.mu.Lock()
	defer inc.mu.Unlock()
	var (
		jobs []func(context.Context) error
		sent int64
		mu   sync.Mutex
		done = map[string]checkpoint.StoreFile{}
	)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			return h, 0, fmt.Errorf("state: checkpoint of pebble store %s: %w", v.s.dir, err)
		}
		if info.IsDir() {
			continue
		}
		name := e.Name()
		f := checkpoint.StoreFile{Name: name, Size: info.Size(), Shared: sharedFile(name)}
		if f.Shared {
			if up, ok := inc.uploaded[name]; ok && up.Size == f.Size {
				h.Files = append(h.Files, up)
				continue
			}
			f.Path = checkpoint.Join(t.SharedDir, checkpoint.SharedFileName(t.UID, t.Subtask, t.Start, t.End, inc.instance, name))
		} else {
			f.Path = checkpoint.Join(t.Dir, checkpoint.StateFileName(t.UID, t.Subtask, "lsm-"+name))
		}
		h.Files = append(h.Files, f)
		local := filepath.Join(v.dir, name)
		jobs = append(jobs, func(ctx context.Context) error {
			if err := upload(ctx, t.Store, local, f.Path); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			sent += f.Size
			if f.Shared {
				done[name] = f
			}
			return nil
		})
	}
	err = parallel(ctx, transfers, jobs)
	maps.Copy(inc.uploaded, done) // sent even if others failed: reusable
	if err != nil {
		return h, sent, fmt.Errorf("state: upload pebble store %s: %w", v.s.dir, err)
	}
	// Only what is live now can be live later.
	live := map[string]checkpoint.StoreFile{}
	for _, f := range h.Files {
		if f.Shared {
			live[f.Name] = f
		}
	}
	inc.uploaded = live
	return h, sent, nil
}

// Encode reads key groups [start, end) of the view into snapshot blocks,
// as View.Encode does: a full, self-contained snapshot (a savepoint).
func (v *IncrementalView[K]) Encode(start, end int) ([][]byte, error) {
	return collect(start, end, func(emit func(int, []byte) error) error { return v.EncodeTo(start, end, emit) })
}

// EncodeTo is Encode one key group at a time, as View.EncodeTo.
func (v *IncrementalView[K]) EncodeTo(start, end int, emit func(kg int, block []byte) error) error {
	db, err := openReadOnly(v.s, v.dir)
	if err != nil {
		return fmt.Errorf("state: open checkpoint %s of pebble store: %w", v.dir, err)
	}
	err = v.b.encodeTo(db, start, end, emit)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("state: close checkpoint %s of pebble store: %w", v.dir, cerr)
	}
	return err
}

// Release removes the view's local files.
func (v *IncrementalView[K]) Release() error {
	if v.s == nil {
		return nil
	}
	err := os.RemoveAll(v.dir)
	if rerr := v.s.release(); err == nil {
		err = rerr
	}
	v.s = nil
	return err
}

// encodeTo encodes key groups [start, end) of the tables as read from r,
// handing each group's block to emit in order, the empty ones too. emit
// must not keep the block (its buffer is reused): one key group is in
// memory at a time.
func (b *Backend[K]) encodeTo(r pebble.Reader, start, end int, emit func(kg int, block []byte) error) error {
	var buf bytes.Buffer
	for g := start; g < end; g++ {
		buf.Reset()
		for _, name := range b.order {
			if err := b.tables[name].encodeGroup(r, g, &buf, name); err != nil {
				return err
			}
		}
		if err := emit(g, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// collect gathers the blocks an EncodeTo emits for [start, end).
func collect(start, end int, encodeTo func(emit func(int, []byte) error) error) ([][]byte, error) {
	out := make([][]byte, end-start)
	err := encodeTo(func(g int, blk []byte) error {
		if len(blk) > 0 {
			out[g-start] = bytes.Clone(blk)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lsmLoader is the part of a table that a restore from store files uses.
type lsmLoader interface {
	// loadLSM adds the entries of key groups [lo, hi) that table id old
	// holds in r (heap tables: decoded into the map).
	loadLSM(r pebble.Reader, old uint16, lo, hi int) error
	// dropCache empties an LSM table's cache (it may remember restored
	// keys as absent).
	dropCache()
}

func (t *Table[K, T]) dropCache() {
	if t.lsm != nil {
		t.lsm.flush(true)
	}
}

func (t *Table[K, T]) loadLSM(r pebble.Reader, old uint16, lo, hi int) error {
	scan := &lsmTable[K, T]{id: old}
	var err error
	if scan.kc, err = newRowCodec[K](); err != nil {
		return err
	}
	if scan.vc, err = newRowCodec[T](); err != nil {
		return err
	}
	for g := lo; g < hi; g++ {
		if err := scan.scan(r, g, func(k K, v T, _ int) bool {
			t.set(k, slot[T]{v, t.gen})
			return true
		}); err != nil {
			return err
		}
	}
	return nil
}

// RestoreIncremental loads key groups [start, end) from incremental
// handles (paths resolved), each of one old subtask; tables must have been
// declared, as for Restore. Tables that a handle names but the backend does
// not declare are errors unless allowUnknown.
func (b *Backend[K]) RestoreIncremental(ctx context.Context, hs []checkpoint.IncrementalHandle, start, end int, allowUnknown bool) error {
	for _, h := range hs {
		for _, name := range h.Tables {
			if _, ok := b.tables[name]; !ok && !allowUnknown {
				return fmt.Errorf("state: snapshot holds state %q that this operator does not declare", name)
			}
		}
	}
	for _, t := range b.tables {
		t.(lsmLoader).dropCache()
	}
	if len(hs) == 1 && b.lsm != nil && hs[0].Start == start && hs[0].End == end && b.sameIDs(hs[0].Tables) {
		return b.reopen(ctx, hs[0])
	}
	parent := os.TempDir()
	if b.lsm != nil {
		parent = b.lsm.root
	}
	for _, h := range hs {
		lo, hi := max(start, h.Start), min(end, h.End)
		if lo >= hi {
			continue
		}
		if err := b.copyFrom(ctx, parent, h, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// sameIDs reports whether the store of tables numbers the tables as b does.
func (b *Backend[K]) sameIDs(tables []string) bool {
	return len(tables) <= len(b.order) && slices.Equal(tables, b.order[:len(tables)])
}

// reopen replaces b's (empty) store with the store h describes.
func (b *Backend[K]) reopen(ctx context.Context, h checkpoint.IncrementalHandle) error {
	s := b.lsm
	s.mu.Lock()
	refs := s.refs
	s.mu.Unlock()
	if refs != 1 {
		return fmt.Errorf("state: pebble store %s: restore while %d views are open", s.dir, refs-1)
	}
	s.inc.seq++
	dir := filepath.Join(s.root, "db-"+strconv.Itoa(s.inc.seq))
	if err := download(ctx, h, dir); err != nil {
		return err
	}
	db, err := openDB(dir, s.opts)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	old, oldDir := s.db, s.dir
	s.db, s.dir = db, dir
	if err := old.Close(); err != nil {
		return fmt.Errorf("state: close pebble store %s: %w", oldDir, err)
	}
	if err := os.RemoveAll(oldDir); err != nil {
		return fmt.Errorf("state: remove pebble store %s: %w", oldDir, err)
	}
	s.inc.mu.Lock()
	defer s.inc.mu.Unlock()
	for _, f := range h.Files {
		if f.Shared {
			s.inc.uploaded[f.Name] = f
		}
	}
	return nil
}

// copyFrom downloads h's store under parent, opens it read-only and copies
// key groups [lo, hi) into b.
func (b *Backend[K]) copyFrom(ctx context.Context, parent string, h checkpoint.IncrementalHandle, lo, hi int) error {
	dir, err := os.MkdirTemp(parent, "restore-")
	if err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	defer os.RemoveAll(dir)
	store := filepath.Join(dir, "db")
	if err := download(ctx, h, store); err != nil {
		return err
	}
	db, err := openReadOnly(b.lsm, store)
	if err != nil {
		return fmt.Errorf("state: restore: open downloaded store %s: %w", store, err)
	}
	defer db.Close()
	for i, name := range h.Tables {
		t, ok := b.tables[name]
		if !ok {
			continue // allowUnknown
		}
		old := uint16(i + 1)
		if b.lsm == nil {
			err = t.(lsmLoader).loadLSM(db, old, lo, hi)
		} else {
			err = b.copyTable(db, old, uint16(slices.Index(b.order, name)+1), lo, hi)
		}
		if err != nil {
			return fmt.Errorf("state: restore %q from %s: %w", name, store, err)
		}
	}
	return nil
}

// restoreBatch bounds the bytes of one batch of copied entries.
const restoreBatch = 16 << 20

// copyTable copies the entries of table old in key groups [lo, hi) of r
// into b's store as table id, as they are but for the id.
func (b *Backend[K]) copyTable(r pebble.Reader, old, id uint16, lo, hi int) error {
	db := b.lsm.db
	batch := db.NewBatch()
	defer func() { batch.Close() }()
	var key []byte
	for g := lo; g < hi; g++ {
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: appendPrefix(nil, g, old), UpperBound: appendPrefix(nil, g, old+1)})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			val, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return err
			}
			key = append(appendPrefix(key[:0], g, id), it.Key()[lsmPrefix:]...)
			if err := batch.Set(key, val, nil); err != nil {
				it.Close()
				return err
			}
			if batch.Len() >= restoreBatch {
				if err := batch.Commit(pebble.NoSync); err != nil {
					it.Close()
					return err
				}
				batch.Close()
				batch = db.NewBatch()
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	return batch.Commit(pebble.NoSync)
}

// download fetches h's files into dir, a new directory, in parallel.
func download(ctx context.Context, h checkpoint.IncrementalHandle, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	jobs := make([]func(context.Context) error, len(h.Files))
	for i, f := range h.Files {
		jobs[i] = func(ctx context.Context) error {
			return fetch(ctx, f, filepath.Join(dir, f.Name))
		}
	}
	if err := parallel(ctx, transfers, jobs); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("state: restore: %w", err)
	}
	return nil
}

func fetch(ctx context.Context, f checkpoint.StoreFile, local string) error {
	store, p, err := checkpoint.OpenFS(f.Path)
	if err != nil {
		return err
	}
	r, err := store.Open(ctx, p)
	if err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	defer r.Close()
	w, err := os.Create(local)
	if err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	n, err := io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != f.Size {
		err = fmt.Errorf("%w: %d bytes, the checkpoint recorded %d", checkpoint.ErrMissingFile, n, f.Size)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	return nil
}

func upload(ctx context.Context, store checkpoint.FS, local, remote string) error {
	r, err := os.Open(local)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := store.Create(ctx, remote)
	if err != nil {
		return fmt.Errorf("upload %s: %w", remote, err)
	}
	_, err = io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", remote, err)
	}
	return nil
}

// parallel runs jobs, n at a time, and returns their errors; the first
// error cancels the jobs not yet started.
func parallel(ctx context.Context, n int, jobs []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, n)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if errs[i] = job(ctx); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

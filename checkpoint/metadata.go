package checkpoint

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"time"

	"floe/internal/keygroup"
)

// Kind says whether a snapshot is a checkpoint or a savepoint.
type Kind string

const (
	// KindCheckpoint: periodic, owned by the job, deleted by retention.
	KindCheckpoint Kind = "checkpoint"
	// KindSavepoint: on demand, owned by the user, never deleted by floe.
	KindSavepoint Kind = "savepoint"
)

// Distribution says how an operator list state is split on restore.
type Distribution string

const (
	// Split: the entries of all old subtasks are dealt round-robin to the
	// new ones (each subtask keeps its own when the parallelism is unchanged).
	Split Distribution = "split"
	// Union: every new subtask gets every entry of every old subtask.
	Union Distribution = "union"
)

// SourcePositions is the list state sources keep their positions in, one
// entry per split (file source: split and offset; generator: its position).
const SourcePositions = "floe.source-positions"

// Metadata describes one completed checkpoint or savepoint: what _metadata
// holds. Paths of state files are relative to the directory of the
// _metadata when the files lie under it (so savepoints can be moved), else
// absolute (files in shared/).
type Metadata struct {
	ID        int64     `json:"id"`
	JobID     string    `json:"job_id"`
	Timestamp time.Time `json:"timestamp"` // when the checkpoint was triggered
	Kind      Kind      `json:"kind"`
	// WriterAttempt is the YARN ApplicationMaster attempt whose JobManager
	// wrote this _metadata (0: not on YARN, or written before floe recorded
	// it). It shows which attempt committed a checkpoint after a failover.
	WriterAttempt int32 `json:"writer_attempt,omitempty"`
	// Operators, sorted by UID, has every operator of the job at the time,
	// stateless ones included (with no subtasks).
	Operators []OperatorState `json:"operators"`
}

// OperatorState is the state of one operator, matched on restore by uid.
type OperatorState struct {
	UID            string `json:"uid"`
	Parallelism    int    `json:"parallelism"`
	MaxParallelism int    `json:"max_parallelism"`
	// Subtasks holds the subtasks that had state, sorted by index.
	Subtasks []SubtaskState `json:"subtasks,omitempty"`
	// Splits, on a file source whose splits the JobManager hands out on
	// demand, is the JobManager's part of its state: the splits not handed
	// out at the checkpoint. The subtasks' list state holds the ones they
	// had and had not finished, with their positions.
	Splits *SplitsState `json:"splits,omitempty"`
}

// SplitsState is a source's split enumerator at a checkpoint.
type SplitsState struct {
	Total int `json:"total"` // the source's splits
	// Unassigned are the splits no subtask had been given, ascending.
	Unassigned []int `json:"unassigned"`
}

// SubtaskState is one subtask's state of one operator: what a task reports
// in its acknowledgement, and what a task restores.
type SubtaskState struct {
	Subtask int           `json:"subtask"`
	Keyed   []KeyedHandle `json:"keyed,omitempty"`
	Lists   []ListState   `json:"lists,omitempty"`
	// Incremental holds keyed state as the files of an LSM store
	// (incremental checkpoints, shared.go); a restore at another
	// parallelism gets every handle that overlaps its key groups.
	Incremental []IncrementalHandle `json:"incremental,omitempty"`
	// Channels is the task's in-flight data of an unaligned checkpoint
	// (container/network's channel-state file), kept with the state of the
	// first operator of the task's chain.
	Channels *ChannelStateHandle `json:"channels,omitempty"`
}

// ChannelStateHandle is the file of one task's channel state.
type ChannelStateHandle struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Empty reports whether s holds no state.
func (s SubtaskState) Empty() bool {
	return len(s.Keyed) == 0 && len(s.Lists) == 0 && len(s.Incremental) == 0 && s.Channels == nil
}

// KeyedHandle is a file of keyed state holding key groups
// Start..Start+len(Offsets)-2, group g in bytes [Offsets[g-Start],
// Offsets[g-Start+1]). A restore at another parallelism reads the byte
// ranges of its own key groups only.
type KeyedHandle struct {
	Path    string  `json:"path"`
	Size    int64   `json:"size"` // of the file
	Start   int     `json:"start"`
	Offsets []int64 `json:"offsets"`
}

// End is one past the last key group of h.
func (h KeyedHandle) End() int { return h.Start + len(h.Offsets) - 1 }

// Group returns the byte range of key group g in h's file.
func (h KeyedHandle) Group(g int) (offset, length int64, ok bool) {
	if g < h.Start || g >= h.End() {
		return 0, 0, false
	}
	i := g - h.Start
	return h.Offsets[i], h.Offsets[i+1] - h.Offsets[i], true
}

// Slice returns h restricted to key groups [start, end), false when they
// do not overlap.
func (h KeyedHandle) Slice(start, end int) (KeyedHandle, bool) {
	start, end = max(start, h.Start), min(end, h.End())
	if start >= end {
		return KeyedHandle{}, false
	}
	offs := h.Offsets[start-h.Start : end-h.Start+1]
	return KeyedHandle{Path: h.Path, Size: h.Size, Start: start, Offsets: append([]int64(nil), offs...)}, true
}

// ListState is a named operator list state (or union state) of one subtask.
type ListState struct {
	Name         string       `json:"name"`
	Distribution Distribution `json:"distribution"`
	Entries      []ListEntry  `json:"entries"`
}

// ListEntry is one element of a list state: its bytes inline (small
// entries, e.g. source positions) or a byte range of a file.
type ListEntry struct {
	Inline []byte `json:"inline,omitempty"`
	Path   string `json:"path,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	Length int64  `json:"length,omitempty"`
}

// Operator returns the state of operator uid.
func (m *Metadata) Operator(uid string) (*OperatorState, bool) {
	i := sort.Search(len(m.Operators), func(i int) bool { return m.Operators[i].UID >= uid })
	if i < len(m.Operators) && m.Operators[i].UID == uid {
		return &m.Operators[i], true
	}
	return nil, false
}

// HasState reports whether any subtask of op has state.
func (op *OperatorState) HasState() bool {
	for _, s := range op.Subtasks {
		if !s.Empty() {
			return true
		}
	}
	return false
}

// fileRef is a state file and the size it must at least have.
type fileRef struct {
	path    string
	minSize int64
}

// files returns the state files m refers to, resolved against dir, sorted.
func (m *Metadata) files(dir string) []fileRef {
	need := map[string]int64{}
	add := func(p string, n int64) {
		p = resolve(dir, p)
		need[p] = max(need[p], n)
	}
	for _, op := range m.Operators {
		for _, s := range op.Subtasks {
			for _, h := range s.Keyed {
				add(h.Path, h.Size)
			}
			for _, l := range s.Lists {
				for _, e := range l.Entries {
					if e.Path != "" {
						add(e.Path, e.Offset+e.Length)
					}
				}
			}
			for _, h := range s.Incremental {
				for _, f := range h.Files {
					add(f.Path, f.Size)
				}
			}
			if s.Channels != nil {
				add(s.Channels.Path, s.Channels.Size)
			}
		}
	}
	out := make([]fileRef, 0, len(need))
	for p, n := range need {
		out = append(out, fileRef{p, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// Resolved returns a copy of m whose relative paths are resolved against
// dir, the directory m's _metadata is in: the form tasks restore from.
func (m *Metadata) Resolved(dir string) *Metadata {
	c := m.clone()
	for i := range c.Operators {
		for j := range c.Operators[i].Subtasks {
			resolveSubtask(&c.Operators[i].Subtasks[j], dir)
		}
	}
	return c
}

func resolveSubtask(s *SubtaskState, dir string) {
	for k := range s.Keyed {
		s.Keyed[k].Path = resolve(dir, s.Keyed[k].Path)
	}
	if s.Channels != nil {
		s.Channels.Path = resolve(dir, s.Channels.Path)
	}
	for _, h := range s.Incremental {
		for f := range h.Files {
			h.Files[f].Path = resolve(dir, h.Files[f].Path)
		}
	}
	for k := range s.Lists {
		for e := range s.Lists[k].Entries {
			if p := s.Lists[k].Entries[e].Path; p != "" {
				s.Lists[k].Entries[e].Path = resolve(dir, p)
			}
		}
	}
}

func relativizeSubtask(s *SubtaskState, dir string) {
	for k := range s.Keyed {
		s.Keyed[k].Path = relativize(dir, s.Keyed[k].Path)
	}
	if s.Channels != nil {
		s.Channels.Path = relativize(dir, s.Channels.Path)
	}
	for _, h := range s.Incremental {
		for f := range h.Files {
			h.Files[f].Path = relativize(dir, h.Files[f].Path)
		}
	}
	for k := range s.Lists {
		for e := range s.Lists[k].Entries {
			if p := s.Lists[k].Entries[e].Path; p != "" {
				s.Lists[k].Entries[e].Path = relativize(dir, p)
			}
		}
	}
}

func (m *Metadata) clone() *Metadata {
	c := *m
	c.Operators = make([]OperatorState, len(m.Operators))
	for i, op := range m.Operators {
		c.Operators[i] = op
		if op.Splits != nil {
			sp := *op.Splits
			sp.Unassigned = append([]int(nil), sp.Unassigned...)
			c.Operators[i].Splits = &sp
		}
		c.Operators[i].Subtasks = make([]SubtaskState, len(op.Subtasks))
		for j, s := range op.Subtasks {
			c.Operators[i].Subtasks[j] = s.clone()
		}
	}
	return &c
}

func (s SubtaskState) clone() SubtaskState {
	c := SubtaskState{Subtask: s.Subtask}
	if s.Channels != nil {
		h := *s.Channels
		c.Channels = &h
	}
	if s.Keyed != nil {
		c.Keyed = make([]KeyedHandle, len(s.Keyed))
		for i, h := range s.Keyed {
			h.Offsets = append([]int64(nil), h.Offsets...)
			c.Keyed[i] = h
		}
	}
	if s.Incremental != nil {
		c.Incremental = make([]IncrementalHandle, len(s.Incremental))
		for i, h := range s.Incremental {
			h.Tables = append([]string(nil), h.Tables...)
			h.Files = append([]StoreFile(nil), h.Files...)
			c.Incremental[i] = h
		}
	}
	if s.Lists != nil {
		c.Lists = make([]ListState, len(s.Lists))
		for i, l := range s.Lists {
			l.Entries = append([]ListEntry(nil), l.Entries...)
			c.Lists[i] = l
		}
	}
	return c
}

// MaxMaxParallelism is the largest max parallelism floe accepts (Flink's).
const MaxMaxParallelism = 1 << 15

// Validate checks the invariants restore relies on.
func (m *Metadata) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMetadata}, args...)...)
	}
	if m.ID < 1 {
		return bad("checkpoint id %d, want >= 1", m.ID)
	}
	if m.Kind != KindCheckpoint && m.Kind != KindSavepoint {
		return bad("kind %q, want %q or %q", m.Kind, KindCheckpoint, KindSavepoint)
	}
	for i, op := range m.Operators {
		if op.UID == "" {
			return bad("operator %d has no uid", i)
		}
		if i > 0 && m.Operators[i-1].UID >= op.UID {
			return bad("operators not sorted by uid or uid %q repeated", op.UID)
		}
		if op.MaxParallelism < 1 || op.MaxParallelism > MaxMaxParallelism {
			return bad("operator %q: max parallelism %d, want 1..%d", op.UID, op.MaxParallelism, MaxMaxParallelism)
		}
		if op.Parallelism < 1 || op.Parallelism > op.MaxParallelism {
			return bad("operator %q: parallelism %d, want 1..%d", op.UID, op.Parallelism, op.MaxParallelism)
		}
		if sp := op.Splits; sp != nil {
			for j, k := range sp.Unassigned {
				if k < 0 || k >= sp.Total || (j > 0 && sp.Unassigned[j-1] >= k) {
					return bad("operator %q: unassigned split %d out of order or outside 0..%d", op.UID, k, sp.Total-1)
				}
			}
		}
		dist := map[string]Distribution{}
		for j, s := range op.Subtasks {
			if s.Subtask < 0 || s.Subtask >= op.Parallelism || (j > 0 && op.Subtasks[j-1].Subtask >= s.Subtask) {
				return bad("operator %q: subtask %d out of order or outside 0..%d", op.UID, s.Subtask, op.Parallelism-1)
			}
			if err := validateSubtask(s, op.Parallelism, op.MaxParallelism, dist); err != nil {
				return bad("operator %q subtask %d: %w", op.UID, s.Subtask, err)
			}
			if m.Kind == KindSavepoint && len(s.Incremental) > 0 {
				return bad("operator %q subtask %d: a savepoint with incremental state (savepoints are self-contained)", op.UID, s.Subtask)
			}
			if m.Kind == KindSavepoint && s.Channels != nil {
				return bad("operator %q subtask %d: a savepoint with channel state (savepoints are aligned)", op.UID, s.Subtask)
			}
		}
	}
	return nil
}

// validateSubtask checks s, subtask of an operator at parallelism p; dist
// collects the distribution of each list state name across subtasks.
func validateSubtask(s SubtaskState, p, maxP int, dist map[string]Distribution) error {
	lo, hi := keygroup.Range(maxP, p, s.Subtask)
	for _, h := range s.Keyed {
		if err := validPath(h.Path); err != nil {
			return err
		}
		if len(h.Offsets) < 2 {
			return fmt.Errorf("keyed state %s: %d offsets, want one per key group and one past the end", h.Path, len(h.Offsets))
		}
		if h.Start < lo || h.Start >= hi || len(h.Offsets)-1 > hi-h.Start {
			return fmt.Errorf("keyed state %s: key groups %d..%d outside the subtask's %d..%d", h.Path, h.Start, h.Start+len(h.Offsets)-2, lo, hi-1)
		}
		if h.Size < 0 || h.Offsets[0] < 0 || h.Offsets[len(h.Offsets)-1] > h.Size {
			return fmt.Errorf("keyed state %s: offsets %d..%d outside the file's %d bytes", h.Path, h.Offsets[0], h.Offsets[len(h.Offsets)-1], h.Size)
		}
		for i := 1; i < len(h.Offsets); i++ {
			if h.Offsets[i] < h.Offsets[i-1] {
				return fmt.Errorf("keyed state %s: offsets decrease at key group %d", h.Path, h.Start+i)
			}
		}
	}
	for _, h := range s.Incremental {
		if err := validateIncremental(h, lo, hi); err != nil {
			return err
		}
	}
	if h := s.Channels; h != nil {
		if err := validPath(h.Path); err != nil {
			return err
		}
		if h.Size <= 0 {
			return fmt.Errorf("channel state %s: size %d", h.Path, h.Size)
		}
	}
	seen := map[string]bool{}
	for _, l := range s.Lists {
		if l.Name == "" {
			return fmt.Errorf("list state without a name")
		}
		if seen[l.Name] {
			return fmt.Errorf("list state %q repeated", l.Name)
		}
		seen[l.Name] = true
		if l.Distribution != Split && l.Distribution != Union {
			return fmt.Errorf("list state %q: distribution %q, want %q or %q", l.Name, l.Distribution, Split, Union)
		}
		if d, ok := dist[l.Name]; ok && d != l.Distribution {
			return fmt.Errorf("list state %q is %s here and %s in another subtask", l.Name, l.Distribution, d)
		}
		dist[l.Name] = l.Distribution
		for i, e := range l.Entries {
			if e.Path == "" {
				if e.Offset != 0 || e.Length != 0 {
					return fmt.Errorf("list state %q entry %d: offset without a file", l.Name, i)
				}
				continue
			}
			if e.Inline != nil {
				return fmt.Errorf("list state %q entry %d: both inline bytes and a file", l.Name, i)
			}
			if err := validPath(e.Path); err != nil {
				return err
			}
			if e.Offset < 0 || e.Length < 0 || e.Offset > math.MaxInt64-e.Length {
				return fmt.Errorf("list state %q entry %d: bad range %d+%d", l.Name, i, e.Offset, e.Length)
			}
		}
	}
	return nil
}

func validPath(p string) error {
	if p == "" {
		return fmt.Errorf("state file without a path")
	}
	if !isAbs(p) && !validRelative(p) {
		return fmt.Errorf("checkpoint: %w: %q leaves its checkpoint directory", ErrInvalidPath, p)
	}
	return nil
}

// The _metadata format, version 1, all integers big-endian:
//
//	magic   8 bytes  "FLOECKPT"
//	version uint32   1
//	length  uint32   length of body
//	body    JSON     Metadata
//	crc     uint32   CRC-32C (Castagnoli) of everything before it
const (
	metadataMagic = "FLOECKPT"
	// MetadataVersion is the format version Encode writes.
	MetadataVersion = 1
	headerLen       = 8 + 4 + 4
	trailerLen      = 4
	// MaxMetadataSize bounds the _metadata files floe reads.
	MaxMetadataSize = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns m in the _metadata format, after validating it.
func Encode(m *Metadata) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	c := *m
	c.Timestamp = c.Timestamp.UTC()
	body, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode metadata of checkpoint %d: %w", m.ID, err)
	}
	if headerLen+len(body)+trailerLen > MaxMetadataSize {
		return nil, fmt.Errorf("checkpoint: encode metadata of checkpoint %d: %w: %d bytes of JSON", m.ID, ErrTooLarge, len(body))
	}
	b := make([]byte, 0, headerLen+len(body)+trailerLen)
	b = append(b, metadataMagic...)
	b = binary.BigEndian.AppendUint32(b, MetadataVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// Decode parses and validates _metadata bytes. It never panics, whatever b holds.
func Decode(b []byte) (*Metadata, error) {
	if len(b) < headerLen+trailerLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(b))
	}
	if string(b[:8]) != metadataMagic {
		return nil, fmt.Errorf("%w: magic %q, want %q", ErrCorrupt, b[:8], metadataMagic)
	}
	n := binary.BigEndian.Uint32(b[12:16])
	if uint64(n) != uint64(len(b)-headerLen-trailerLen) {
		return nil, fmt.Errorf("%w: body of %d bytes, header says %d (truncated or appended to)", ErrCorrupt, len(b)-headerLen-trailerLen, n)
	}
	sum := binary.BigEndian.Uint32(b[len(b)-trailerLen:])
	if got := crc32.Checksum(b[:len(b)-trailerLen], castagnoli); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, recorded %08x", ErrCorrupt, got, sum)
	}
	if v := binary.BigEndian.Uint32(b[8:12]); v != MetadataVersion {
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrUnsupportedVersion, v, MetadataVersion)
	}
	var m Metadata
	if err := json.Unmarshal(b[headerLen:len(b)-trailerLen], &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// StoreMetadata writes m as dir/_metadata atomically (temporary name, then
// rename): the step that makes a checkpoint complete.
func StoreMetadata(ctx context.Context, store FS, dir string, m *Metadata) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return WriteFileAtomic(ctx, store, MetadataPath(dir), b)
}

// LoadMetadata reads and decodes dir/_metadata.
func LoadMetadata(ctx context.Context, store FS, dir string) (*Metadata, error) {
	p := MetadataPath(dir)
	b, err := ReadFile(ctx, store, p, MaxMetadataSize)
	if err != nil {
		return nil, err
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", p, err)
	}
	return m, nil
}

package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Names in the checkpoint directory.
const (
	// MetadataName is the file whose presence makes a checkpoint complete.
	MetadataName = "_metadata"
	// SharedDirName holds files that several checkpoints reference
	// (incremental checkpoints); deleting a chk-<n> never touches it.
	SharedDirName = "shared"
	// TaskOwnedDirName holds files that tasks own and delete themselves.
	TaskOwnedDirName = "taskowned"
	checkpointPrefix = "chk-"
	savepointPrefix  = "savepoint-"
)

// Join joins elements to base, a plain path or a URI. The scheme and
// authority of a URI are kept as they are; only its path is cleaned.
func Join(base string, elem ...string) string {
	prefix, p := splitURI(base)
	return prefix + path.Join(append([]string{p}, elem...)...)
}

// splitURI splits "scheme://authority/path" into "scheme://authority" and
// "/path"; a plain path has no prefix.
func splitURI(s string) (prefix, p string) {
	i := strings.Index(s, "://")
	if i < 0 {
		return "", s
	}
	rest := s[i+3:]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		return s, "/"
	}
	return s[:i+3+j], rest[j:]
}

// JobDir is where the checkpoints of job jobID live: <dir>/<job-id>.
func JobDir(dir, jobID string) string { return Join(dir, jobID) }

// CheckpointDir is <job-dir>/chk-<id>: the checkpoint's _metadata and the
// files its tasks wrote.
func CheckpointDir(jobDir string, id int64) string {
	return Join(jobDir, checkpointPrefix+strconv.FormatInt(id, 10))
}

// SharedDir is <job-dir>/shared, reserved for incremental checkpoints.
func SharedDir(jobDir string) string { return Join(jobDir, SharedDirName) }

// TaskOwnedDir is <job-dir>/taskowned.
func TaskOwnedDir(jobDir string) string { return Join(jobDir, TaskOwnedDirName) }

// MetadataPath is the _metadata file of a checkpoint or savepoint directory.
func MetadataPath(dir string) string { return Join(dir, MetadataName) }

// NewSavepointDir returns a fresh savepoint directory under dir:
// <dir>/savepoint-<first 6 characters of the job id>-<12 random hex digits>.
func NewSavepointDir(dir, jobID string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return SavepointDir(dir, jobID, hex.EncodeToString(b[:]))
}

// SavepointDir is <dir>/savepoint-<short-job-id>-<suffix>.
func SavepointDir(dir, jobID, suffix string) string {
	short := jobID
	if len(short) > 6 {
		short = short[:6]
	}
	return Join(dir, savepointPrefix+sanitize(short)+"-"+suffix)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// sanitize makes s usable as one element of a path on every filesystem.
func sanitize(s string) string {
	s = unsafeName.ReplaceAllString(s, "_")
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

// StateFileName names the file subtask writes for operator uid (kind says
// which part: "keyed", "operator"...). A task that writes it into its
// checkpoint directory and reports Join(dir, name) in its acknowledgement
// gets a relative path in _metadata, so a savepoint can be moved.
func StateFileName(uid string, subtask int, kind string) string {
	return fmt.Sprintf("%s-%d-%s", sanitize(uid), subtask, sanitize(kind))
}

// ParseCheckpointDirName returns n for a name "chk-<n>".
func ParseCheckpointDirName(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, checkpointPrefix)
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// Entry is a chk-<n> directory of a job.
type Entry struct {
	ID  int64
	Dir string
	// Completed: the directory holds a _metadata (whether it is readable
	// is for LatestUsable to find out).
	Completed bool
}

// ListCheckpoints returns the chk-<n> directories of jobDir, newest (highest
// id) first. A missing jobDir holds none.
func ListCheckpoints(ctx context.Context, store FS, jobDir string) ([]Entry, error) {
	ents, err := store.List(ctx, jobDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range ents {
		id, ok := ParseCheckpointDirName(e.Name)
		if !ok || !e.IsDir {
			continue
		}
		dir := CheckpointDir(jobDir, id)
		_, err := store.Stat(ctx, MetadataPath(dir))
		switch {
		case err == nil:
			out = append(out, Entry{ID: id, Dir: dir, Completed: true})
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, Entry{ID: id, Dir: dir})
		default:
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// ListCompleted returns the completed checkpoints of jobDir (those with a
// _metadata), newest first.
func ListCompleted(ctx context.Context, store FS, jobDir string) ([]Entry, error) {
	all, err := ListCheckpoints(ctx, store, jobDir)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, e := range all {
		if e.Completed {
			out = append(out, e)
		}
	}
	return out, nil
}

// NextID is the first checkpoint id above every chk-<n> in entries, complete
// or not, so a restarted coordinator never reuses a directory.
func NextID(entries []Entry) int64 {
	next := int64(1)
	for _, e := range entries {
		if e.ID >= next {
			next = e.ID + 1
		}
	}
	return next
}

// resolve returns p, a path in a checkpoint's metadata, as a path or URI
// usable with FS: relative paths are relative to the checkpoint's directory.
func resolve(dir, p string) string {
	if isAbs(p) {
		return p
	}
	return Join(dir, p)
}

// relativize returns p relative to dir when p lies under it, else p.
func relativize(dir, p string) string {
	d := strings.TrimSuffix(dir, "/") + "/"
	if rel, ok := strings.CutPrefix(p, d); ok && validRelative(rel) {
		return rel
	}
	return p
}

func isAbs(p string) bool { return strings.HasPrefix(p, "/") || strings.Contains(p, "://") }

// validRelative: rel is clean and stays inside the directory it is relative to.
func validRelative(rel string) bool {
	return rel != "" && rel != "." && !isAbs(rel) && path.Clean(rel) == rel && rel != ".." && !strings.HasPrefix(rel, "../")
}

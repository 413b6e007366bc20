package failover

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"floe/internal/fsys"
)

// File names in the application's staging directory.
const (
	MetadataFile = "job.json"
	LeaderFile   = "jobmanager.json"
)

// ErrMalformed is wrapped when a file does not decode.
var ErrMalformed = errors.New("failover: malformed file")

// metadataVersion is the layout of job.json; a reader refuses others.
const metadataVersion = 1

// maxFile bounds what a reader accepts: both files are a few kilobytes.
const maxFile = 4 << 20

// Metadata is what a successor attempt needs to go on with the job.
type Metadata struct {
	Version     int    `json:"version"`
	JobID       string `json:"job_id"`
	Application string `json:"application,omitempty"`
	// Binary is the job binary's LocalResourceProto, serialized.
	Binary []byte   `json:"binary,omitempty"`
	Args   []string `json:"args,omitempty"`
	// Config is the job's configuration (-D keys).
	Config map[string]string `json:"config,omitempty"`
	// Savepoint is the savepoint the job started from, if any.
	Savepoint string `json:"savepoint,omitempty"`
	// CheckpointDir is the job's checkpoint directory (its job id's
	// subdirectory of execution.checkpointing.dir), if any.
	CheckpointDir string `json:"checkpoint_dir,omitempty"`
	// Attempt is the attempt that wrote the file.
	Attempt int32     `json:"attempt"`
	Written time.Time `json:"written"`
}

// EncodeMetadata returns m as job.json's bytes.
func EncodeMetadata(m Metadata) ([]byte, error) {
	m.Version = metadataVersion
	if err := m.check(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(m, "", "  ")
}

// DecodeMetadata parses job.json's bytes.
func DecodeMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if err := strictUnmarshal(b, &m); err != nil {
		return Metadata{}, err
	}
	if m.Version != metadataVersion {
		return Metadata{}, fmt.Errorf("%w: job metadata version %d, want %d", ErrMalformed, m.Version, metadataVersion)
	}
	if err := m.check(); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

func (m Metadata) check() error {
	switch {
	case m.JobID == "" || strings.ContainsAny(m.JobID, "/ \t\n"):
		return fmt.Errorf("%w: job id %q", ErrMalformed, m.JobID)
	case m.Attempt < 0:
		return fmt.Errorf("%w: attempt %d", ErrMalformed, m.Attempt)
	}
	return nil
}

// Leader is the JobManager that currently runs the application.
type Leader struct {
	Attempt   int32     `json:"attempt"`
	Address   string    `json:"address"`   // gRPC host:port
	Container string    `json:"container"` // its YARN container id
	Written   time.Time `json:"written"`
}

// EncodeLeader returns l as jobmanager.json's bytes.
func EncodeLeader(l Leader) ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	return json.Marshal(l)
}

// DecodeLeader parses jobmanager.json's bytes.
func DecodeLeader(b []byte) (Leader, error) {
	var l Leader
	if err := strictUnmarshal(b, &l); err != nil {
		return Leader{}, err
	}
	if err := l.check(); err != nil {
		return Leader{}, err
	}
	return l, nil
}

func (l Leader) check() error {
	if l.Attempt < 1 {
		return fmt.Errorf("%w: attempt %d", ErrMalformed, l.Attempt)
	}
	if i := strings.LastIndexByte(l.Address, ':'); i <= 0 || i == len(l.Address)-1 {
		return fmt.Errorf("%w: address %q is not host:port", ErrMalformed, l.Address)
	}
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	if len(b) > maxFile {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if d.More() {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// WriteMetadata writes m to dir/job.json atomically.
func WriteMetadata(ctx context.Context, fs fsys.FS, dir string, m Metadata) error {
	b, err := EncodeMetadata(m)
	if err != nil {
		return err
	}
	return writeAtomic(ctx, fs, fs.Join(dir, MetadataFile), b)
}

// ReadMetadata reads dir/job.json.
func ReadMetadata(ctx context.Context, fs fsys.FS, dir string) (Metadata, error) {
	b, err := readFile(ctx, fs, fs.Join(dir, MetadataFile))
	if err != nil {
		return Metadata{}, err
	}
	m, err := DecodeMetadata(b)
	if err != nil {
		return Metadata{}, fmt.Errorf("%s: %w", fs.Join(dir, MetadataFile), err)
	}
	return m, nil
}

// PublishLeader writes l to dir/jobmanager.json atomically.
func PublishLeader(ctx context.Context, fs fsys.FS, dir string, l Leader) error {
	b, err := EncodeLeader(l)
	if err != nil {
		return err
	}
	return writeAtomic(ctx, fs, fs.Join(dir, LeaderFile), b)
}

// ReadLeader reads dir/jobmanager.json.
func ReadLeader(ctx context.Context, fs fsys.FS, dir string) (Leader, error) {
	b, err := readFile(ctx, fs, fs.Join(dir, LeaderFile))
	if err != nil {
		return Leader{}, err
	}
	l, err := DecodeLeader(b)
	if err != nil {
		return Leader{}, fmt.Errorf("%s: %w", fs.Join(dir, LeaderFile), err)
	}
	return l, nil
}

// Superseded reports whether the leader file in dir names an attempt newer
// than attempt. A missing file supersedes nobody.
func Superseded(ctx context.Context, fs fsys.FS, dir string, attempt int32) (bool, Leader, error) {
	l, err := ReadLeader(ctx, fs, dir)
	if errors.Is(err, fsys.ErrNotExist) {
		return false, Leader{}, nil
	}
	if err != nil {
		return false, Leader{}, err
	}
	return l.Attempt > attempt, l, nil
}

// Locator is how a TaskManager of a per-job application finds the current
// JobManager: the leader file in the HDFS staging directory dir (a path of
// fs.defaultFS, as FLOE_STAGING names it).
func Locator(dir string) func(ctx context.Context) (string, int32, error) {
	return func(ctx context.Context) (string, int32, error) {
		fs, p, err := fsys.Resolve("hdfs://" + dir)
		if err != nil {
			return "", 0, err
		}
		l, err := ReadLeader(ctx, fs, p)
		if err != nil {
			return "", 0, err
		}
		return l.Address, l.Attempt, nil
	}
}

// writeAtomic writes b under a temporary name next to name, then renames it
// over name.
func writeAtomic(ctx context.Context, fs fsys.FS, name string, b []byte) error {
	var r [6]byte
	rand.Read(r[:])
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".tmp-"+hex.EncodeToString(r[:]))
	w, err := fs.Create(ctx, tmp)
	if err != nil {
		return fmt.Errorf("failover: create %s: %w", tmp, err)
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		fs.RemoveAll(context.WithoutCancel(ctx), tmp)
		return fmt.Errorf("failover: write %s: %w", tmp, err)
	}
	if err := w.Close(); err != nil {
		fs.RemoveAll(context.WithoutCancel(ctx), tmp)
		return fmt.Errorf("failover: close %s: %w", tmp, err)
	}
	if err := fs.Rename(ctx, tmp, name); err != nil {
		fs.RemoveAll(context.WithoutCancel(ctx), tmp)
		return fmt.Errorf("failover: rename %s to %s: %w", tmp, name, err)
	}
	return nil
}

func readFile(ctx context.Context, fs fsys.FS, name string) ([]byte, error) {
	f, err := fs.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("failover: open %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("failover: read %s: %w", name, err)
	}
	return b, nil
}

// SessionJobsDir is the directory, in a session's staging directory, that
// holds one file per job the session accepted (<job id>.json): what a new
// session attempt needs to restore every running job.
const SessionJobsDir = "jobs"

// SessionJob is a job's submission to a session, as accepted.
type SessionJob struct {
	Version int    `json:"version"`
	JobID   string `json:"job_id"`
	// Binary is the job binary's LocalResourceProto, serialized.
	Binary []byte   `json:"binary"`
	Args   []string `json:"args,omitempty"`
	// ConfigJSON is the job's configuration (-D keys, -p among them).
	ConfigJSON string `json:"config_json,omitempty"`
	// Savepoint is the savepoint the job started from, if any; a recovered
	// job restores its latest checkpoint before it.
	Savepoint string `json:"savepoint,omitempty"`
	// CheckpointDir is the job's checkpoint directory (its job id's
	// subdirectory of execution.checkpointing.dir), if any.
	CheckpointDir string    `json:"checkpoint_dir,omitempty"`
	Attempt       int32     `json:"attempt"` // the session attempt that accepted it
	Accepted      time.Time `json:"accepted"`
}

// WriteSessionJob records j in dir/jobs/<job id>.json atomically.
func WriteSessionJob(ctx context.Context, fs fsys.FS, dir string, j SessionJob) error {
	j.Version = metadataVersion
	if err := (Metadata{JobID: j.JobID, Attempt: j.Attempt}).check(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := fs.MkdirAll(ctx, fs.Join(dir, SessionJobsDir)); err != nil {
		return fmt.Errorf("failover: %s: %w", fs.Join(dir, SessionJobsDir), err)
	}
	return writeAtomic(ctx, fs, fs.Join(dir, SessionJobsDir, j.JobID+".json"), b)
}

// DecodeSessionJob parses a jobs/<id>.json file.
func DecodeSessionJob(b []byte) (SessionJob, error) {
	var j SessionJob
	if err := strictUnmarshal(b, &j); err != nil {
		return SessionJob{}, err
	}
	if j.Version != metadataVersion {
		return SessionJob{}, fmt.Errorf("%w: session job version %d, want %d", ErrMalformed, j.Version, metadataVersion)
	}
	if err := (Metadata{JobID: j.JobID, Attempt: j.Attempt}).check(); err != nil {
		return SessionJob{}, err
	}
	return j, nil
}

// RemoveSessionJob forgets a job that ended.
func RemoveSessionJob(ctx context.Context, fs fsys.FS, dir, jobID string) error {
	return fs.RemoveAll(ctx, fs.Join(dir, SessionJobsDir, jobID+".json"))
}

// ReadSessionJobs returns the jobs recorded in dir/jobs, sorted by when
// they were accepted; none when the directory does not exist.
func ReadSessionJobs(ctx context.Context, fs fsys.FS, dir string) ([]SessionJob, error) {
	ents, err := fs.List(ctx, fs.Join(dir, SessionJobsDir))
	if errors.Is(err, fsys.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failover: list %s: %w", fs.Join(dir, SessionJobsDir), err)
	}
	var out []SessionJob
	for _, e := range ents {
		if e.IsDir || strings.HasPrefix(e.Name, ".") || !strings.HasSuffix(e.Name, ".json") {
			continue
		}
		name := fs.Join(dir, SessionJobsDir, e.Name)
		b, err := readFile(ctx, fs, name)
		if err != nil {
			return nil, err
		}
		j, err := DecodeSessionJob(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if j.JobID+".json" != e.Name {
			return nil, fmt.Errorf("%w: %s names job %q", ErrMalformed, name, j.JobID)
		}
		out = append(out, j)
	}
	slices.SortFunc(out, func(a, b SessionJob) int { return a.Accepted.Compare(b.Accepted) })
	return out, nil
}

// EndedDir is the directory, in an application's staging directory, that
// holds one file per job that reached its end (<job id>.json), written
// before the job's outputs are published or removed: a new attempt that
// finds a job's record settles what its predecessor may have left half done
// and ends the job as recorded, instead of running it a second time.
const EndedDir = "ended"

// Ended is a job's end, as the attempt that saw it recorded it.
type Ended struct {
	Version int    `json:"version"`
	JobID   string `json:"job_id"`
	// Status is the job's final status: FINISHED, FAILED or CANCELED.
	Status  string `json:"status"`
	Failure string `json:"failure,omitempty"`
	// Outputs are the output directories of the job's file sinks.
	Outputs []string  `json:"outputs,omitempty"`
	Attempt int32     `json:"attempt"` // the attempt that saw the end
	Written time.Time `json:"written"`
}

func (e Ended) check() error {
	if err := (Metadata{JobID: e.JobID, Attempt: e.Attempt}).check(); err != nil {
		return err
	}
	switch e.Status {
	case "FINISHED", "FAILED", "CANCELED":
		return nil
	}
	return fmt.Errorf("%w: job end status %q", ErrMalformed, e.Status)
}

// EncodeEnded returns e as ended/<job id>.json's bytes.
func EncodeEnded(e Ended) ([]byte, error) {
	e.Version = metadataVersion
	if err := e.check(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(e, "", "  ")
}

// DecodeEnded parses an ended/<job id>.json file.
func DecodeEnded(b []byte) (Ended, error) {
	var e Ended
	if err := strictUnmarshal(b, &e); err != nil {
		return Ended{}, err
	}
	if e.Version != metadataVersion {
		return Ended{}, fmt.Errorf("%w: job end version %d, want %d", ErrMalformed, e.Version, metadataVersion)
	}
	if err := e.check(); err != nil {
		return Ended{}, err
	}
	return e, nil
}

// WriteEnded records e in dir/ended/<job id>.json atomically.
func WriteEnded(ctx context.Context, fs fsys.FS, dir string, e Ended) error {
	b, err := EncodeEnded(e)
	if err != nil {
		return err
	}
	if err := fs.MkdirAll(ctx, fs.Join(dir, EndedDir)); err != nil {
		return fmt.Errorf("failover: %s: %w", fs.Join(dir, EndedDir), err)
	}
	return writeAtomic(ctx, fs, fs.Join(dir, EndedDir, e.JobID+".json"), b)
}

// RecordedEnd returns the end of job recorded in dir, if the record counts:
// it must have been written by the latest attempt that published itself
// (the leader file's, or a newer one). A record of an older attempt, one
// that went on after a newer attempt took over (paused, cut off), does not
// end a job that newer attempt ran. ok is false when no record counts.
func RecordedEnd(ctx context.Context, fs fsys.FS, dir, job string) (e Ended, ok bool, err error) {
	name := fs.Join(dir, EndedDir, job+".json")
	b, err := readFile(ctx, fs, name)
	if errors.Is(err, fsys.ErrNotExist) {
		return Ended{}, false, nil
	}
	if err != nil {
		return Ended{}, false, err
	}
	if e, err = DecodeEnded(b); err != nil {
		return Ended{}, false, fmt.Errorf("%s: %w", name, err)
	}
	if e.JobID != job {
		return Ended{}, false, fmt.Errorf("%w: %s names job %q", ErrMalformed, name, e.JobID)
	}
	l, err := ReadLeader(ctx, fs, dir)
	switch {
	case errors.Is(err, fsys.ErrNotExist):
		return e, true, nil
	case err != nil:
		return Ended{}, false, err
	}
	return e, e.Attempt >= l.Attempt, nil
}

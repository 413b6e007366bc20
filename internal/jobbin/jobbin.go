// Package jobbin handles job binaries: their content hash, the per-user
// cache of uploaded binaries on HDFS, fetching one into a local directory,
// and asking a binary for its job graph (the plan role) without running it.
// The client uploads; a session's ApplicationMaster and supervisors fetch.
package jobbin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"floe/internal/fsys"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hdfsutil"
	"floe/internal/jobgraph"
	"floe/internal/role"
	"floe/internal/rpc/floepb"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Fetch copies a job binary from HDFS into dir (once per content hash)
// and returns its local path.
func Fetch(ctx context.Context, ref *floepb.BinaryRef, dir string) (string, error) {
	if ref.GetSha256() == "" || len(ref.GetSha256()) != 64 {
		return "", errors.New("binary reference without a sha256")
	}
	local := filepath.Join(dir, ref.GetSha256(), "job")
	if st, err := os.Stat(local); err == nil && st.Size() == ref.GetSize() {
		return local, nil
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return "", err
	}
	fsy, p, err := fsys.Resolve(ref.GetUri())
	if err != nil {
		return "", err
	}
	in, err := fsy.Open(ctx, p)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", ref.GetUri(), err)
	}
	defer in.Close()
	// A temporary name of its own: jobs submitted together fetch the same
	// binary at the same time.
	out, err := os.CreateTemp(filepath.Dir(local), "job.part-*")
	if err != nil {
		return "", err
	}
	tmp := out.Name()
	defer os.Remove(tmp) // after the rename: nothing there
	if _, err := copyCtx(ctx, out, in); err != nil {
		out.Close()
		return "", fmt.Errorf("download %s: %w", ref.GetUri(), err)
	}
	if err := out.Chmod(0o755); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	if sum, err := FileHash(tmp); err != nil || sum != ref.GetSha256() {
		return "", fmt.Errorf("download %s: content hash mismatch", ref.GetUri())
	}
	return local, os.Rename(tmp, local)
}

// ProbeTimeout bounds how long a job binary may take to build its graph
// when the client probes it: a floe job builds it in well under a second, a
// program that is not one (sleep, a server) is stopped after this.
const ProbeTimeout = 10 * time.Second

// planTimeout bounds the plan role where a job is already known to be one
// (a session's ApplicationMaster planning a submitted binary).
const planTimeout = time.Minute

// Probe checks that bin is a floe job before anything runs it for real: it
// must be a Go program built with module floe, and in the plan role it must
// build a job graph with these arguments within ProbeTimeout.
func Probe(ctx context.Context, bin string, args []string, confJSON string) error {
	if err := checkBuiltWithFloe(bin); err != nil {
		return fmt.Errorf("job binary %s: %w", bin, err)
	}
	if _, err := plan(ctx, bin, args, confJSON, ProbeTimeout); err != nil {
		return fmt.Errorf("job binary %s: %w", bin, err)
	}
	return nil
}

// checkBuiltWithFloe reads bin's Go build information, without running it.
func checkBuiltWithFloe(bin string) error {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return errors.New("not a floe job (not a Go program)")
	}
	if info.Path == "floe" || strings.HasPrefix(info.Path, "floe/") || info.Main.Path == "floe" {
		return nil
	}
	for _, d := range info.Deps {
		if d.Path == "floe" {
			return nil
		}
	}
	return fmt.Errorf("not a floe job (a Go program of module %q, which does not use module floe)", info.Main.Path)
}

// Plan runs the job binary in the plan role and reads the graph it built.
func Plan(ctx context.Context, bin string, args []string, confJSON string) (*jobgraph.JobGraph, error) {
	return plan(ctx, bin, args, confJSON, planTimeout)
}

func plan(ctx context.Context, bin string, args []string, confJSON string, limit time.Duration) (*jobgraph.JobGraph, error) {
	f, err := os.CreateTemp("", "floe-plan-")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(pctx, bin, args...)
	cmd.Env = append(os.Environ(), role.EnvRole+"="+string(role.Plan), role.EnvPlanFile+"="+f.Name(),
		role.EnvConfig+"="+base64.StdEncoding.EncodeToString([]byte(confJSON)))
	out, err := cmd.CombinedOutput()
	if pctx.Err() != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("did not build a job graph within %s (is it a floe job?)", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("did not build a job graph (is it a floe job?): %v: %s", err, lastLine(out))
	}
	b, err := os.ReadFile(f.Name())
	if err != nil || len(b) == 0 {
		return nil, errors.New("wrote no job graph: not a floe job")
	}
	return jobgraph.UnmarshalPlan(b)
}

func lastLine(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if i := len(s) - 1; i >= 0 {
		for j := i; j >= 0; j-- {
			if s[j] == '\n' {
				return s[j+1:]
			}
		}
	}
	return s
}

// copyCtx copies until EOF or ctx ends.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func FileHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Upload puts this process's binary on HDFS once per content hash, under
// /user/<user>/.floe/binaries/<sha256>/, private to the user. A cached copy
// is reused only if its length is the local file's and its HDFS checksum
// (MD5-of-MD5-of-CRC32C, which the DataNodes compute from the CRCs they
// keep, without sending the data) is the one recorded when it was
// uploaded; otherwise (truncated, changed, or cached by an older floe
// without a record) it is uploaded again, under a temporary name then
// renamed.
func Upload(ctx context.Context, fs *hdfsutil.FS, user string, log zerolog.Logger) (*floepb.BinaryRef, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	lst, err := os.Stat(exe)
	if err != nil {
		return nil, err
	}
	sum, err := FileHash(exe)
	if err != nil {
		return nil, err
	}
	root := path.Join("/user", user, ".floe")
	p := path.Join(root, "binaries", sum, role.BinaryName)
	if why := cachedCopy(ctx, fs, p, lst.Size()); why == "" {
		log.Info().Str("path", p).Msg("reusing the uploaded job binary")
	} else {
		log.Info().Str("path", p).Str("reason", why).Msg("uploading the job binary")
		if _, err := fs.Upload(ctx, exe, p, hadooppb.LocalResourceVisibilityProto_APPLICATION); err != nil {
			return nil, fmt.Errorf("upload job binary: %w", err)
		}
		if err := recordChecksum(ctx, fs, p); err != nil {
			return nil, fmt.Errorf("upload job binary: %w", err)
		}
	}
	// Directories an older floe made world-readable become private too.
	if err := fs.Chmod(ctx, root, hdfsutil.PrivateDir); err != nil {
		return nil, fmt.Errorf("upload job binary: make %s private: %w", root, err)
	}
	st, err := fs.Stat(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("upload job binary: %w", err)
	}
	return &floepb.BinaryRef{Uri: fs.URI.String() + p, Sha256: sum, Size: st.Size}, nil
}

// checksumSuffix names the record of a cached binary's HDFS checksum.
const checksumSuffix = ".md5md5crc32c"

// cachedCopy returns why the cached binary at p cannot be reused, or "".
func cachedCopy(ctx context.Context, fs *hdfsutil.FS, p string, size int64) string {
	st, err := fs.Stat(ctx, p)
	if err != nil {
		return "not cached"
	}
	if st.Size != size {
		return fmt.Sprintf("the cached copy has %d bytes, the binary %d", st.Size, size)
	}
	want, err := readAll(ctx, fs, p+checksumSuffix)
	if err != nil {
		return "the cached copy has no recorded checksum"
	}
	got, err := fs.Checksum(ctx, p)
	if err != nil {
		return fmt.Sprintf("checksum of the cached copy: %v", err)
	}
	if !bytes.Equal(got, want) {
		return "the cached copy's checksum differs from the one recorded at upload"
	}
	return ""
}

func readAll(ctx context.Context, fs *hdfsutil.FS, p string) ([]byte, error) {
	r, err := fs.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// recordChecksum writes p's HDFS checksum beside it (a temporary name, then
// a rename).
func recordChecksum(ctx context.Context, fs *hdfsutil.FS, p string) error {
	sum, err := fs.Checksum(ctx, p)
	if err != nil {
		return fmt.Errorf("checksum of %s: %w", p, err)
	}
	dst := p + checksumSuffix
	tmp := dst + "._COPYING_." + strconv.FormatInt(time.Now().UnixNano(), 36)
	w, err := fs.Create(ctx, tmp)
	if err != nil {
		return fmt.Errorf("record checksum of %s: %w", p, err)
	}
	_, err = w.Write(sum)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Chmod(ctx, tmp, hdfsutil.PrivateFile)
	}
	if err == nil {
		err = fs.Rename(ctx, tmp, dst)
	}
	if err != nil {
		_ = fs.RemoveAll(context.WithoutCancel(ctx), tmp)
		return fmt.Errorf("record checksum of %s: %w", p, err)
	}
	return nil
}

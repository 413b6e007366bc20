// Package jobbin handles job binaries: their content hash, the per-user
// cache of uploaded binaries on HDFS, fetching one into a local directory,
// and asking a binary for its job graph (the plan role) without running it.
// The client uploads; a session's ApplicationMaster and supervisors fetch.
package jobbin

import (
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
	tmp := local + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := copyCtx(ctx, out, in); err != nil {
		out.Close()
		return "", fmt.Errorf("download %s: %w", ref.GetUri(), err)
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

// Upload puts this process's binary on HDFS once per content hash.
func Upload(ctx context.Context, fs *hdfsutil.FS, user string, log zerolog.Logger) (*floepb.BinaryRef, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	sum, err := FileHash(exe)
	if err != nil {
		return nil, err
	}
	p := path.Join("/user", user, ".floe", "binaries", sum, role.BinaryName)
	st, err := fs.Stat(ctx, p)
	if err != nil || st.Size == 0 {
		if _, err := fs.Upload(ctx, exe, p, hadooppb.LocalResourceVisibilityProto_APPLICATION); err != nil {
			return nil, fmt.Errorf("upload job binary: %w", err)
		}
		st, err = fs.Stat(ctx, p)
		if err != nil {
			return nil, err
		}
	} else {
		log.Info().Str("path", p).Msg("reusing the uploaded job binary")
	}
	return &floepb.BinaryRef{Uri: fs.URI.String() + p, Sha256: sum, Size: st.Size}, nil
}

package submit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"floe/appmaster"
	"floe/checkpoint"
	"floe/internal/fsys"
	"floe/internal/jobgraph"
)

// checkTimeout bounds the client's look at a savepoint and the checkpoint
// directory before submission.
const checkTimeout = time.Minute

// checkStorage checks, in the client before anything is submitted (to YARN
// too: the same paths are read through HDFS from here), what would fail the
// job in the JobManager and then fail again after every restart: the
// savepoint it starts from (-s) must exist, read and fit the job's operators
// and max parallelism, and the checkpoint directory must be writable. Its
// errors wrap appmaster.ErrNotRecoverable (exit 2), but for a filesystem
// that cannot be reached.
func checkStorage(ctx context.Context, g *jobgraph.JobGraph) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := appmaster.CheckSavepoint(ctx, g); err != nil {
		return err
	}
	cfg, err := checkpoint.ParseConfig(g.Config)
	if err != nil {
		return err
	}
	if cfg.Dir == "" {
		return nil
	}
	fsy, p, err := fsys.Resolve(cfg.Dir)
	if err == nil {
		err = fsys.ProbeWrite(ctx, fsy, p)
	}
	if err != nil {
		err = fmt.Errorf("checkpoint directory %s (%s) is not writable: %w", cfg.Dir, checkpoint.KeyDir, err)
		if !unreachable(err) {
			err = appmaster.NotRecoverable(err)
		}
		return err
	}
	return nil
}

// unreachable tells a filesystem that does not answer from one that refuses.
func unreachable(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded)
}

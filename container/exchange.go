package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"floe/config"
	"floe/container/network"
	"floe/internal/rpc/floepb"
	"floe/internal/spill"
)

// exchangeDir is where the files of blocking partition key go: under this
// TaskManager's own directory in one of the local directories (io.tmp.dirs,
// else YARN's LOCAL_DIRS, else the temporary directory), spread over them by
// producer. The TaskManager's directory is made at its first blocking
// partition and removed when Run returns.
func (tm *TaskManager) exchangeDir(key network.PartitionKey) string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.exchangeRoots == nil {
		var c config.Config
		if tm.opts.Graph != nil {
			c = tm.opts.Graph.Config
		}
		for _, d := range spill.TmpDirs(c) {
			if err := os.MkdirAll(d, 0o700); err != nil {
				tm.log.Warn().Err(err).Str("dir", d).Msg("cannot use this local directory for batch exchanges")
				continue
			}
			root, err := os.MkdirTemp(d, "floe-exchange-")
			if err != nil {
				tm.log.Warn().Err(err).Str("dir", d).Msg("cannot use this local directory for batch exchanges")
				continue
			}
			tm.exchangeRoots = append(tm.exchangeRoots, root)
		}
		if len(tm.exchangeRoots) == 0 { // NewBlockingPartition then names the failure
			tm.exchangeRoots = []string{filepath.Join(os.TempDir(), "floe-exchange-unusable")}
		}
	}
	h := 0
	for _, c := range key.String() {
		h = h*31 + int(c)
	}
	root := tm.exchangeRoots[(h%len(tm.exchangeRoots)+len(tm.exchangeRoots))%len(tm.exchangeRoots)]
	return filepath.Join(root, filepath.FromSlash(key.String()))
}

// removeExchangeDirs removes what blocking partitions left (Run's end).
func (tm *TaskManager) removeExchangeDirs() {
	tm.mu.Lock()
	roots := tm.exchangeRoots
	tm.exchangeRoots = nil
	tm.mu.Unlock()
	for _, r := range roots {
		if err := os.RemoveAll(r); err != nil {
			tm.log.Warn().Err(err).Str("dir", r).Msg("cannot remove the batch exchange files")
		}
	}
}

func (s tmService) ReleaseJob(ctx context.Context, req *floepb.ReleaseJobRequest) (*floepb.Ack, error) {
	if err := s.tm.fenced(ctx); err != nil {
		return nil, err
	}
	err := fmt.Errorf("%w: job %s ended", network.ErrPartitionReleased, req.GetJobId())
	s.tm.partitions.ReleaseJob(req.GetJobId(), err)
	s.tm.partitions.ReleaseJobFiles(req.GetJobId(), err)
	return &floepb.Ack{}, nil
}

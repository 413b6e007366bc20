package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"floe/datastream"
	"floe/internal/jobs/tpch"
)

var tpchJob = Job{
	Name:  "tpch",
	Usage: tpch.Usage,
	Run: func(ctx context.Context, env *datastream.Environment, args []string, stdout io.Writer) error {
		err := tpch.Run(ctx, env, args, stdout)
		if errors.Is(err, tpch.ErrUsage) {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		return err
	},
}

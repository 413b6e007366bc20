package jobs

import (
	"floe/config"
	"floe/internal/output"
)

// prepareOutput is output.Prepare: see there.
func prepareOutput(conf config.Config, dir string, overwrite bool) (done func(succeeded bool), err error) {
	return output.Prepare(conf, dir, overwrite)
}

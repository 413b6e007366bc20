package submit

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"floe/internal/hadoop/yarn"
	"floe/internal/hdfsutil"
)

// What a user's applications leave behind: a staging directory on HDFS
// (/user/<user>/.floe/<application-id>/, removed by the ApplicationMaster
// when it ends normally) and the record of the application's secret in
// sessionDir(). The attached client removes both when its application
// ends; sweep removes those of every application of the user that has
// ended, for the AMs that died or never started and for detached runs.

// sweepTimeout bounds one sweep, so that it never holds up a command.
const sweepTimeout = 10 * time.Second

// forget removes what application app left behind.
func forget(ctx context.Context, fs *hdfsutil.FS, user, app string, log zerolog.Logger) {
	dir := path.Join("/user", user, ".floe", app)
	if err := fs.RemoveAll(ctx, dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn().Err(err).Str("dir", dir).Msg("cannot remove the staging directory")
	}
	removeRecord(app, log)
}

// removeRecord removes the local record of an application's secret.
func removeRecord(app string, log zerolog.Logger) {
	p := filepath.Join(sessionDir(), app+".json")
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn().Err(err).Str("file", p).Msg("cannot remove the application's record")
	}
}

// leftovers lists the applications with a staging directory or a record.
func leftovers(ctx context.Context, fs *hdfsutil.FS, user string) []string {
	seen := map[string]bool{}
	var apps []string
	add := func(name string) {
		if _, err := yarn.ParseApplicationID(name); err == nil && !seen[name] {
			seen[name] = true
			apps = append(apps, name)
		}
	}
	names, _ := fs.Names(ctx, path.Join("/user", user, ".floe"))
	for _, n := range names {
		add(n)
	}
	ents, _ := os.ReadDir(sessionDir())
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			add(n)
		}
	}
	return apps
}

// sweep forgets the user's applications that have ended, asking the
// ResourceManager for their state (one it does not know has ended too). It
// skips except: the application being submitted.
func sweep(ctx context.Context, rm *yarn.Client, fs *hdfsutil.FS, user, except string, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	for _, app := range leftovers(ctx, fs, user) {
		if app == except || ctx.Err() != nil {
			continue
		}
		id, _ := yarn.ParseApplicationID(app)
		rep, err := rm.Report(ctx, id)
		switch {
		case errors.Is(err, yarn.ErrUnknownApplication): // the RM forgot it: it ended long ago
		case err != nil:
			log.Debug().Err(err).Str("application", app).Msg("cleanup: no report")
			continue
		case !yarn.Terminal(rep.GetYarnApplicationState()):
			continue
		}
		log.Info().Str("application", app).Msg("removing the staging directory and record of an ended application")
		forget(ctx, fs, user, app, log)
	}
}

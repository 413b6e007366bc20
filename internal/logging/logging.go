// Package logging sets up zerolog the way floe's processes log: readable
// console lines on a terminal, JSON lines otherwise (in YARN containers, under
// schedulers), to standard error.
package logging

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// EnvLevel names the environment variable with the log level (debug, info, warn, error).
const EnvLevel = "FLOE_LOG_LEVEL"

// JSON lines carry milliseconds ("2006-01-02T15:04:05.000Z07:00"): the
// steps of an ApplicationMaster failover are timed from its log.
func init() { zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00" }

// New returns a logger writing to w: console format if w is a terminal.
func New(w io.Writer, level zerolog.Level) zerolog.Logger {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: f, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// Default returns a logger to standard error at the level from FLOE_LOG_LEVEL
// (default: warn, so a job's own output stays readable).
func Default() zerolog.Logger {
	return New(os.Stderr, Level(os.Getenv(EnvLevel), zerolog.WarnLevel))
}

// Level parses s, returning def when s is empty or unknown.
func Level(s string, def zerolog.Level) zerolog.Level {
	if s == "" {
		return def
	}
	l, err := zerolog.ParseLevel(s)
	if err != nil {
		return def
	}
	return l
}

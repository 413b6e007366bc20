package config

import (
	"os"
	"path/filepath"
	"strings"
)

// LocalDirs returns the local directories for a TaskManager's files (spill
// files, BATCH exchange files, LSM state stores): the comma-separated
// TmpDirs (io.tmp.dirs), else the YARN container's LOCAL_DIRS, else the
// operating system's temporary directory. It never returns an empty list.
func (c Config) LocalDirs() []string {
	if d := splitDirs(c.String(TmpDirs, "")); len(d) > 0 {
		return d
	}
	if d := splitDirs(os.Getenv("LOCAL_DIRS")); len(d) > 0 {
		return d
	}
	return []string{os.TempDir()}
}

func splitDirs(v string) []string {
	var out []string
	for _, d := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == filepath.ListSeparator }) {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

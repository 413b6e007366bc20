package appmaster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MinJobIDPrefix is the shortest prefix that may stand for a job id.
const MinJobIDPrefix = 8

var (
	// ErrNoSuchJob is returned for unknown job ids.
	ErrNoSuchJob = errors.New("no such job")
	// ErrAmbiguousJobID is returned for a prefix that more than one job id starts with.
	ErrAmbiguousJobID = errors.New("ambiguous job id prefix")
	// ErrShortJobID is returned for a prefix shorter than MinJobIDPrefix.
	ErrShortJobID = errors.New("job id prefix too short")
)

// NewJobID returns a fresh job id (32 hex digits, as Flink's).
func NewJobID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ResolveJobID returns the one id of ids that id names: id itself, or a
// prefix of at least MinJobIDPrefix characters that only one of ids starts
// with. Every place that takes a job id from a user resolves it here, so that
// a prefix means the same job everywhere and an ambiguous one is refused
// rather than settled by the order of a map.
func ResolveJobID(id string, ids []string) (string, error) {
	if slices.Contains(ids, id) {
		return id, nil
	}
	var matches []string
	if id != "" {
		for _, c := range ids {
			if strings.HasPrefix(c, id) {
				matches = append(matches, c)
			}
		}
	}
	switch {
	case len(matches) == 0:
		return "", fmt.Errorf("%w: %q", ErrNoSuchJob, id)
	case len(id) < MinJobIDPrefix:
		return "", fmt.Errorf("%w: %q has %d characters; give the whole id or at least %d", ErrShortJobID, id, len(id), MinJobIDPrefix)
	case len(matches) > 1:
		slices.Sort(matches)
		return "", fmt.Errorf("%w: %q matches %d jobs: %s", ErrAmbiguousJobID, id, len(matches), strings.Join(matches, ", "))
	}
	return matches[0], nil
}

package appmaster

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveJobID(t *testing.T) {
	ids := []string{
		"0123456789abcdef0123456789abcdef",
		"0123456789abffff0123456789abcdef",
		"fedcba9876543210fedcba9876543210",
		"short",
	}
	for _, tc := range []struct {
		name, id string
		want     string
		err      error
		mention  []string // in the error's text
	}{
		{name: "exact id", id: ids[0], want: ids[0]},
		{name: "exact id shorter than a prefix may be", id: "short", want: "short"},
		{name: "unique prefix", id: "fedcba98", want: ids[2]},
		{name: "longer unique prefix", id: "0123456789abf", want: ids[1]},
		{name: "ambiguous prefix", id: "0123456789ab", err: ErrAmbiguousJobID, mention: []string{ids[0], ids[1]}},
		{name: "too short a prefix", id: "fedc", err: ErrShortJobID, mention: []string{`"fedc"`, "8"}},
		{name: "too short and ambiguous", id: "0123", err: ErrShortJobID},
		{name: "unknown", id: "aaaaaaaaaaaa", err: ErrNoSuchJob, mention: []string{"aaaaaaaaaaaa"}},
		{name: "unknown short", id: "aa", err: ErrNoSuchJob},
		{name: "empty", id: "", err: ErrNoSuchJob},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveJobID(tc.id, ids)
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Fatalf("ResolveJobID(%q) = %q, %v; want %q", tc.id, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) || got != "" {
				t.Fatalf("ResolveJobID(%q) = %q, %v; want error %v", tc.id, got, err, tc.err)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %q", err, m)
				}
			}
		})
	}
}

// The candidates of an ambiguous prefix are named in one order, whatever the
// order of the ids (which come from maps).
func TestResolveJobIDAmbiguousIsStable(t *testing.T) {
	a, b := "abcdefgh00000001", "abcdefgh00000002"
	_, e1 := ResolveJobID("abcdefgh", []string{a, b})
	_, e2 := ResolveJobID("abcdefgh", []string{b, a})
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Fatalf("errors differ with the order of the ids: %v / %v", e1, e2)
	}
}

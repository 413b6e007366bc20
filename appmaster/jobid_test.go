package appmaster

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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

// The REST interface resolves ids the same way: a unique prefix finds the
// job, an ambiguous one is a bad request naming the candidates.
func TestRESTResolvesIDs(t *testing.T) {
	a, b := "abcdef0100000000", "abcdef0200000000"
	srv := httptest.NewServer(idleJobManager(a, b).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		id, want string
		code     int
	}{
		{id: "abcdef02", want: b, code: http.StatusOK},
		{id: "abcdef0", want: "too short", code: http.StatusBadRequest},
		{id: "abcdef00", want: "abcdef00", code: http.StatusNotFound},
	} {
		resp, err := srv.Client().Get(srv.URL + "/jobs/" + tc.id)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			ID     string   `json:"jid"`
			Errors []string `json:"errors"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if got := body.ID + strings.Join(body.Errors, ";"); resp.StatusCode != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("/jobs/%s: %d %q; want %d with %q", tc.id, resp.StatusCode, got, tc.code, tc.want)
		}
	}
	srv2 := httptest.NewServer(idleJobManager(a, "abcdef01ffffffff").Handler())
	defer srv2.Close()
	resp, err := srv2.Client().Get(srv2.URL + "/jobs/abcdef01")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Errors []string }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if msg := strings.Join(body.Errors, ";"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, a) || !strings.Contains(msg, "abcdef01ffffffff") {
		t.Fatalf("ambiguous prefix: %d %q", resp.StatusCode, msg)
	}
}

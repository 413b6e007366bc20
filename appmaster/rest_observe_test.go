package appmaster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The REST interface changes a job only with the application's secret: a
// cancel without it (or with a wrong one) is refused with 403 and the job
// goes on; with it, the job is CANCELED.
func TestRESTCancelNeedsTheSecret(t *testing.T) {
	jm, err := New(Options{Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer jm.lis.Close()
	h, err := jm.Submit(testGraph(), SubmitOptions{}) // no TaskManager: it waits for slots
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(jm.Handler())
	defer srv.Close()
	post := func(path, secret string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		if secret != "" {
			req.Header.Set(SecretHeader, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, secret := range []string{"", "wrong"} {
		if code := post("/jobs/"+h.ID()+"/cancel", secret); code != http.StatusForbidden {
			t.Errorf("cancel with secret %q: %d, want 403", secret, code)
		}
		if code := post("/jobs/"+h.ID()+"/savepoints", secret); code != http.StatusForbidden {
			t.Errorf("savepoint with secret %q: %d, want 403", secret, code)
		}
	}
	if s := h.Status().State; s.Terminal() {
		t.Fatalf("the job is %s after refused cancels", s)
	}
	if code := post("/jobs/"+h.ID()+"/cancel", "s3cret"); code != http.StatusAccepted {
		t.Fatalf("cancel with the secret: %d, want 202", code)
	}
	select {
	case <-h.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not end after the cancel")
	}
	resp, err := http.Get(srv.URL + "/jobs/" + h.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d JobDetails
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.State != Canceled {
		t.Errorf("job is %s, want CANCELED", d.State)
	}
	// The read-only paths answer without the secret.
	for _, p := range []string{"/jobs/" + h.ID() + "/checkpoints", "/jobs/" + h.ID() + "/exceptions", "/jobs/" + h.ID() + "/vertices/0",
		"/jobs/" + h.ID() + "/config", "/taskmanagers", "/jobmanager/config", "/jobmanager/log", "/metrics", "/metrics/targets"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

func TestBackPressureLevels(t *testing.T) {
	for ms, want := range map[float64]string{0: "OK", 99: "OK", 100: "LOW", 500: "LOW", 501: "HIGH", 1000: "HIGH"} {
		if got := backPressureLevel(ms); got != want {
			t.Errorf("backPressureLevel(%v) = %s, want %s", ms, got, want)
		}
	}
}

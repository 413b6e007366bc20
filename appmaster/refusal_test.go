package appmaster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/rpc/floepb"
)

// A final failure (a refused TaskManager) skips every restart.
func TestFinalFailureSkipsRestarts(t *testing.T) {
	e := newExecution("j", testGraph(), now)
	e.restart = RestartStrategy{Attempts: 3}
	e.failFinal("graph differs", now)
	if e.status != Failed || e.failure != "graph differs" || e.readyToRestart() {
		t.Fatalf("status %s cause %q", e.status, e.failure)
	}
}

// A TaskManager whose graph differs is refused, and the job it was for fails
// at once with the difference, without restarts and without waiting for slots.
func TestRefusedTaskManagerFailsTheJob(t *testing.T) {
	jm, err := New(Options{Log: zerolog.Nop(), SlotTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer jm.lis.Close()
	g := testGraph()
	h, err := jm.Submit(g, SubmitOptions{Restart: RestartStrategy{Attempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	other := testGraph()
	other.Vertices[1].Name = "sink 1712345678"
	_, err = jmService{jm: jm}.RegisterTaskManager(context.Background(), &floepb.RegisterTaskManagerRequest{
		ResourceId: "container_x", Address: "127.0.0.1:1", Slots: 4,
		GraphFingerprint: other.Fingerprint(), GraphDescription: other.Describe()})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("registration: %v, want FailedPrecondition", err)
	}
	select {
	case <-h.Done():
	case <-time.After(time.Second):
		t.Fatal("the job did not end at once")
	}
	r, _ := h.Wait(context.Background())
	if r.Status != Failed || !strings.Contains(r.Failure, ErrGraphMismatch.Error()) || !strings.Contains(r.Failure, "sink 1712345678") {
		t.Fatalf("result %s %q", r.Status, r.Failure)
	}
	if !errors.Is(FailureCause(r.Failure), ErrGraphMismatch) {
		t.Fatalf("FailureCause(%q) does not match ErrGraphMismatch", r.Failure)
	}
}

// A job that cannot get its slots fails after the slot timeout, once: a
// restart would only wait as long again.
func TestSlotTimeoutIsFinal(t *testing.T) {
	jm, err := New(Options{Log: zerolog.Nop(), SlotTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer jm.lis.Close()
	h, err := jm.Submit(testGraph(), SubmitOptions{Restart: RestartStrategy{Attempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	jm.tick(time.Now().Add(2 * time.Second))
	select {
	case <-h.Done():
	default:
		t.Fatalf("job is %s after its slot timeout", h.Status().State)
	}
	r, _ := h.Wait(context.Background())
	if r.Status != Failed || !strings.Contains(r.Failure, ErrNotEnoughSlots.Error()) || strings.Contains(r.Failure, "restart") {
		t.Fatalf("result %s %q", r.Status, r.Failure)
	}
}

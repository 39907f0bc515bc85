package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// stalledSource is a remote whose fetch hangs until its context is done.
type stalledSource struct{ fetching chan struct{} }

func (s *stalledSource) Fetch(ctx context.Context) error {
	close(s.fetching)
	<-ctx.Done()
	return ctx.Err()
}

func (s *stalledSource) Resolve(string) (*gitsrc.Commit, error) {
	return nil, errors.New("no commits")
}

// TestFetchOutsideTheLock: while a pass waits for a stalled remote, the
// reconciler's lock is free: ApplyPlan (POST /apply), Running and
// InventoryJSON answer at once.
func TestFetchOutsideTheLock(t *testing.T) {
	src := &stalledSource{fetching: make(chan struct{})}
	rec := New(Config{Source: src, StateDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := rec.ReconcileOnce(ctx, Options{})
		done <- err
	}()
	<-src.fetching
	answered := make(chan error, 1)
	go func() {
		rec.Running()
		_, err := rec.ApplyPlan(context.Background(), &Plan{Commit: "0123456789abcdef0123456789abcdef01234567", InventoryDigest: "sha256:other"})
		answered <- err
	}()
	select {
	case err := <-answered:
		var se *StaleError
		if !errors.As(err, &se) {
			t.Errorf("ApplyPlan during a stalled fetch: %v, want a stale plan", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ApplyPlan waited for a stalled fetch")
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("the pass succeeded without commits")
	}
}

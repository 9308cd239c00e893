package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// One hold of a repository at a time, across stores on one database: a
// second waits until the first is released, and its wait ends with its
// context.
func TestHoldRepositoryExcludesOtherHolders(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		a, b := open(t, url), open(t, url)
		_, release, err := a.HoldRepository(ctx, "acme/models")
		if err != nil {
			t.Fatal(err)
		}
		// Another repository is not held by it.
		_, releaseOther, err := b.HoldRepository(ctx, "acme/other")
		if err != nil {
			t.Fatal(err)
		}
		releaseOther()

		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if _, _, err := b.HoldRepository(short, "acme/models"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a second hold while the first is held: %v, want the wait to end with its context", err)
		}
		// Two holds within one store exclude each other too.
		if _, _, err := a.HoldRepository(short, "acme/models"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a second hold in the same store: %v, want it to wait", err)
		}

		got := make(chan error, 1)
		go func() {
			_, release, err := b.HoldRepository(ctx, "acme/models")
			if err == nil {
				release()
			}
			got <- err
		}()
		release()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a waiting hold did not get the repository once it was released")
		}
	})
}

// A hold whose lease another holder took over (as after an expiry the
// holder did not notice) cancels its context with ErrHoldLost; one that is
// renewed keeps it.
func TestHoldRepositoryLostCancelsItsContext(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		s.holdTTL = 600 * time.Millisecond
		kept, releaseKept, err := s.HoldRepository(ctx, "acme/kept")
		if err != nil {
			t.Fatal(err)
		}
		defer releaseKept()
		held, release, err := s.HoldRepository(ctx, "acme/models")
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := s.db.Exec(ctx, `UPDATE hookd_lease SET holder = 'elsewhere' WHERE name = $1`, repositoryLease("acme/models")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-held.Done():
			if !errors.Is(context.Cause(held), ErrHoldLost) {
				t.Errorf("cause %v, want ErrHoldLost", context.Cause(held))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a hold taken over was not cancelled")
		}
		if kept.Err() != nil {
			t.Errorf("a renewed hold was cancelled: %v", context.Cause(kept))
		}
		// Its release leaves the new holder's lease alone.
		release()
		var holder string
		if err := s.db.QueryRow(ctx, `SELECT holder FROM hookd_lease WHERE name = $1`, repositoryLease("acme/models")).Scan(&holder); err != nil || holder != "elsewhere" {
			t.Errorf("lease after release: %q, %v", holder, err)
		}
	})
}

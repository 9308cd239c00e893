package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// A failed attempt's delivery is told when the next one is, and River is
// told the same time: what the API shows is when it happens.
func TestDeliveryNextAttemptIsWhenRiverRetries(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		if _, err := s.Accept(ctx, delivery("unreachable")); err != nil {
			t.Fatal(err)
		}
		w := &deliveriesWorker{s: s, process: func(context.Context, Delivery) (Outcome, error) {
			return Outcome{}, errors.New("github is unreachable")
		}}
		job := &river.Job[processDeliveriesArgs]{JobRow: &rivertype.JobRow{ID: 7, Attempt: 3, MaxAttempts: 12},
			Args: processDeliveriesArgs{DeliveryIDs: []string{"unreachable"}}}
		if err := w.Work(ctx, job); err == nil || !strings.Contains(err.Error(), "github is unreachable") {
			t.Fatalf("Work: %v", err)
		}
		d, err := s.Delivery(ctx, "unreachable")
		if err != nil {
			t.Fatal(err)
		}
		next := w.NextRetry(job)
		// The third retry of River's schedule: 3⁴ = 81 s, ±10%.
		if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(next.Truncate(time.Microsecond)) ||
			time.Until(next) < 72*time.Second || time.Until(next) > 90*time.Second {
			t.Errorf("delivery's next attempt %v, River's %v (in %v)", d.NextAttemptAt, next, time.Until(next))
		}
		if d.Attempts != 3 || d.LastError != "github is unreachable" || d.Status != DeliveryQueued {
			t.Errorf("waiting delivery: %+v", d)
		}
		// Asked again (a job rescued from a stopped process), River gets a
		// time of its own.
		if again := w.NextRetry(job); again.Equal(next) {
			t.Errorf("NextRetry gave the recorded time twice")
		}
	})
}

// The last attempt of a job that hookd's stopping cancels keeps the job
// for a later start, instead of River discarding it with its delivery
// still queued and nothing left to process it.
func TestCancelledLastAttemptLeavesTheDeliveryToTheNextStart(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		if _, err := s.Accept(ctx, delivery("slow")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(ctx, `UPDATE river_job SET max_attempts = 1 WHERE kind = 'process_deliveries'`); err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		var once atomic.Bool
		w := Workers{
			ProcessDelivery: func(ctx context.Context, d Delivery) (Outcome, error) {
				if once.CompareAndSwap(false, true) {
					close(started)
				}
				<-ctx.Done()
				return Outcome{}, ctx.Err()
			},
			ReconcileRepository: func(context.Context, string) error { return nil },
			RunAction:           func(context.Context, int64) error { return nil },
		}
		if err := s.StartWorkers(ctx, w); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		case <-time.After(time.Minute):
			t.Fatal("the delivery's job did not start")
		}
		stop, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_ = s.StopWorkers(stop) // its deadline passes: the running job is cancelled

		if d, _ := s.Delivery(ctx, "slow"); d.Status != DeliveryQueued || d.Attempts != 0 {
			t.Errorf("an interrupted delivery: %+v, want queued with no attempt spent", d)
		}
		w.ProcessDelivery = func(context.Context, Delivery) (Outcome, error) { return Outcome{}, nil }
		if err := s.StartWorkers(ctx, w); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the delivery processed after the restart", func() bool {
			d, err := s.Delivery(ctx, "slow")
			return err == nil && d.Status == DeliveryProcessed
		})
	})
}

// A last attempt that runs out of time fails its delivery, saying so.
func TestLastAttemptOutOfTimeFailsTheDelivery(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		if _, err := s.Accept(ctx, delivery("stuck")); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := s.processDeliveries(short, []string{"stuck"}, &deliveryAttempt{number: 12, last: true},
			func(ctx context.Context, d Delivery) (Outcome, error) {
				<-ctx.Done()
				return Outcome{}, ctx.Err()
			})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Delivery(ctx, "stuck")
		if err != nil {
			t.Fatal(err)
		}
		if want := "not done within " + jobTimeout.String() + ": context deadline exceeded"; d.Status != DeliveryFailed || d.Reason != want || d.Attempts != 12 {
			t.Errorf("delivery %+v, want failed with %q", d, want)
		}
	})
}

// rateLimited is an error that says when trying again can succeed, as
// source/github's RateLimitError does.
type rateLimited struct{ until time.Time }

func (e rateLimited) Error() string {
	return "github: 429 secondary rate limit (rate limited until later)"
}
func (e rateLimited) RetryAt() time.Time { return e.until }

// A delivery held up by a rate limit waits until the limit lifts, shown
// on the delivery, and the job is put off until then without spending an
// attempt, its last one included; beside a delivery that failed outright,
// the job's retry comes no earlier than the limit lifts.
func TestRateLimitedDeliveryWaitsUntilTheLimitLifts(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		for _, id := range []string{"limited", "broken"} {
			if _, err := s.Accept(ctx, delivery(id)); err != nil {
				t.Fatal(err)
			}
		}
		until := time.Now().Add(10 * time.Minute)
		process := func(_ context.Context, d Delivery) (Outcome, error) {
			if d.ID == "broken" {
				return Outcome{}, errors.New("github is unreachable")
			}
			return Outcome{}, fmt.Errorf("list tags: %w", rateLimited{until})
		}
		w := &deliveriesWorker{s: s, process: process}
		job := func(attempt int, ids ...string) *river.Job[processDeliveriesArgs] {
			return &river.Job[processDeliveriesArgs]{JobRow: &rivertype.JobRow{ID: int64(attempt), Attempt: attempt, MaxAttempts: 12},
				Args: processDeliveriesArgs{DeliveryIDs: ids}}
		}
		waitsUntil := func(d Delivery, attempt int) {
			t.Helper()
			if d.Status != DeliveryQueued || d.Attempts != attempt || !strings.Contains(d.LastError, "rate limit") ||
				d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(until.Truncate(time.Microsecond)) {
				t.Errorf("delivery %+v, want it queued after attempt %d, waiting until %v", d, attempt, until)
			}
		}

		// Alone, on its first attempt and on its last: snoozed until then.
		for _, attempt := range []int{1, 12} {
			var snooze *river.JobSnoozeError
			if err := w.Work(ctx, job(attempt, "limited")); !errors.As(err, &snooze) ||
				snooze.Duration < 9*time.Minute || snooze.Duration > 10*time.Minute {
				t.Fatalf("Work on attempt %d: %v, want the job snoozed until the limit lifts", attempt, err)
			}
			d, err := s.Delivery(ctx, "limited")
			if err != nil {
				t.Fatal(err)
			}
			waitsUntil(d, attempt)
		}

		// Beside a failure, the job is retried, no earlier than the limit lifts.
		j := job(2, "limited", "broken")
		if err := w.Work(ctx, j); err == nil || !strings.Contains(err.Error(), "github is unreachable") || errors.As(err, new(*river.JobSnoozeError)) {
			t.Fatalf("Work: %v, want the broken delivery's error", err)
		}
		if next := w.NextRetry(j); !next.Equal(until) {
			t.Errorf("River retries at %v, want when the limit lifts, %v", next, until)
		}
		d, err := s.Delivery(ctx, "limited")
		if err != nil {
			t.Fatal(err)
		}
		waitsUntil(d, 2)
		if b, _ := s.Delivery(ctx, "broken"); b.Status != DeliveryQueued || b.LastError != "github is unreachable" || !b.NextAttemptAt.Equal(d.NextAttemptAt.UTC()) {
			t.Errorf("broken delivery %+v, want it queued for the job's retry at %v", b, d.NextAttemptAt)
		}
	})
}

// A listing that meets a rate limit is put off until it lifts, spending
// no attempt.
func TestRateLimitedListingIsPutOff(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"))
	until := time.Now().Add(time.Hour)
	err := s.listAlone(ctx, "acme/models", 1, func(context.Context, string) error {
		return fmt.Errorf("list tags: %w", rateLimited{until})
	})
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration < 59*time.Minute || snooze.Duration > time.Hour {
		t.Fatalf("listAlone: %v, want the job snoozed until the limit lifts", err)
	}
}

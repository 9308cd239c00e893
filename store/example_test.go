package store_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hookd-dev/hookd/store"
)

// A delivery's way through the store: accepted, processed into an event,
// and the event's deploy run executed once.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hookd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(ctx, filepath.Join(dir, "hookd.db"), store.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The webhook handler: answer 2xx only once Accept has returned nil.
	push := store.Delivery{ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Source: store.SourceGitHub,
		Event: "push", Repository: "acme/models", Body: []byte(`{"ref":"refs/tags/churn#prod#1"}`)}
	for range 2 { // GitHub redelivers
		res, err := s.Accept(ctx, push)
		if err != nil {
			log.Fatal(err) // answer 503
		}
		fmt.Println("duplicate:", res.Duplicate)
	}

	// The worker side.
	deployed := make(chan store.Run, 1)
	err = s.StartWorkers(ctx, store.Workers{
		ProcessDelivery: func(ctx context.Context, d store.Delivery) (store.Outcome, error) {
			e, _, err := s.RecordEvent(ctx, store.Event{Repository: d.Repository, Artifact: "churn",
				Type: store.EventAssignment, Version: "v1.2.0", Stage: "prod", TagName: "churn#prod#1",
				TagObjectSHA: "5e3c0a1", DeliveryID: d.ID,
				Tagger: store.Tagger{Name: "Ann", When: time.Date(2024, 5, 2, 9, 0, 0, 0, time.UTC)}})
			if err != nil {
				return store.Outcome{}, err
			}
			_, err = s.CreateRuns(ctx, e.ID, []string{"deploy"})
			return store.Outcome{}, err
		},
		ReconcileRepository: func(context.Context, string) error { return nil },
		RunAction: func(ctx context.Context, runID int64) error {
			run, err := s.StartRun(ctx, runID, time.Minute)
			if err != nil {
				return err
			}
			exit := 0
			if err := s.FinishRun(ctx, runID, store.RunSucceeded, store.AttemptResult{ExitCode: &exit, OutputTail: "deployed"}); err != nil {
				return err
			}
			deployed <- run
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	run := <-deployed
	fmt.Println("ran:", run.Action, run.Artifact, run.Stage, "attempt", run.Attempts)
	if err := s.StopWorkers(ctx); err != nil {
		log.Fatal(err)
	}

	d, err := s.Delivery(ctx, push.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("delivery:", d.Status)
	events, err := s.Events(ctx, store.EventFilter{Repository: "acme/models", Stage: "prod"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("events:", len(events), events[0].Type, events[0].Version)
	// Output:
	// duplicate: false
	// duplicate: true
	// ran: deploy churn prod attempt 1
	// delivery: processed
	// events: 1 assignment v1.2.0
}

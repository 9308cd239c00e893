package store

import (
	"sync"
	"testing"
	"time"
)

// GitHub's Redeliver sends a delivery again with its id: with ProcessAgain
// the stored delivery is queued for processing again (its payload back if
// it was pruned), and nothing new is stored. Without it a known id changes
// nothing.
func TestProcessAgain(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		d := delivery("d1")
		d.ReceivedAt = time.Now().Add(-48 * time.Hour)
		if _, err := s.Accept(ctx, d); err != nil {
			t.Fatal(err)
		}
		markFailed(t, s, "d1", "processed long ago")
		if n, err := s.PrunePayloads(ctx, time.Hour); err != nil || n != 1 {
			t.Fatalf("pruned %d, %v", n, err)
		}

		if res, err := s.Accept(ctx, delivery("d1")); err != nil || !res.Duplicate || res.Requeued {
			t.Fatalf("a known id: %+v, %v; want a duplicate, left alone", res, err)
		}
		if got, _ := s.Delivery(ctx, "d1"); got.Status != DeliveryFailed || processJobs(t, s)["d1"] != 1 {
			t.Fatalf("a plain duplicate changed the delivery: %+v, %d jobs", got, processJobs(t, s)["d1"])
		}

		again := delivery("d1")
		again.ProcessAgain = true
		// Two at once, as a group commit may take them.
		var wg sync.WaitGroup
		results := make([]AcceptResult, 2)
		for i := range results {
			wg.Go(func() {
				var err error
				if results[i], err = s.Accept(ctx, again); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, res := range results {
			if !res.Duplicate || !res.Requeued {
				t.Errorf("a redelivery: %+v; want a duplicate queued again", res)
			}
		}
		got, err := s.Delivery(ctx, "d1")
		if err != nil || got.Status != DeliveryQueued || got.Reason != "" || got.Pruned || string(got.Body) != string(again.Body) {
			t.Errorf("after the redelivery: %+v, %v; want it queued with its payload back", got, err)
		}
		if n := processJobs(t, s)["d1"]; n < 2 {
			t.Errorf("%d jobs process d1; want one more", n)
		}
		if ds, _ := s.Deliveries(ctx, DeliveryFilter{}); len(ds) != 1 {
			t.Errorf("%d deliveries stored, want 1", len(ds))
		}
	})
}

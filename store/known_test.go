package store

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// A new delivery announcing a tag the store holds at that object already
// is stored processed, saying so, with no job: processing would only list
// the repository to find what is stored. Anything else about it (another
// object, another tag, a deleted tag, a sync under way, GitHub's
// Redeliver of it) leaves it to processing, as before.
func TestAcceptSettlesADeliveryOfAKnownTag(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const (
			name   = "churn#prod#1"
			object = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
			other  = "ffeeddccbbaa99887766554433221100ffeeddcc"
		)
		if _, err := s.UpsertTag(ctx, Tag{Repository: "acme/models", Name: name, ObjectSHA: object, CommitSHA: other,
			Annotated: true, Tagger: Tagger{Name: "Ann", Email: "ann@example.com", When: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		announcing := func(id, name, object string) Delivery {
			d := delivery(id)
			d.ProcessAgain = true
			d.Announces = &AnnouncedTag{Name: name, Object: object}
			return d
		}
		accept := func(d Delivery) AcceptResult {
			t.Helper()
			res, err := s.Accept(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		settled := func(id string) {
			t.Helper()
			d, err := s.Delivery(ctx, id)
			if err != nil || d.Status != DeliveryProcessed || !strings.Contains(d.Reason, name+" is recorded at tag object 1a2b3c4 already") {
				t.Errorf("%s: %+v, %v; want it processed, saying the tag is known", id, d, err)
			}
			if n := processJobs(t, s)[id]; n != 0 {
				t.Errorf("%s has %d processing jobs; want none", id, n)
			}
		}
		queued := func(id string, res AcceptResult) {
			t.Helper()
			d, err := s.Delivery(ctx, id)
			if res.Known || err != nil || d.Status != DeliveryQueued || processJobs(t, s)[id] != 1 {
				t.Errorf("%s: %+v (%+v), %v, %d jobs; want it queued with one job", id, d, res, err, processJobs(t, s)[id])
			}
		}

		if res := accept(announcing("k1", name, object)); !res.Known || res.Duplicate {
			t.Errorf("a delivery of a known tag: %+v; want Known", res)
		}
		settled("k1")
		queued("k2", accept(announcing("k2", name, other)))
		queued("k3", accept(announcing("k3", "churn#prod#2", object)))
		queued("k4", accept(delivery("k4"))) // no tag announced

		// Many at once share a commit: all known, or mixed with one to queue.
		var wg sync.WaitGroup
		for i, id := range []string{"m1", "m2", "m3", "m4", "m5", "m6", "q1"} {
			wg.Go(func() {
				d := announcing(id, name, object)
				if i == 6 {
					d.Announces.Object = other
				}
				if _, err := s.Accept(ctx, d); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, id := range []string{"m1", "m2", "m3", "m4", "m5", "m6"} {
			settled(id)
		}
		queued("q1", AcceptResult{})

		// GitHub's Redeliver of a settled delivery is processed: someone
		// wants the repository looked at again.
		if res := accept(announcing("k1", name, object)); !res.Duplicate || !res.Requeued || res.Known {
			t.Errorf("a redelivery of a settled delivery: %+v; want it queued again", res)
		}
		queued("k1", AcceptResult{})

		// While a sync holds the repository, its listing may be older than
		// the push: the delivery waits for processing.
		_, release, err := s.HoldRepository(ctx, "acme/models")
		if err != nil {
			t.Fatal(err)
		}
		queued("h1", accept(announcing("h1", name, object)))
		release()
		if res := accept(announcing("h2", name, object)); !res.Known {
			t.Errorf("after the sync: %+v; want Known again", res)
		}

		if _, err := s.DeleteTag(ctx, "acme/models", name); err != nil {
			t.Fatal(err)
		}
		queued("d1", accept(announcing("d1", name, object)))
	})
}

package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// On SQLite, River polls for jobs once a second; a job committed by hookd
// wakes the workers instead, so deliveries accepted one after another are
// each processed without waiting for a poll.
func TestCommittedJobsWakeWorkers(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"))
	r := &recorder{s: s, processed: map[string]int{}}
	if err := s.StartWorkers(ctx, r.workers()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.StopWorkers(ctx) })
	// Waiting for polls, 40 deliveries take about 40 half-seconds.
	const n = 40
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("d-%d", i)
		if _, err := s.Accept(ctx, delivery(id)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, id+" processed", func() bool { return r.count(id) == 1 })
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("%d deliveries one after another took %v: the workers waited for polls", n, took)
	}
}

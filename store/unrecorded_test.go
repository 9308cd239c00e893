package store

import (
	"slices"
	"testing"
	"time"
)

// A job the database calls running is stranded only once this process has
// not been executing it for unrecordedAfter: not while it runs, not just
// after it ended (its completion may be on its way), not the moment it was
// fetched (it is about to start).
func TestStrandedJobsAreThoseEndedOrNeverStartedLongEnough(t *testing.T) {
	w := working{running: map[int64]bool{1: true}, ended: map[int64]time.Time{}, suspect: map[int64]time.Time{}}
	t0 := time.Now()
	w.ended[2] = t0.Add(-unrecordedAfter - time.Second) // ended long ago: its end never reached the database
	w.ended[3] = t0.Add(-time.Second)                   // ended a second ago
	w.ended[9] = t0.Add(-time.Hour)                     // ended and completed: forgotten
	if got := w.stranded([]int64{1, 2, 3, 4}, t0); !slices.Equal(got, []int64{2}) {
		t.Fatalf("stranded = %v, want [2]", got)
	}
	if _, ok := w.ended[9]; ok {
		t.Error("a job the database no longer calls running is still remembered")
	}
	// Job 4 (never started here) and job 3 are stranded once unrecordedAfter
	// has passed without them running here.
	later := t0.Add(unrecordedAfter)
	if got := w.stranded([]int64{1, 3, 4}, later); !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("stranded later = %v, want [3 4]", got)
	}
	// A suspect that starts running, or leaves the running state, is cleared.
	w.running[4] = true
	if got := w.stranded([]int64{4}, later.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("a job running here was called stranded: %v", got)
	}
	if len(w.suspect) != 0 {
		t.Errorf("suspects left: %v", w.suspect)
	}
}

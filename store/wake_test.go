package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
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

// RunConcurrency bounds how many runs this process executes at once; the
// rest wait their turn and all run.
func TestRunConcurrencyBoundsRunsAtOnce(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"))
	const runs, bound = 6, 2
	var (
		mu            sync.Mutex
		running, most int
		done          = map[int64]bool{}
		release       = make(chan struct{})
	)
	w := (&recorder{s: s, processed: map[string]int{}}).workers()
	w.RunConcurrency = bound
	w.RunAction = func(_ context.Context, id int64) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		done[id] = true
		mu.Unlock()
		return nil
	}
	if err := s.StartWorkers(ctx, w); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.StopWorkers(ctx) })
	for i := range runs {
		e := event(fmt.Sprint("obj", i), EventAssignment)
		e.Artifact = fmt.Sprint("model", i) // a lane each
		rec, _, err := s.RecordEvent(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRuns(ctx, rec.ID, []string{"deploy"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the first runs to start", func() bool { mu.Lock(); defer mu.Unlock(); return running >= bound })
	// A third would have started by now: its job was fetched with the others.
	time.Sleep(300 * time.Millisecond)
	close(release)
	waitFor(t, "every run", func() bool { mu.Lock(); defer mu.Unlock(); return len(done) == runs })
	if most != bound {
		t.Errorf("%d runs executed at once, want at most %d", most, bound)
	}
}

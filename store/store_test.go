package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/pgtest"
)

var pg *pgtest.Server

// quiet keeps River's routine start and stop lines out of test output.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func TestMain(m *testing.M) {
	if url := os.Getenv(childURLEnv); url != "" {
		acceptUntilKilled(url)
	}
	if url := os.Getenv(workerURLEnv); url != "" {
		workUntilKilled(url)
	}
	if path := os.Getenv(fullDiskEnv); path != "" {
		fillDisk(path)
	}
	os.Exit(pgtest.Main(m, &pg))
}

// databases is the table every test runs against: a fresh SQLite file and a
// fresh PostgreSQL database.
var databases = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "hookd.db") }},
	{"postgres", func(tb testing.TB) string { return pg.Database(tb) }},
}

func forEachDatabase(t *testing.T, test func(t *testing.T, url string)) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) { test(t, db.url(t)) })
	}
}

func open(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, WithLogger(quiet))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func delivery(id string) Delivery {
	return Delivery{ID: id, Source: SourceGitHub, Event: "push", Repository: "acme/models", Body: []byte(`{"ref":"refs/tags/churn@v1.0.0"}`)}
}

// processJobs counts the jobs in the queue that process each delivery.
func processJobs(t testing.TB, s *Store) map[string]int {
	t.Helper()
	rows, err := s.db.Query(ctxT(t), `SELECT args FROM river_job WHERE kind = 'process_deliveries'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	jobs := map[string]int{}
	for rows.Next() {
		var raw []byte
		var args processDeliveriesArgs
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &args); err != nil {
			t.Fatal(err)
		}
		for _, id := range args.DeliveryIDs {
			jobs[id]++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSQLitePath(t *testing.T) {
	for in, want := range map[string]string{
		"hookd.db":                   "hookd.db",
		"/var/lib/hookd/hookd.db":    "/var/lib/hookd/hookd.db",
		"sqlite:///var/lib/hookd.db": "/var/lib/hookd.db",
		"sqlite://rel/hookd.db":      "rel/hookd.db",
		"file:/x/hookd.db?mode=rwc":  "/x/hookd.db",
	} {
		if got := sqlitePath(in); got != want {
			t.Errorf("sqlitePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Reopening runs the migrations again without harm and keeps the data.
func TestOpenTwiceKeepsData(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		if _, err := s.Accept(ctx, delivery("d1")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, url)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delivery(ctx, "d1"); err != nil {
			t.Fatalf("delivery lost across reopen: %v", err)
		}
	})
}

// Replicas starting together on a new database migrate it once, without
// tripping over each other. On SQLite the first moments of a new file are
// the delicate part (one opener switches it to WAL while the others wait),
// so several new files are opened, by several openers each.
func TestOpenConcurrently(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		rounds := 1
		if !strings.HasPrefix(url, "postgres") {
			rounds = 16
		}
		for round := range rounds {
			at := url
			if round > 0 {
				at = filepath.Join(t.TempDir(), "hookd.db")
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					s, err := Open(context.Background(), at, WithLogger(quiet))
					if err != nil {
						t.Error(err)
						return
					}
					s.Close()
				})
			}
			wg.Wait()
		}
	})
}

// Many callers accepting overlapping ids: each id is stored once, reported
// new exactly once, and gets exactly one job.
func TestAcceptConcurrentIdempotent(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const callers, shared = 32, 40
		var (
			mu    sync.Mutex
			fresh = map[string]int{}
			wg    sync.WaitGroup
		)
		for c := range callers {
			wg.Go(func() {
				ids := []string{fmt.Sprintf("own-%d", c)}
				for i := range shared {
					ids = append(ids, fmt.Sprintf("shared-%d", (i+c)%shared))
				}
				for _, id := range ids {
					res, err := s.Accept(ctx, delivery(id))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if !res.Duplicate {
						fresh[id]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(fresh) != callers+shared {
			t.Fatalf("%d ids reported new, want %d", len(fresh), callers+shared)
		}
		for id, n := range fresh {
			if n != 1 {
				t.Errorf("%s reported new %d times", id, n)
			}
		}
		jobs := processJobs(t, s)
		if len(jobs) != callers+shared {
			t.Errorf("jobs for %d deliveries, want %d", len(jobs), callers+shared)
		}
		for id, n := range jobs {
			if n != 1 {
				t.Errorf("%s has %d jobs", id, n)
			}
		}
		all, err := s.Deliveries(ctx, DeliveryFilter{Page: Page{Limit: 500}})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != callers+shared {
			t.Errorf("%d deliveries stored, want %d", len(all), callers+shared)
		}
	})
}

// A delivery the database refuses fails alone: the others sharing its
// commit are stored and acknowledged, and it is neither.
func TestAcceptFailureInBatch(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const n = 200
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				d := delivery(fmt.Sprintf("d-%d", i))
				if i%10 == 3 {
					d.Source = "svn" // the schema allows only github and git
				}
				_, errs[i] = s.Accept(ctx, d)
			})
		}
		wg.Wait()
		jobs := processJobs(t, s)
		for i, err := range errs {
			id := fmt.Sprintf("d-%d", i)
			_, getErr := s.Delivery(ctx, id)
			bad := i%10 == 3
			switch {
			case bad && err == nil:
				t.Errorf("%s: refused by the database but acknowledged", id)
			case bad && !errors.Is(getErr, ErrNotFound):
				t.Errorf("%s: refused but stored (%v)", id, getErr)
			case bad && jobs[id] != 0:
				t.Errorf("%s: refused but has a job", id)
			case !bad && err != nil:
				t.Errorf("%s: valid but refused: %v", id, err)
			case !bad && getErr != nil:
				t.Errorf("%s: acknowledged but not stored: %v", id, getErr)
			case !bad && jobs[id] != 1:
				t.Errorf("%s: acknowledged with %d jobs", id, jobs[id])
			}
		}
	})
}

// Closing while callers are accepting: whatever was acknowledged is there
// after reopening, with one job; whatever was refused is not.
func TestCloseWhileAccepting(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const callers, each = 8, 100
		acked := make([][]bool, callers)
		var wg sync.WaitGroup
		started := make(chan struct{}, callers)
		for c := range callers {
			acked[c] = make([]bool, each)
			wg.Go(func() {
				for i := range each {
					_, err := s.Accept(ctx, delivery(fmt.Sprintf("c%d-%d", c, i)))
					if i == 5 {
						started <- struct{}{}
					}
					switch {
					case err == nil:
						acked[c][i] = true
					case !errors.Is(err, ErrClosed):
						t.Errorf("accept: %v", err)
					}
				}
			})
		}
		for range callers {
			<-started
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()

		s = open(t, url)
		jobs := processJobs(t, s)
		var nAcked int
		for c := range callers {
			for i := range each {
				id := fmt.Sprintf("c%d-%d", c, i)
				_, err := s.Delivery(ctx, id)
				if acked[c][i] {
					nAcked++
					if err != nil || jobs[id] != 1 {
						t.Errorf("%s acknowledged, but after reopen: %v, %d jobs", id, err, jobs[id])
					}
				} else if !errors.Is(err, ErrNotFound) {
					t.Errorf("%s refused, but stored (%v)", id, err)
				}
			}
		}
		if nAcked == 0 {
			t.Error("nothing was acknowledged before Close")
		}
	})
}

// Ignored deliveries are kept for the record but never processed.
func TestAcceptIgnored(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		d := delivery("ping-1")
		d.Event, d.Status, d.Reason = "ping", DeliveryIgnored, "not a tag event"
		if _, err := s.Accept(ctx, d); err != nil {
			t.Fatal(err)
		}
		got, err := s.Delivery(ctx, "ping-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != DeliveryIgnored || got.Reason != "not a tag event" || string(got.Body) != string(d.Body) {
			t.Errorf("stored %+v", got)
		}
		if jobs := processJobs(t, s); len(jobs) != 0 {
			t.Errorf("ignored delivery got jobs: %v", jobs)
		}
		empty := delivery("empty")
		empty.Body = nil
		if _, err := s.Accept(ctx, empty); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Delivery(ctx, "empty"); err != nil || got.Pruned || len(got.Body) != 0 {
			t.Errorf("delivery with an empty body: %+v %v", got, err)
		}
		if _, err := s.Accept(ctx, Delivery{ID: "x", Repository: "a/b", Status: DeliveryProcessed}); err == nil {
			t.Error("accepted a delivery that claims to be processed already")
		}
	})
}

// Ignored deliveries sent at once, each id twice, are stored once each,
// and each id gets exactly one answer that is not a duplicate, as queued
// ones do (ignored batches commit without a transaction of their own).
func TestAcceptIgnoredConcurrently(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const ids = 100
		var mu sync.Mutex
		firsts := map[string]int{}
		var wg sync.WaitGroup
		for i := range 2 * ids {
			wg.Go(func() {
				d := delivery(fmt.Sprintf("branch-%d", i%ids))
				d.Status, d.Reason = DeliveryIgnored, "branch push"
				res, err := s.Accept(ctx, d)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if !res.Duplicate {
					firsts[d.ID]++
				}
			})
		}
		wg.Wait()
		for i := range ids {
			if id := fmt.Sprintf("branch-%d", i); firsts[id] != 1 {
				t.Errorf("%s accepted as new %d times, want once", id, firsts[id])
			}
		}
		stored, err := s.Deliveries(ctx, DeliveryFilter{Status: DeliveryIgnored, Page: Page{Limit: 500}})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != ids {
			t.Errorf("%d ignored deliveries stored, want %d", len(stored), ids)
		}
		if jobs := processJobs(t, s); len(jobs) != 0 {
			t.Errorf("ignored deliveries got jobs: %v", jobs)
		}
	})
}

// recorder is a set of workers that count what they did.
type recorder struct {
	s         *Store
	mu        sync.Mutex
	processed map[string]int
}

func (r *recorder) workers() Workers {
	return Workers{
		ProcessDelivery: func(_ context.Context, d Delivery) (Outcome, error) {
			r.mu.Lock()
			r.processed[d.ID]++
			r.mu.Unlock()
			return Outcome{}, nil
		},
		ReconcileRepository: func(context.Context, string) error { return nil },
		RunAction:           func(context.Context, int64) error { return nil },
	}
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.processed[id]
}

func queuedCount(t testing.TB, s *Store) int {
	ds, err := s.Deliveries(ctxT(t), DeliveryFilter{Status: DeliveryQueued, Page: Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// Deliveries accepted before a shutdown are processed after the restart,
// each once.
func TestJobsSurviveRestart(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const n = 300
		for i := range n {
			if _, err := s.Accept(ctx, delivery(fmt.Sprintf("d-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		st, err := s.QueueStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Available != n {
			t.Errorf("queue stats before restart: %+v, want %d available", st, n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = open(t, url)
		r := drain(t, s)
		for i := range n {
			if c := r.count(fmt.Sprintf("d-%d", i)); c != 1 {
				t.Errorf("d-%d processed %d times", i, c)
			}
		}
		st, err = s.QueueStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Available != 0 || st.Running != 0 {
			t.Errorf("jobs left after processing: %+v", st)
		}
	})
}

// StopWorkers lets a running job finish before it returns.
func TestStopWorkersWaitsForRunningJob(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		started, release := make(chan struct{}), make(chan struct{})
		w := Workers{
			ProcessDelivery: func(context.Context, Delivery) (Outcome, error) {
				close(started)
				<-release
				return Outcome{Status: DeliveryProcessed, Reason: "done while stopping"}, nil
			},
			ReconcileRepository: func(context.Context, string) error { return nil },
			RunAction:           func(context.Context, int64) error { return nil },
		}
		if err := s.StartWorkers(ctx, w); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(ctx, delivery("slow")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		case <-time.After(time.Minute):
			t.Fatal("job never started")
		}
		stopped := make(chan error)
		go func() { stopped <- s.StopWorkers(ctx) }()
		close(release)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		d, err := s.Delivery(ctx, "slow")
		if err != nil || d.Status != DeliveryProcessed {
			t.Errorf("after StopWorkers: %+v, %v", d, err)
		}
	})
}

// Replay processes a delivery again; pruned or unknown ones cannot be.
func TestReplay(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		r := &recorder{s: s, processed: map[string]int{}}
		if err := s.StartWorkers(ctx, r.workers()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(ctx, delivery("d1")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "first processing", func() bool {
			d, err := s.Delivery(ctx, "d1")
			return err == nil && d.Status == DeliveryProcessed
		})
		markFailed(t, s, "d1", "source unreachable")
		if err := s.Replay(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "replay processed", func() bool { return r.count("d1") == 2 })
		waitFor(t, "replay marked", func() bool {
			d, err := s.Delivery(ctx, "d1")
			return err == nil && d.Status == DeliveryProcessed && d.Reason == ""
		})
		if err := s.Replay(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("replay of unknown delivery: %v", err)
		}
		if _, err := s.PrunePayloads(ctx, -time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Replay(ctx, "d1"); !errors.Is(err, ErrPruned) {
			t.Errorf("replay of pruned delivery: %v", err)
		}
	})
}

// A delivery whose processing keeps failing is retried, and marked failed
// with the error once the job's attempts are used up.
func TestDeliveryFailsOnLastAttempt(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		for _, id := range []string{"good", "bad", "branch"} {
			if _, err := s.Accept(ctx, delivery(id)); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		calls := map[string]int{}
		process := func(_ context.Context, d Delivery) (Outcome, error) {
			mu.Lock()
			defer mu.Unlock()
			calls[d.ID]++
			if len(d.Body) == 0 {
				return Outcome{}, errors.New("no payload handed over")
			}
			switch d.ID {
			case "bad":
				return Outcome{}, errors.New("tag not found")
			case "branch":
				return Outcome{Status: DeliveryIgnored, Reason: "branch push"}, nil
			}
			return Outcome{}, nil
		}
		ids := []string{"good", "bad", "branch"}
		first := &deliveryAttempt{number: 1, retryIn: 16 * time.Second}
		if err := s.processDeliveries(ctx, ids, first, process); err == nil {
			t.Fatal("a failed delivery did not fail its job")
		}
		// The failed one says why it waits, and until when.
		waiting, _ := s.Delivery(ctx, "bad")
		if waiting.Status != DeliveryQueued || waiting.Attempts != 1 || waiting.LastError != "tag not found" ||
			waiting.NextAttemptAt == nil || !waiting.NextAttemptAt.Equal(first.next.Truncate(time.Microsecond)) ||
			time.Until(*waiting.NextAttemptAt) < 10*time.Second {
			t.Errorf("a delivery waiting for its next attempt: %+v (next attempt %v)", waiting, first.next)
		}
		if good, _ := s.Delivery(ctx, "good"); good.Attempts != 1 || good.LastError != "" || good.NextAttemptAt != nil {
			t.Errorf("a delivery processed at once: %+v", good)
		}
		if err := s.processDeliveries(ctx, ids, &deliveryAttempt{number: 2, last: true}, process); err != nil {
			t.Fatal(err)
		}
		if calls["good"] != 1 || calls["bad"] != 2 || calls["branch"] != 1 {
			t.Errorf("calls %v: the retry must skip what succeeded", calls)
		}
		good, _ := s.Delivery(ctx, "good")
		bad, _ := s.Delivery(ctx, "bad")
		branch, _ := s.Delivery(ctx, "branch")
		if bad.Attempts != 2 || bad.LastError != "tag not found" || bad.NextAttemptAt != nil {
			t.Errorf("a delivery failed for good: %+v", bad)
		}
		if good.Status != DeliveryProcessed || bad.Status != DeliveryFailed || bad.Reason != "tag not found" ||
			branch.Status != DeliveryIgnored || branch.Reason != "branch push" {
			t.Errorf("good %s, bad %s (%s), branch %s (%s)", good.Status, bad.Status, bad.Reason, branch.Status, branch.Reason)
		}
	})
}

func TestDeliveriesFilterAndPage(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		for i := range 7 {
			d := delivery(fmt.Sprintf("d-%d", i))
			if i%2 == 1 {
				d.Repository, d.Event = "acme/other", "create"
			}
			if _, err := s.Accept(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		markFailed(t, s, "d-2", "bad payload")
		var pages [][]string
		for before := int64(0); ; {
			ds, err := s.Deliveries(ctx, DeliveryFilter{Repository: "acme/models", Page: Page{Limit: 3, Before: before}})
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 0 {
				break
			}
			var ids []string
			for _, d := range ds {
				if d.Body != nil {
					t.Errorf("listing carries payload of %s", d.ID)
				}
				ids = append(ids, d.ID)
			}
			pages = append(pages, ids)
			before = ds[len(ds)-1].Seq
			if len(pages) > 5 {
				t.Fatal("paging does not end")
			}
		}
		if got := fmt.Sprint(pages); got != "[[d-6 d-4 d-2] [d-0]]" {
			t.Errorf("pages %s", got)
		}
		failed, err := s.Deliveries(ctx, DeliveryFilter{Status: DeliveryFailed})
		if err != nil || len(failed) != 1 || failed[0].ID != "d-2" || failed[0].Reason != "bad payload" {
			t.Errorf("failed deliveries: %+v %v", failed, err)
		}
		creates, err := s.Deliveries(ctx, DeliveryFilter{Event: "create", Repository: "acme/other"})
		if err != nil || len(creates) != 3 {
			t.Errorf("create deliveries: %d %v", len(creates), err)
		}
		if _, err := s.Delivery(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing delivery: %v", err)
		}
	})
}

// QueuedDeliveries reads every queued delivery of one repository, with its
// payload, oldest first, past the size of one page.
func TestQueuedDeliveries(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		var want []string
		for i := range 230 {
			d := delivery(fmt.Sprintf("q-%03d", i))
			switch {
			case i%7 == 3:
				d.Repository = "acme/other"
			case i%7 == 5:
				d.Status, d.Reason = DeliveryIgnored, "branch push"
			default:
				want = append(want, d.ID)
			}
			if _, err := s.Accept(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		markFailed(t, s, "q-000", "settled")
		want = want[1:]
		var got []string
		err := s.QueuedDeliveries(ctx, "acme/models", func(d Delivery) error {
			if string(d.Body) != `{"ref":"refs/tags/churn@v1.0.0"}` {
				t.Errorf("delivery %s without its payload: %q", d.ID, d.Body)
			}
			got = append(got, d.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("queued deliveries %v, want %v", got, want)
		}
		stop := errors.New("enough")
		n := 0
		if err := s.QueuedDeliveries(ctx, "acme/models", func(Delivery) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("an error from fn: %v after %d calls, want it back after 1", err, n)
		}
	})
}

// Pruning drops old payloads and keeps the rows and recent payloads.
func TestPrunePayloads(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		old, waiting := delivery("old"), delivery("waiting")
		old.ReceivedAt = time.Now().Add(-48 * time.Hour)
		waiting.ReceivedAt = old.ReceivedAt
		for _, d := range []Delivery{old, waiting, delivery("new")} {
			if _, err := s.Accept(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		markFailed(t, s, "old", "processed long ago")
		n, err := s.PrunePayloads(ctx, 24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want 1", n, err)
		}
		got, err := s.Delivery(ctx, "old")
		if err != nil || got.Body != nil || !got.Pruned {
			t.Errorf("old delivery after pruning: %+v %v", got, err)
		}
		// Still queued (after an outage longer than the retention, say): its
		// payload is kept, or it could never be processed.
		got, err = s.Delivery(ctx, "waiting")
		if err != nil || got.Body == nil || got.Pruned {
			t.Errorf("an old but unprocessed delivery lost its payload: %+v %v", got, err)
		}
		got, err = s.Delivery(ctx, "new")
		if err != nil || string(got.Body) != string(delivery("new").Body) || got.Pruned {
			t.Errorf("recent delivery after pruning: %+v %v", got, err)
		}
		if n, _ := s.PrunePayloads(ctx, 24*time.Hour); n != 0 {
			t.Errorf("second prune pruned %d", n)
		}
	})
}

func TestTags(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		when := time.Date(2024, 3, 1, 12, 30, 0, 0, time.FixedZone("IST", 5*3600+1800))
		tag := Tag{Repository: "acme/models", Name: "churn@v1.0.0", ObjectSHA: "aaa", CommitSHA: "ccc", Annotated: true,
			Tagger: Tagger{Name: "Ann", Email: "ann@example.com", When: when}, Message: "Registering churn v1.0.0"}
		upsert := func(tag Tag, want bool) {
			t.Helper()
			changed, err := s.UpsertTag(ctx, tag)
			if err != nil || changed != want {
				t.Fatalf("UpsertTag(%s %s) = %v, %v; want %v", tag.Name, tag.ObjectSHA, changed, err, want)
			}
		}
		// The webhook and the reconciler racing on a new tag: one sees it new.
		var wg sync.WaitGroup
		var fresh atomic.Int32
		for range 8 {
			wg.Go(func() {
				changed, err := s.UpsertTag(ctx, tag)
				if err != nil {
					t.Error(err)
				}
				if changed {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("%d racing upserts saw the tag new, want 1", fresh.Load())
		}
		upsert(tag, false)
		other := tag
		other.Name, other.ObjectSHA = "churn#prod#1", "bbb"
		upsert(other, true)

		tags, err := s.Tags(ctx, "acme/models", false)
		if err != nil || len(tags) != 2 {
			t.Fatalf("tags: %+v %v", tags, err)
		}
		if tags[0].Name != "churn#prod#1" { // ordered by name: '#' sorts before '@'
			t.Errorf("tags out of order: %s, %s", tags[0].Name, tags[1].Name)
		}
		got := tags[1]
		if got.Name != "churn@v1.0.0" || !got.Tagger.When.Equal(when) || got.Tagger.When.Format(time.RFC3339) != "2024-03-01T12:30:00+05:30" ||
			got.Message != tag.Message || !got.Annotated || got.CommitSHA != "ccc" || got.DeletedAt != nil {
			t.Errorf("stored tag %+v", got)
		}

		if deleted, err := s.DeleteTag(ctx, "acme/models", "churn#prod#1"); err != nil || !deleted {
			t.Fatalf("DeleteTag: %v %v", deleted, err)
		}
		if deleted, _ := s.DeleteTag(ctx, "acme/models", "churn#prod#1"); deleted {
			t.Error("deleted twice")
		}
		if tags, _ := s.Tags(ctx, "acme/models", false); len(tags) != 1 {
			t.Errorf("current tags after delete: %+v", tags)
		}
		if tags, _ := s.Tags(ctx, "acme/models", true); len(tags) != 2 {
			t.Errorf("tags with deleted: %+v", tags)
		}
		upsert(other, true) // re-pushed after deletion
		moved := tag
		moved.ObjectSHA = "ddd"
		upsert(moved, true)

		l, err := s.Listing(ctx, "acme/models")
		if err != nil || !l.ListedAt.IsZero() {
			t.Fatalf("listing before any: %+v %v", l, err)
		}
		first, at := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
		for _, when := range []time.Time{first, at} {
			if err := s.SaveListing(ctx, Listing{Repository: "acme/models", ListedAt: when}); err != nil {
				t.Fatal(err)
			}
		}
		l, err = s.Listing(ctx, "acme/models")
		if err != nil || !l.ListedAt.Equal(at) {
			t.Errorf("listing: %+v %v", l, err)
		}
	})
}

func event(object string, typ EventType) Event {
	return Event{Repository: "acme/models", Artifact: "churn", Type: typ, Version: "v1.0.0", Stage: "prod",
		CommitSHA: "ccc", TagName: "churn#prod#1", TagObjectSHA: object,
		Tagger:  Tagger{Name: "Ann", Email: "ann@example.com", When: time.Date(2024, 3, 1, 12, 0, 0, 0, time.FixedZone("", -7*3600))},
		Message: "assign", DeliveryID: "d1", ActiveBefore: []string{"v0.9.0"}, ActiveAfter: []string{"v1.0.0"}}
}

// The webhook, a redelivery, the git hook and the reconciler racing to
// record the same tag object produce one event.
func TestRecordEventOnce(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const racers = 16
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			fresh int
			ids   = map[int64]bool{}
		)
		for i := range racers {
			wg.Go(func() {
				e := event("obj1", EventAssignment)
				e.DeliveryID = fmt.Sprintf("path-%d", i)
				got, isNew, err := s.RecordEvent(ctx, e)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				ids[got.ID] = true
				if isNew {
					fresh++
				}
			})
		}
		wg.Wait()
		if fresh != 1 || len(ids) != 1 {
			t.Fatalf("%d racers saw a new event, %d distinct ids; want 1 and 1", fresh, len(ids))
		}
		// The tag's deletion is another event for the same tag object.
		del, isNew, err := s.RecordEvent(ctx, event("obj1", EventTagDeleted))
		if err != nil || !isNew {
			t.Fatalf("deletion event: %v %v", isNew, err)
		}
		all, err := s.Events(ctx, EventFilter{Repository: "acme/models"})
		if err != nil || len(all) != 2 || all[0].ID != del.ID {
			t.Fatalf("events: %+v %v", all, err)
		}
		got, err := s.Event(ctx, all[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		want := event("obj1", EventAssignment)
		if got.Tagger.When.Format(time.RFC3339) != "2024-03-01T12:00:00-07:00" || fmt.Sprint(got.ActiveBefore, got.ActiveAfter) != "[v0.9.0] [v1.0.0]" ||
			got.Artifact != want.Artifact || got.Stage != want.Stage || got.Version != want.Version || got.TagName != want.TagName ||
			got.CommitSHA != want.CommitSHA || got.Message != want.Message || got.RecordedAt.IsZero() {
			t.Errorf("stored event %+v", got)
		}
		if _, err := s.Event(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing event: %v", err)
		}
	})
}

func TestEventsFilterAndPage(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		for i := range 5 {
			e := event(fmt.Sprintf("obj-%d", i), EventRegistration)
			if i >= 3 {
				e.Artifact, e.Stage, e.Type = "fraud", "staging", EventAssignment
			}
			if _, _, err := s.RecordEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		check := func(f EventFilter, want int) []Event {
			t.Helper()
			es, err := s.Events(ctx, f)
			if err != nil || len(es) != want {
				t.Errorf("Events(%+v): %d events, %v; want %d", f, len(es), err, want)
			}
			return es
		}
		check(EventFilter{Artifact: "fraud"}, 2)
		check(EventFilter{Stage: "staging", Type: EventAssignment}, 2)
		check(EventFilter{Type: EventRegistration}, 3)
		first := check(EventFilter{Page: Page{Limit: 2}}, 2)
		check(EventFilter{Page: Page{Limit: 2, Before: first[1].ID}}, 2)
	})
}

// CreateRuns is idempotent: one run and one job per (event, action).
func TestCreateRunsOnce(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		e, _, err := s.RecordEvent(ctx, event("obj1", EventAssignment))
		if err != nil {
			t.Fatal(err)
		}
		first, err := s.CreateRuns(ctx, e.ID, []string{"deploy", "notify"})
		if err != nil || len(first) != 2 {
			t.Fatalf("CreateRuns: %+v %v", first, err)
		}
		again, err := s.CreateRuns(ctx, e.ID, []string{"deploy", "notify"})
		if err != nil || fmt.Sprint(runIDs(again)) != fmt.Sprint(runIDs(first)) {
			t.Fatalf("CreateRuns again: %+v %v", again, err)
		}
		var jobs int
		if err := s.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'run_action'`).Scan(&jobs); err != nil || jobs != 2 {
			t.Errorf("run jobs: %d %v", jobs, err)
		}
		r := first[0]
		if r.Status != RunQueued || r.Repository != "acme/models" || r.Artifact != "churn" || r.Stage != "prod" || len(r.IdempotencyKey) != 32 {
			t.Errorf("run %+v", r)
		}
		if first[0].IdempotencyKey == first[1].IdempotencyKey {
			t.Error("two actions share an idempotency key")
		}
		if _, err := s.CreateRuns(ctx, 999, []string{"deploy"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("runs for a missing event: %v", err)
		}
	})
}

func runIDs(rs []Run) []int64 {
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// A run's life: started, an attempt fails, retried, succeeds; history kept.
func TestRunAttempts(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		e, _, err := s.RecordEvent(ctx, event("obj1", EventAssignment))
		if err != nil {
			t.Fatal(err)
		}
		runs, err := s.CreateRuns(ctx, e.ID, []string{"deploy"})
		if err != nil {
			t.Fatal(err)
		}
		id := runs[0].ID
		if _, err := s.StartRun(ctx, id, time.Minute); err != nil {
			t.Fatal(err)
		}
		one := 1
		if err := s.FinishRun(ctx, id, RunQueued, AttemptResult{ExitCode: &one, OutputTail: "connection refused", Error: "exit status 1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartRun(ctx, id, time.Minute); err != nil {
			t.Fatal(err)
		}
		zero := 0
		if err := s.FinishRun(ctx, id, RunSucceeded, AttemptResult{ExitCode: &zero, OutputTail: "deployed"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartRun(ctx, id, time.Minute); !errors.Is(err, ErrRunState) {
			t.Errorf("start of a succeeded run: %v", err)
		}
		r, err := s.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != RunSucceeded || r.Attempts != 2 || len(r.History) != 2 {
			t.Fatalf("run %+v", r)
		}
		a, b := r.History[0], r.History[1]
		if *a.ExitCode != 1 || a.OutputTail != "connection refused" || a.Error != "exit status 1" || a.FinishedAt == nil ||
			*b.ExitCode != 0 || b.OutputTail != "deployed" || b.Number != 2 {
			t.Errorf("attempts %+v %+v", a, b)
		}
		if err := s.RetryRun(ctx, id); err != nil {
			t.Fatal(err)
		}
		got, err := s.Runs(ctx, RunFilter{Status: RunQueued, Action: "deploy"})
		if err != nil || len(got) != 1 {
			t.Errorf("retried runs: %+v %v", got, err)
		}
		// By id: that run alone, without its history.
		byID, err := s.Runs(ctx, RunFilter{ID: id})
		if err != nil || len(byID) != 1 || byID[0].ID != id || byID[0].Attempts != 2 || byID[0].History != nil {
			t.Errorf("runs with id %d: %+v %v", id, byID, err)
		}
		if none, err := s.Runs(ctx, RunFilter{ID: id + 1000}); err != nil || len(none) != 0 {
			t.Errorf("runs with an unknown id: %+v %v", none, err)
		}
	})
}

// Two stores on one database (two replicas): one run at a time per
// (repository, artifact, stage, action); a crashed holder's lease expires.
func TestRunLeaseAcrossStores(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		a, b := open(t, url), open(t, url)
		var ids []int64
		for _, obj := range []string{"obj1", "obj2", "obj3"} {
			e, _, err := a.RecordEvent(ctx, event(obj, EventAssignment))
			if err != nil {
				t.Fatal(err)
			}
			runs, err := a.CreateRuns(ctx, e.ID, []string{"deploy"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, runs[0].ID)
		}

		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range []*Store{a, b} {
			wg.Go(func() { _, errs[i] = s.StartRun(ctx, ids[i], time.Minute) })
		}
		wg.Wait()
		winner, loser := 0, 1
		if errs[0] != nil {
			winner, loser = 1, 0
		}
		if errs[winner] != nil || !errors.Is(errs[loser], ErrLeaseHeld) {
			t.Fatalf("concurrent starts: %v, %v; want one start and one ErrLeaseHeld", errs[0], errs[1])
		}
		stores := []*Store{a, b}
		if _, err := stores[loser].StartRun(ctx, ids[loser], time.Minute); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("start while the lane is held: %v", err)
		}
		if err := stores[winner].FinishRun(ctx, ids[winner], RunSucceeded, AttemptResult{}); err != nil {
			t.Fatal(err)
		}
		// The loser now starts, with a lease so short it is as good as a crash.
		if _, err := stores[loser].StartRun(ctx, ids[loser], time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := stores[winner].StartRun(ctx, ids[2], time.Minute); err != nil {
			t.Fatalf("start after the holder's lease expired: %v", err)
		}
		if err := stores[loser].ExtendRun(ctx, ids[loser], time.Minute); !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("extending a lost lease: %v", err)
		}
		// The crashed run is taken over once the lane is free again.
		if err := stores[winner].FinishRun(ctx, ids[2], RunFailed, AttemptResult{Error: "boom"}); err != nil {
			t.Fatal(err)
		}
		r, err := stores[winner].StartRun(ctx, ids[loser], time.Minute)
		if err != nil || r.Attempts != 2 {
			t.Fatalf("taking over a crashed run: %+v %v", r, err)
		}
		full, err := a.Run(ctx, ids[loser])
		if err != nil || full.History[0].FinishedAt == nil || full.History[0].Error == "" {
			t.Errorf("the crashed attempt is not closed: %+v %v", full.History, err)
		}
	})
}

func TestLease(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		take := func(holder string, want bool) {
			t.Helper()
			ok, err := s.acquireLease(ctx, s.db, "reconcile:acme/models", holder, time.Minute)
			if err != nil || ok != want {
				t.Fatalf("acquireLease(%s) = %v, %v; want %v", holder, ok, err, want)
			}
		}
		take("a", true)
		take("a", true) // renewal
		take("b", false)
		if err := releaseLease(ctx, s.db, "reconcile:acme/models", "b"); err != nil {
			t.Fatal(err)
		}
		take("b", false) // b could not release a's lease
		if err := releaseLease(ctx, s.db, "reconcile:acme/models", "a"); err != nil {
			t.Fatal(err)
		}
		take("b", true)
	})
}

// Reconciliation requests for a repository do not pile up.
func TestEnqueueReconcile(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		for _, repo := range []string{"acme/models", "acme/models", "acme/other"} {
			if err := s.EnqueueReconcile(ctx, repo); err != nil {
				t.Fatal(err)
			}
		}
		st, err := s.QueueStats(ctx)
		if err != nil || st.Available != 2 {
			t.Errorf("queue stats: %+v %v; want 2 available", st, err)
		}
		// Once acme/models' listing runs, a new request (tags pushed
		// after it listed, say) waits for another listing.
		if _, err := s.db.Exec(ctx, `UPDATE river_job SET state = 'running', attempted_at = CURRENT_TIMESTAMP, attempt = 1
			WHERE kind = 'reconcile_repository' AND `+s.db.Types().JobRepository+` = 'acme/models'`); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.EnqueueReconcile(ctx, "acme/models"); err != nil {
				t.Fatal(err)
			}
		}
		st, err = s.QueueStats(ctx)
		if err != nil || st.Available != 2 || st.Running != 1 {
			t.Errorf("queue stats: %+v %v; want 1 running and 2 available (one per repository)", st, err)
		}
	})
}

// markFailed records a failed outcome for a delivery, as a worker's job does.
func markFailed(t *testing.T, s *Store, id, reason string) {
	t.Helper()
	d, err := s.Delivery(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(ctxT(t), `UPDATE hookd_delivery SET status = 'queued' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := s.settle(ctxT(t), &deliveryAttempt{number: 1}, []settlement{{d: d, outcome: Outcome{Status: DeliveryFailed, Reason: reason}}}); err != nil {
		t.Fatal(err)
	}
}

// drain works every queued delivery of s with a recorder, then stops the
// workers; the recorder tells how often each was processed.
func drain(t *testing.T, s *Store) *recorder {
	t.Helper()
	r := &recorder{s: s, processed: map[string]int{}}
	if err := s.StartWorkers(ctxT(t), r.workers()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all deliveries processed", func() bool { return queuedCount(t, s) == 0 })
	if err := s.StopWorkers(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return r
}

// Pruning a large backlog of payloads (the first pruning after retention
// is turned on, say) never holds up the deliveries being accepted: it works
// in batches, which acceptance interleaves with. SQLite is where it would:
// a statement there holds the only connection (PostgreSQL's writers insert
// other rows beside a long update).
func TestPruningDoesNotHoldUpAcceptance(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"))
	const backlog = 20_000
	// Processed long ago; written in one statement, as fast as it goes.
	if _, err := s.db.Exec(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
		INSERT INTO hookd_delivery (id, source, event, repository, body, received_at, status, reason, updated_at)
		SELECT 'old-' || CAST(i AS TEXT), 'github', 'push', 'acme/models', $2, $3, 'ignored', 'branch push', $3 FROM n`,
		backlog, make([]byte, 1024), micros(time.Now().Add(-48*time.Hour))); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var (
		pruned    int64
		pruneErr  error
		pruneTook time.Duration
		done      = make(chan struct{})
	)
	go func() {
		defer close(done)
		pruned, pruneErr = s.PrunePayloads(ctx, time.Hour)
		pruneTook = time.Since(start)
	}()
	var worst time.Duration
	accepted := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		t0 := time.Now()
		if _, err := s.Accept(ctx, delivery(fmt.Sprintf("new-%d", accepted))); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
		accepted++
	}
	if pruneErr != nil || pruned != backlog {
		t.Fatalf("pruned %d, %v; want %d", pruned, pruneErr, backlog)
	}
	t.Logf("pruning %d payloads took %v; %d deliveries accepted meanwhile, the slowest in %v", backlog, pruneTook, accepted, worst)
	if worst > pruneTook/4 {
		t.Errorf("a delivery waited %v for its acceptance while pruning took %v: pruning held acceptance up", worst, pruneTook)
	}
}

// Records stored under a repository's path are renamed to its name, all
// of them, except those the name has already (a tag, an event, the
// listing): the ones under the name stay as they are.
func TestRenameRepository(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		const path, name = "/srv/git/models.git", "research/models"
		d := delivery("old")
		d.Repository = path
		if _, err := s.Accept(ctx, d); err != nil {
			t.Fatal(err)
		}
		tag := func(repository, tagName, object string) Tag {
			return Tag{Repository: repository, Name: tagName, ObjectSHA: object, CommitSHA: "c", Annotated: true,
				Tagger: Tagger{Name: "n", Email: "e", When: time.Unix(1700000000, 0)}}
		}
		for _, tg := range []Tag{tag(path, "churn@v1.0.0", "o1"), tag(path, "churn#prod#1", "o2"), tag(name, "churn#prod#1", "o3")} {
			if _, err := s.UpsertTag(ctx, tg); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SaveListing(ctx, Listing{Repository: path}); err != nil {
			t.Fatal(err)
		}
		e := event("o1", EventRegistration)
		e.Repository = path
		rec, _, err := s.RecordEvent(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		// Its lane, converging on the version: a run and the lane.
		if _, err := s.Converge(ctx, rec.ID, []LaneChange{{Action: "deploy", Stage: "prod", After: []string{"v1.0.0"},
			Trigger: EventAssignment, Version: "v1.0.0"}}); err != nil {
			t.Fatal(err)
		}

		n, err := s.RenameRepository(ctx, path, name)
		if err != nil {
			t.Fatal(err)
		}
		// The delivery, one tag (the other is the name's already), the
		// listing, the event, its run and its lane.
		if n != 6 {
			t.Errorf("renamed %d records, want 6", n)
		}
		if lanes, _ := s.Lanes(ctx, LaneFilter{Repository: name}); len(lanes) != 1 || lanes[0].Stage != "prod" {
			t.Errorf("lanes under the name: %+v", lanes)
		}
		if ds, _ := s.Deliveries(ctx, DeliveryFilter{Repository: name}); len(ds) != 1 || ds[0].ID != "old" {
			t.Errorf("deliveries under the name: %+v", ds)
		}
		tags, _ := s.Tags(ctx, name, false)
		got := map[string]string{}
		for _, tg := range tags {
			got[tg.Name] = tg.ObjectSHA
		}
		if len(got) != 2 || got["churn@v1.0.0"] != "o1" || got["churn#prod#1"] != "o3" {
			t.Errorf("tags under the name: %v", got)
		}
		if l, _ := s.Listing(ctx, name); l.ListedAt.IsZero() {
			t.Error("the listing did not follow: the name would be listed as a baseline again")
		}
		if evs, _ := s.Events(ctx, EventFilter{Repository: name}); len(evs) != 1 || evs[0].ID != rec.ID {
			t.Errorf("events under the name: %+v", evs)
		}
		if runs, _ := s.Runs(ctx, RunFilter{Repository: name}); len(runs) != 1 {
			t.Errorf("runs under the name: %+v", runs)
		}
		// Renaming again finds nothing more to do.
		if n, err := s.RenameRepository(ctx, path, name); err != nil || n != 0 {
			t.Errorf("second rename: %d, %v", n, err)
		}
	})
}

package deploy_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// Ten assignments of prod in a burst while a slow deploy runs: the first
// runs, the eight in between are superseded without an attempt, the newest
// runs, and the environment never sees two deploys at once. With supersede
// off, all ten run, one after the other, in order.
func TestAssignmentsInQuickSuccession(t *testing.T) {
	const burst = 10
	for _, tc := range []struct {
		supersede bool
		want      []store.RunStatus
	}{
		{true, append(append([]store.RunStatus{store.RunSucceeded}, slices.Repeat([]store.RunStatus{store.RunSuperseded}, burst-2)...), store.RunSucceeded)},
		{false, slices.Repeat([]store.RunStatus{store.RunSucceeded}, burst)},
	} {
		name := "supersede"
		if !tc.supersede {
			name = "every-run"
		}
		t.Run(name, func(t *testing.T) {
			// The first deploy is held until the whole burst is
			// recorded, however long recording takes.
			hold := make(chan struct{})
			rc := newHeldReceiver(t, 20*time.Millisecond, hold)
			supersede := "true"
			if !tc.supersede {
				supersede = "false"
			}
			actions := parseActions(t, `
actions:
  - name: deploy-prod
    on: {stage: prod}
    supersede: `+supersede+`
    http: {url: `+rc.url+`}
  - name: deploy-staging
    on: {stage: staging}
    http: {url: `+rc.url+`}
`)
			r := newRig(t, actions, deploy.Options{})
			_, first := r.event(assignment("churn", "v1.0.0", "prod"))
			select {
			case <-rc.starts:
			case <-time.After(time.Minute):
				t.Fatal("the first deploy never reached the receiver")
			}
			all := [][]store.Run{first}
			for i := 1; i < burst; i++ {
				_, runs := r.event(assignment("churn", fmt.Sprintf("v1.0.%d", i), "prod"))
				all = append(all, runs)
			}
			close(hold)
			// Another stage is another lane: it does not wait for prod.
			_, staging := r.event(assignment("churn", "v1.0.2", "staging"))

			var got []store.RunStatus
			for _, runs := range all {
				got = append(got, r.wait(runs[0].ID, store.RunSucceeded, store.RunSuperseded, store.RunFailed).Status)
			}
			r.wait(staging[0].ID, store.RunSucceeded)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("statuses = %v, want %v", got, tc.want)
			}
			newest := all[burst-1][0]
			for _, runs := range all[1 : burst-1] {
				skipped, err := r.store.Run(testCtx(t), runs[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				if tc.supersede && (len(skipped.History) != 0 || skipped.SupersededBy != newest.ID) {
					t.Errorf("run %d: %d attempts, superseded by %d; want none, by the newest (%d)",
						skipped.ID, len(skipped.History), skipped.SupersededBy, newest.ID)
				}
			}

			var prod []received
			for _, q := range rc.requests() {
				if q.Header.Get("Idempotency-Key") != staging[0].IdempotencyKey {
					prod = append(prod, q)
				}
			}
			wantRequests := 2
			if !tc.supersede {
				wantRequests = burst
			}
			if len(prod) != wantRequests {
				t.Fatalf("prod received %d deploys, want %d", len(prod), wantRequests)
			}
			for i, a := range prod {
				for _, b := range prod[i+1:] {
					if a.Start.Before(b.End) && b.Start.Before(a.End) {
						t.Errorf("two prod deploys overlapped: %v–%v and %v–%v", a.Start, a.End, b.Start, b.End)
					}
				}
			}
			if last := prod[len(prod)-1]; last.Header.Get("Idempotency-Key") != newest.IdempotencyKey {
				t.Error("the newest assignment was not the last deploy")
			}
		})
	}
}

// Two replicas share one database and both work runs: the lane lease
// keeps one prod deploy at a time across them, in order.
func TestReplicasShareLanes(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "hookd.db") }},
		{"postgres", func(tb testing.TB) string { return pg.Database(tb) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			url := db.url(t)
			rc := newReceiver(t, 100*time.Millisecond)
			actions := parseActions(t, `
actions:
  - {name: deploy-prod, on: {stage: prod}, supersede: false, http: {url: `+rc.url+`}}
`)
			a := newRigAt(t, url, actions, deploy.Options{LaneWait: 20 * time.Millisecond}, true)
			b := newRigAt(t, url, actions, deploy.Options{LaneWait: 20 * time.Millisecond}, true)
			var (
				keys []string
				runs []store.Run
			)
			for i := range 4 {
				r := a
				if i%2 == 1 {
					r = b
				}
				_, made := r.event(assignment("churn", fmt.Sprintf("v1.0.%d", i), "prod"))
				keys = append(keys, made[0].IdempotencyKey)
				runs = append(runs, made[0])
			}
			for _, run := range runs {
				a.wait(run.ID, store.RunSucceeded)
			}
			got := rc.requests()
			if len(got) != len(keys) {
				t.Fatalf("%d deploys arrived, want %d", len(got), len(keys))
			}
			slices.SortFunc(got, func(x, y received) int { return x.Start.Compare(y.Start) })
			for i, q := range got {
				if q.Header.Get("Idempotency-Key") != keys[i] {
					t.Errorf("deploy %d was run %d's; want them in order", i, slices.Index(keys, q.Header.Get("Idempotency-Key")))
				}
				if i > 0 && q.Start.Before(got[i-1].End) {
					t.Errorf("deploys %d and %d overlapped", i-1, i)
				}
			}
		})
	}
}

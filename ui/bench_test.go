package ui_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver store/sqlite uses, to seed the benchmark's rows in bulk

	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/internal/testenv"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
	"github.com/hookd-dev/hookd/ui"
)

// The dashboard's server time on the registry of issue 11: 10,000 tags
// over 50 artifacts, with 100,000 runs and 100,000 deliveries stored.
//
//	go test -run XXX -bench . -benchtime 200x ./ui
//
// Each benchmark reports the p50 and p99 of its requests (ms), measured
// around ServeHTTP: the server's time, without the network.

const (
	benchArtifacts = 50
	benchTags      = 10000
	benchRuns      = 100000
)

var benchStages = []string{"dev", "staging", "prod"}

type bench struct {
	dash   *ui.Handler
	st     *store.Store
	cookie string
}

// newBench stores the tags as ingest would have, and the runs, events and
// deliveries in bulk with SQL (a hundred thousand of each through the
// store's API would take minutes; the rows are the same).
func newBench(b *testing.B) *bench {
	b.Helper()
	testenv.Git(b)
	ctx := context.Background()
	repo := gittest.New(b)
	repo.Commit(".gto", "stages: [dev, staging, prod]\n", "2024-01-01T09:00:00+00:00")
	var index strings.Builder
	for a := range benchArtifacts {
		fmt.Fprintf(&index, "model-%02d:\n  type: model\n  description: benchmark model %d\n", a, a)
	}
	repo.Commit("artifacts.yaml", index.String(), "2024-01-01T09:30:00+00:00")
	head := repo.Git("rev-parse", "HEAD")
	src, err := gitdir.Open(ctx, repo.Dir)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "hookd.db")
	st, err := store.Open(ctx, path, store.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	seed(b, path, head)

	dash := ui.New(ui.Options{Store: st, Sources: func(string) (source.Source, error) { return src, nil }, Logger: quiet})
	dash.SetTokens(ui.Tokens{sha256.Sum256([]byte("admin-token")): admin})
	dash.SetRepositories([]ui.Repository{{Name: repoName, Identity: repoName}})
	bn := &bench{dash: dash, st: st}
	bn.cookie = bn.signIn(b)
	return bn
}

// seed writes the benchmark's rows: per artifact, registrations and
// assignments to the three stages, 200 tags in all; an event per
// assignment, and older ones; two actions' runs per event, 100,000 in
// all; and 100,000 deliveries.
func seed(b *testing.B, path, commit string) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var events int64
	event := func(artifact, version, stage, tag, object string, at time.Time) {
		events++
		exec(`INSERT INTO hookd_event (id, repository, artifact, type, version, stage, commit_sha, tag_name, tag_object_sha,
			tagger_name, tagger_email, tagger_time, tagger_offset, message, delivery_id, active_before, active_after, recorded_at)
			VALUES ($1, $2, $3, 'assignment', $4, $5, $6, $7, $8, 'Ann', 'ann@example.com', $9, 0, '', $10, '[]', $11, $9)`,
			events, repoName, artifact, version, stage, commit, tag, object, at.UnixMicro(), fmt.Sprintf("d-%d", events), `["`+version+`"]`)
	}
	// Older events, whose tags were deleted long ago: they account for
	// most of the runs, as a registry with years of deploys has.
	historical := benchRuns/2 - benchTags/2
	for i := range historical {
		a := i % benchArtifacts
		event(fmt.Sprintf("model-%02d", a), "v0.1.0", benchStages[i%3], fmt.Sprintf("model-%02d#old#%d", a, i), fmt.Sprintf("e%039x", i),
			start.Add(-time.Duration(historical-i)*time.Minute))
	}
	perArtifact := benchTags / benchArtifacts
	for a := range benchArtifacts {
		name := fmt.Sprintf("model-%02d", a)
		counter := 0
		for i := range perArtifact {
			at := start.Add(time.Duration(a*perArtifact+i) * time.Minute)
			object := fmt.Sprintf("%040x", a*perArtifact+i)
			tag, version, stage := "", fmt.Sprintf("v1.%d.0", i/2), ""
			if i%2 == 0 {
				tag = name + "@" + version
			} else {
				counter++
				stage = benchStages[(i/2)%3]
				tag = fmt.Sprintf("%s#%s#%d", name, stage, counter)
			}
			exec(`INSERT INTO hookd_tag (repository, name, object_sha, commit_sha, annotated, tagger_name, tagger_email,
				tagger_time, tagger_offset, message, first_seen) VALUES ($1, $2, $3, $4, true, 'Ann', 'ann@example.com', $5, 0, $6, $5)`,
				repoName, tag, object, commit, at.UnixMicro(), "tag "+tag)
			if stage != "" {
				event(name, version, stage, tag, object, at)
			}
		}
	}
	// Two actions per event; one run in seven failed.
	for i := range int64(benchRuns) {
		status := "succeeded"
		if i%7 == 0 {
			status = "failed"
		}
		exec(`INSERT INTO hookd_run (event_id, action, repository, artifact, stage, idempotency_key, status, attempts, created_at, updated_at)
			SELECT id, $2, repository, artifact, stage, $3, $4, 1, recorded_at, recorded_at + 1000000 FROM hookd_event WHERE id = $1`,
			i/2+1, []string{"deploy", "notify"}[i%2], fmt.Sprintf("%032x", i), status)
		exec(`INSERT INTO hookd_delivery (id, source, event, repository, body, received_at, status, reason, updated_at)
			VALUES ($1, 'github', 'push', $2, '{}', $3, 'processed', '', $3)`, fmt.Sprintf("d-%d", i+1), repoName, start.UnixMicro()+i)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// signIn signs in through the handler and returns the session cookie.
func (bn *bench) signIn(b *testing.B) string {
	b.Helper()
	rec := httptest.NewRecorder()
	bn.dash.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/signin", nil))
	page := rec.Body.String()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.Fatalf("no sign-in form:\n%s", page)
	}
	req := httptest.NewRequest("POST", "/ui/signin", strings.NewReader(url.Values{"csrf": {m[1]}, "token": {"admin-token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	bn.dash.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "hookd_session" {
			return c.Name + "=" + c.Value
		}
	}
	b.Fatalf("sign-in answered %d without a session", rec.Code)
	return ""
}

// get serves one request and returns how long the server took.
func (bn *bench) get(b *testing.B, path string, htmxTarget string) time.Duration {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Cookie", bn.cookie)
	if htmxTarget != "" {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Target", htmxTarget)
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	bn.dash.ServeHTTP(rec, req)
	took := time.Since(start)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body.String())
	}
	return took
}

// measure serves path b.N times after one warm-up request and reports
// the p50 and p99.
func (bn *bench) measure(b *testing.B, path, htmxTarget string, before func()) {
	bn.get(b, path, htmxTarget)
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		if before != nil {
			b.StopTimer()
			before()
			b.StartTimer()
		}
		took = append(took, bn.get(b, path, htmxTarget))
	}
	b.StopTimer()
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[min(len(took)-1, len(took)*99/100)]), "p99-ms")
}

// BenchmarkPages serves each page b.N times; the registry and rows are
// made once, for all of them.
func BenchmarkPages(b *testing.B) {
	bn := newBench(b)
	b.Run("Models", func(b *testing.B) { bn.measure(b, "/ui/", "", nil) })
	b.Run("ModelsPoll", func(b *testing.B) { bn.measure(b, "/ui/", "models-table", nil) })
	b.Run("ModelDetails", func(b *testing.B) { bn.measure(b, "/ui/repos/acme/models/artifacts/model-07", "", nil) })
	b.Run("ModelDetailsPoll", func(b *testing.B) { bn.measure(b, "/ui/repos/acme/models/artifacts/model-07", "model-live", nil) })
	// After a tag changes, the first page view rebuilds the registry
	// from the stored tags; this is that view.
	b.Run("ModelsAfterTagChange", func(b *testing.B) {
		n := 0
		bn.measure(b, "/ui/", "", func() {
			n++
			if _, err := bn.st.UpsertTag(context.Background(), store.Tag{Repository: repoName, Name: fmt.Sprintf("model-00@v9.%d.0", n),
				ObjectSHA: fmt.Sprintf("f%039x", n), CommitSHA: strings.Repeat("0", 40), Annotated: true,
				Tagger: store.Tagger{Name: "Ann", When: time.Now()}}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Runs", func(b *testing.B) { bn.measure(b, "/ui/runs", "", nil) })
	b.Run("RunsDeepPage", func(b *testing.B) { bn.measure(b, "/ui/runs?before=1000", "", nil) })
	b.Run("Deliveries", func(b *testing.B) { bn.measure(b, "/ui/deliveries", "", nil) })
	b.Run("DeliveriesDeepPage", func(b *testing.B) { bn.measure(b, "/ui/deliveries?before=1000", "", nil) })
	b.Run("Audit", func(b *testing.B) { bn.measure(b, "/ui/audit", "", nil) })
}

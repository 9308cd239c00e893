package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

const repoName = "acme/models"

// rig is a processor over a real SQLite store and a real git repository
// that stands for the GitHub repository acme/models.
type rig struct {
	t     *testing.T
	ctx   context.Context
	repo  *gittest.Repo
	store *store.Store
	proc  *ingest.Processor
	seq   int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	repo := gittest.New(t)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sources := func(name string) (source.Source, error) {
		if name != repoName {
			return nil, fmt.Errorf("repository %s not configured", name)
		}
		return gitdir.Open(ctx, repo.Dir)
	}
	return &rig{t: t, ctx: ctx, repo: repo, store: st, proc: ingest.New(st, sources)}
}

func (r *rig) reconcile() {
	r.t.Helper()
	if err := r.proc.Reconcile(r.ctx, repoName); err != nil {
		r.t.Fatal(err)
	}
}

// delivered is a stored delivery and what processing made of it.
type delivered struct {
	store.Delivery
	outcome store.Outcome
}

// accept stores a delivery the way the webhook handler does, and reads it
// back as the store's job would; it is safe to call from any goroutine.
func (r *rig) accept(id string, src store.Source, event string, body any) (store.Delivery, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return store.Delivery{}, err
	}
	d := store.Delivery{ID: id, Source: src, Event: event, Repository: repoName, Body: raw}
	if _, err := r.store.Accept(r.ctx, d); err != nil {
		return d, err
	}
	return r.store.Delivery(r.ctx, d.ID)
}

// deliver stores a delivery and processes it as the store's job would.
func (r *rig) deliver(src store.Source, event string, body any) delivered {
	r.t.Helper()
	r.seq++
	d, err := r.accept(fmt.Sprintf("delivery-%d", r.seq), src, event, body)
	if err != nil {
		r.t.Fatal(err)
	}
	o, err := r.proc.ProcessDelivery(r.ctx, d)
	if err != nil {
		r.t.Fatal(err)
	}
	return delivered{d, o}
}

// pushPayload is GitHub's push event for a created annotated tag.
func (r *rig) pushPayload(tag string) map[string]any {
	object := r.repo.Git("rev-parse", "refs/tags/"+tag)
	commit := r.repo.Git("rev-parse", "refs/tags/"+tag+"^{commit}")
	return map[string]any{
		"ref": "refs/tags/" + tag, "before": strings.Repeat("0", 40), "after": object,
		"created": true, "deleted": false, "head_commit": map[string]any{"id": commit},
		"repository": map[string]any{"full_name": repoName},
	}
}

// events are all the repository's events, oldest first.
func (r *rig) events() []store.Event {
	r.t.Helper()
	var all []store.Event
	for page := (store.Page{Limit: 500}); ; {
		evs, err := r.store.Events(r.ctx, store.EventFilter{Repository: repoName, Page: page})
		if err != nil {
			r.t.Fatal(err)
		}
		all = append(all, evs...)
		if len(evs) < page.Limit {
			break
		}
		page.Before = evs[len(evs)-1].ID
	}
	slices.Reverse(all) // oldest first reads better in assertions
	return all
}

func summary(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s %s %s %v->%v", e.Type, e.Artifact, e.Version, e.Stage, e.ActiveBefore, e.ActiveAfter))
	}
	return out
}

func assertEvents(t *testing.T, got []store.Event, want ...string) {
	t.Helper()
	if s := summary(got); !slices.Equal(s, want) {
		t.Errorf("events:\n got  %q\n want %q", s, want)
	}
}

func TestFirstListingIsABaselineAndLaterTagsBecomeEvents(t *testing.T) {
	r := newRig(t)
	c1 := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-01-02T10:00:00+00:00", "register")
	r.repo.Tag("churn#prod#1", c1, "2024-01-03T10:00:00+00:00", "promote")
	r.reconcile()
	if evs := r.events(); len(evs) != 0 {
		t.Fatalf("the first listing replayed history as events: %q", summary(evs))
	}
	if tags, _ := r.store.Tags(r.ctx, repoName, false); len(tags) != 2 {
		t.Fatalf("baseline stored %d tags, want 2", len(tags))
	}

	c2 := r.repo.Commit("model.txt", "two", "2024-02-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.1.0", c2, "2024-02-02T10:00:00+00:00", "register v1.1.0")
	r.repo.Tag("churn#prod#2", c2, "2024-02-03T10:00:00-05:00", "promote v1.1.0\n\nRequested-by: ci\n")
	r.reconcile()
	evs := r.events()
	assertEvents(t, evs,
		"registration churn v1.1.0  []->[]",
		"assignment churn v1.1.0 prod [v1.0.0]->[v1.1.0]")
	prod := evs[1]
	if prod.CommitSHA != c2 || prod.TagName != "churn#prod#2" || prod.Tagger.Name != gittest.Name ||
		prod.Tagger.Email != gittest.Email || prod.DeliveryID != "" {
		t.Errorf("assignment event fields: %+v", prod)
	}
	if _, off := prod.Tagger.When.Zone(); off != -5*3600 || !prod.Tagger.When.Equal(time.Date(2024, 2, 3, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("tagger time %v lost its instant or offset", prod.Tagger.When)
	}
	if prod.Message != "promote v1.1.0\n\nRequested-by: ci" {
		t.Errorf("message = %q", prod.Message)
	}

	r.reconcile()
	if n := len(r.events()); n != 2 {
		t.Errorf("an unchanged repository produced new events: %d", n)
	}
}

func TestFiveTagsPushedAtOnceAreFoundByOneReconcile(t *testing.T) {
	r := newRig(t)
	r.reconcile() // empty repository: the baseline is empty
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("a@v1.0.0", c, "2024-01-02T10:00:00+00:00", "m")
	r.repo.Tag("b@v1.0.0", c, "2024-01-02T10:00:01+00:00", "m")
	r.repo.Tag("a#dev", c, "2024-01-02T10:00:02+00:00", "m")
	r.repo.Tag("b#dev#1", c, "2024-01-02T10:00:03+00:00", "m")
	r.repo.Tag("a#prod#1", c, "2024-01-02T10:00:04+00:00", "m")
	r.reconcile()
	assertEvents(t, r.events(),
		"registration a v1.0.0  []->[]",
		"registration b v1.0.0  []->[]",
		"assignment a v1.0.0 dev []->[v1.0.0]",
		"assignment b v1.0.0 dev []->[v1.0.0]",
		"assignment a v1.0.0 prod []->[v1.0.0]")
}

func TestOneEventWhateverPathBringsTheTag(t *testing.T) {
	r := newRig(t)
	r.reconcile()
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "register")
	payload := r.pushPayload("churn@v1.0.0")

	first := r.deliver(store.SourceGitHub, "push", payload)
	// GitHub's manual redelivery keeps the id; the store has it already,
	// and processing it again must not add an event.
	if _, err := r.proc.ProcessDelivery(r.ctx, first.Delivery); err != nil {
		t.Fatal(err)
	}
	r.deliver(store.SourceGitHub, "push", payload)
	r.deliver(store.SourceGitHub, "create", map[string]any{"ref": "churn@v1.0.0", "ref_type": "tag"})
	r.deliver(store.SourceGit, "push", r.hookPayload("churn@v1.0.0"))
	r.reconcile()

	evs := r.events()
	assertEvents(t, evs, "registration churn v1.0.0  []->[]")
	if evs[0].DeliveryID != first.ID {
		t.Errorf("event credited to delivery %q, want the first one %q", evs[0].DeliveryID, first.ID)
	}
	if first.outcome.Status != store.DeliveryProcessed {
		t.Errorf("delivery outcome = %+v", first.outcome)
	}
}

// hookPayload is what `hookd hook post-receive` sends for a created tag.
func (r *rig) hookPayload(tag string) map[string]any {
	object := r.repo.Git("rev-parse", "refs/tags/"+tag)
	fields := strings.SplitN(r.repo.Git("for-each-ref", "--format=%(*objectname)%00%(taggername)%00%(taggeremail:trim)%00%(taggerdate:iso-strict)%00%(contents)", "refs/tags/"+tag), "\x00", 5)
	return map[string]any{
		"repository": repoName,
		"updates": []map[string]any{{
			"ref": "refs/tags/" + tag, "old": strings.Repeat("0", 40), "new": object,
			"tag": map[string]any{"name": tag, "target": fields[0], "target_type": "commit",
				"tagger_name": fields[1], "tagger_email": fields[2], "tagger_date": fields[3], "message": fields[4] + "\n"},
		}},
	}
}

func TestHookDeliveryCarriesItsTagObjects(t *testing.T) {
	r := newRig(t)
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v2.0.0-rc.1+b7", c, "2024-01-02T10:00:00+02:00", "rc")
	// No listing happened yet: a hook delivery is not a baseline listing,
	// and the tag it announces gets its event.
	d := r.deliver(store.SourceGit, "push", r.hookPayload("churn@v2.0.0-rc.1+b7"))
	evs := r.events()
	assertEvents(t, evs, "registration churn v2.0.0-rc.1+b7  []->[]")
	if evs[0].DeliveryID != d.ID || evs[0].CommitSHA != c {
		t.Errorf("event = %+v", evs[0])
	}
}

func TestDeliveriesWithNothingToActOnAreIgnoredWithAReason(t *testing.T) {
	r := newRig(t)
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("release-1", c, "2024-01-02T10:00:00+00:00", "not gto")
	r.repo.LightTag("churn@v9.9.9", c)
	cases := []struct {
		event  string
		body   map[string]any
		reason string
	}{
		{"push", map[string]any{"ref": "refs/heads/main", "after": c, "head_commit": map[string]any{"id": c}}, "no tag refs"},
		{"push", r.pushPayload("release-1"), "release-1: not a GTO tag"},
		{"push", map[string]any{"ref": "refs/tags/churn@v9.9.9", "after": c, "head_commit": map[string]any{"id": c}}, "lightweight tag"},
		{"create", map[string]any{"ref": "main", "ref_type": "branch"}, "no tag refs"},
	}
	for _, tc := range cases {
		d := r.deliver(store.SourceGitHub, tc.event, tc.body)
		if d.outcome.Status != store.DeliveryIgnored || !strings.Contains(d.outcome.Reason, tc.reason) {
			t.Errorf("%s %v: %+v; want ignored with %q", tc.event, tc.body["ref"], d.outcome, tc.reason)
		}
		// Ingress stores such a delivery as ignored at once, with no job:
		// it must say what processing would have said.
		pv, err := ingest.PreviewGitHub(tc.event, d.Body)
		if err != nil || pv.Ignore != d.outcome.Reason {
			t.Errorf("%s %v: preview ignores it with %q (%v); processing with %q", tc.event, tc.body["ref"], pv.Ignore, err, d.outcome.Reason)
		}
	}
	// A GTO tag is left to processing: only the listing can tell what it is.
	r.repo.Tag("churn#prod#1", c, "2024-01-03T10:00:00+00:00", "promote")
	push := r.pushPayload("churn#prod#1")
	gto, _ := json.Marshal(push)
	if pv, err := ingest.PreviewGitHub("push", gto); err != nil || pv.Ignore != "" {
		t.Errorf("preview of a GTO tag's push: %+v, %v; want nothing ignored", pv, err)
	} else if a := pv.Announces; a == nil || a.Name != "churn#prod#1" || a.Object != push["after"] {
		// What the store compares with the tag it holds.
		t.Errorf("preview of a GTO tag's push announces %+v; want churn#prod#1 at %v", a, push["after"])
	}
	if evs := r.events(); len(evs) != 0 {
		t.Errorf("ignored deliveries produced events: %q", summary(evs))
	}
}

func TestMalformedPayloadFailsTheDeliveryWithoutRetrying(t *testing.T) {
	r := newRig(t)
	d := r.deliver(store.SourceGit, "push", map[string]any{"updates": "not a list"})
	if d.outcome.Status != store.DeliveryFailed || !strings.Contains(d.outcome.Reason, "malformed git push") {
		t.Errorf("outcome %+v", d.outcome)
	}
}

func TestDeletedTagsAreRecordedAndLeaveTheState(t *testing.T) {
	r := newRig(t)
	r.reconcile()
	c1 := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	c2 := r.repo.Commit("model.txt", "two", "2024-01-02T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-02-01T10:00:00+00:00", "m")
	r.repo.Tag("churn@v2.0.0", c2, "2024-02-02T10:00:00+00:00", "m")
	r.repo.Tag("churn#prod#1", c1, "2024-02-03T10:00:00+00:00", "m")
	r.repo.Tag("churn#prod#2", c2, "2024-02-04T10:00:00+00:00", "m")
	r.reconcile()

	r.repo.Git("tag", "-d", "churn#prod#2")
	d := r.deliver(store.SourceGitHub, "push", map[string]any{
		"ref": "refs/tags/churn#prod#2", "after": strings.Repeat("0", 40), "deleted": true, "head_commit": nil,
	})
	evs := r.events()
	last := evs[len(evs)-1]
	assertEvents(t, evs[len(evs)-1:], "tag_deleted churn v2.0.0 prod [v2.0.0]->[v1.0.0]")
	if last.DeliveryID != d.ID || last.TagName != "churn#prod#2" {
		t.Errorf("deletion event = %+v", last)
	}
	tags, err := r.store.Tags(r.ctx, repoName, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags {
		if tg.Name == "churn#prod#2" {
			t.Errorf("deleted tag still listed as present")
		}
	}

	// A reconcile after a deletion nobody announced finds it too, once.
	r.repo.Git("tag", "-d", "churn@v1.0.0")
	r.reconcile()
	r.reconcile()
	assertEvents(t, r.events()[len(evs):], "tag_deleted churn v1.0.0  []->[]")
}

func TestAssignmentAtAnUnregisteredCommitIsNamedByTheCommit(t *testing.T) {
	r := newRig(t)
	r.reconcile()
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("models/churn=rf#prod#1", c, "2024-01-02T10:00:00+00:00", "m")
	r.reconcile()
	assertEvents(t, r.events(), fmt.Sprintf("assignment models/churn:rf %s prod []->[%s]", c, c))
}

func TestEveryEventIsDispatchedBeforeItsTagIsStored(t *testing.T) {
	r := newRig(t)
	var (
		dispatched []int64
		failing    = true
	)
	sources := func(string) (source.Source, error) { return gitdir.Open(r.ctx, r.repo.Dir) }
	r.proc = ingest.New(r.store, sources, ingest.WithDispatch(func(_ context.Context, evs []store.Event) error {
		for _, e := range evs {
			dispatched = append(dispatched, e.ID)
		}
		if failing {
			return fmt.Errorf("deploy queue unavailable")
		}
		return nil
	}))
	r.reconcile()
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "m")

	if err := r.proc.Reconcile(r.ctx, repoName); err == nil || !strings.Contains(err.Error(), "deploy queue unavailable") {
		t.Fatalf("a failed dispatch did not fail the sync: %v", err)
	}
	if tags, _ := r.store.Tags(r.ctx, repoName, false); len(tags) != 0 {
		t.Fatalf("the tag was stored although its event was not dispatched")
	}
	failing = false
	r.reconcile()
	r.reconcile()
	evs := r.events()
	if len(evs) != 1 || !slices.Equal(dispatched, []int64{evs[0].ID, evs[0].ID}) {
		t.Errorf("dispatched %v for events %q; want the one event twice (failed, then retried) and no more", dispatched, summary(evs))
	}
}

func TestMetricsCountEventsByTypeAndTimeDeliveries(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	sources := func(string) (source.Source, error) { return gitdir.Open(r.ctx, r.repo.Dir) }
	r.proc = ingest.New(r.store, sources, ingest.WithMetrics(reg))
	r.reconcile()
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "m")
	r.repo.Tag("churn#prod", c, "2024-01-03T10:00:00+00:00", "m")
	r.deliver(store.SourceGitHub, "push", r.pushPayload("churn@v1.0.0"))
	r.deliver(store.SourceGitHub, "push", r.pushPayload("churn#prod"))

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "hookd_events_total":
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			case "hookd_delivery_processing_seconds":
				got["timed deliveries"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{"registration": 1, "assignment": 1, "timed deliveries": 2}
	if !maps.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}

func TestHookDeliveryKeepsGoodTagsWhenOneCannotBeRead(t *testing.T) {
	r := newRig(t)
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "m")
	payload := r.hookPayload("churn@v1.0.0")
	// A second tag object written without a tagger line (git allows it).
	payload["updates"] = append(payload["updates"].([]map[string]any), map[string]any{
		"ref": "refs/tags/churn@v2.0.0", "old": strings.Repeat("0", 40), "new": strings.Repeat("a", 40),
		"tag": map[string]any{"name": "churn@v2.0.0", "target": c, "target_type": "commit", "message": "no tagger\n"},
	})
	d := r.deliver(store.SourceGit, "push", payload)
	if d.outcome.Status != store.DeliveryProcessed {
		t.Errorf("outcome %+v: one unreadable tag failed the whole delivery", d.outcome)
	}
	assertEvents(t, r.events(), "registration churn v1.0.0  []->[]")
}

// A GitHub delete delivery that arrives after the tag was pushed again
// does not delete it: the listing, taken while the repository is held, is
// the truth.
func TestLateDeleteDeliveryDoesNotDeleteARecreatedTag(t *testing.T) {
	r := newRig(t)
	r.reconcile()
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "m")
	r.reconcile()
	r.deliver(store.SourceGitHub, "delete", map[string]any{"ref": "churn@v1.0.0", "ref_type": "tag"})
	if evs := r.events(); len(evs) != 1 || evs[0].Type != store.EventRegistration {
		t.Errorf("a stale delete delivery changed the registry: %q", summary(evs))
	}
	if tags, _ := r.store.Tags(r.ctx, repoName, false); len(tags) != 1 {
		t.Errorf("stored tags: %d, want 1", len(tags))
	}
}

// A burst of deliveries for one repository costs one listing, not one
// each: a delivery received (a clock skew's margin) before a listing that
// has been applied needs none of its own, and its tags have their events.
func TestDeliveriesCoveredByALaterListingDoNotListAgain(t *testing.T) {
	r := newRig(t)
	listings := 0
	sources := func(name string) (source.Source, error) {
		src, err := gitdir.Open(r.ctx, r.repo.Dir)
		return countingSource{src, &listings}, err
	}
	r.proc = ingest.New(r.store, sources)
	r.reconcile() // the baseline
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "register")
	r.repo.Tag("churn#prod#1", c, "2024-01-02T10:00:01+00:00", "promote")

	// Two deliveries stored two seconds ago, processed now: the first
	// lists, the second is covered by that listing.
	var stored []store.Delivery
	for i, tag := range []string{"churn@v1.0.0", "churn#prod#1"} {
		raw, _ := json.Marshal(r.pushPayload(tag))
		d := store.Delivery{ID: fmt.Sprintf("burst-%d", i), Source: store.SourceGitHub, Event: "push", Repository: repoName,
			Body: raw, ReceivedAt: time.Now().Add(-2 * time.Second)}
		if _, err := r.store.Accept(r.ctx, d); err != nil {
			t.Fatal(err)
		}
		d, err := r.store.Delivery(r.ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, d)
	}
	before := listings
	for _, d := range stored {
		o, err := r.proc.ProcessDelivery(r.ctx, d)
		if err != nil || o.Status != store.DeliveryProcessed {
			t.Fatalf("delivery %s: %+v %v", d.ID, o, err)
		}
	}
	if got := listings - before; got != 1 {
		t.Errorf("%d listings for two deliveries received before the first of them, want 1", got)
	}
	assertEvents(t, r.events(), "registration churn v1.0.0  []->[]", "assignment churn v1.0.0 prod []->[v1.0.0]")

	// A delivery received just now (within the clock skew margin of the
	// last listing) lists again: its tag may be newer than that listing.
	r.repo.Tag("churn#dev#2", c, "2024-01-02T10:00:02+00:00", "dev")
	before = listings
	r.deliver(store.SourceGitHub, "push", r.pushPayload("churn#dev#2"))
	if got := listings - before; got != 1 {
		t.Errorf("%d listings for a fresh delivery, want 1", got)
	}
	if evs := r.events(); len(evs) != 3 {
		t.Errorf("events %q, want the dev assignment too", summary(evs))
	}
}

// countingSource counts full listings.
type countingSource struct {
	source.Source
	n *int
}

func (c countingSource) Tags(ctx context.Context) ([]registry.Tag, error) {
	*c.n++
	return c.Source.Tags(ctx)
}

// gto assign NAME REF creates the registration and the assignment within
// one second; whatever their names sort as, the assignment's event names
// the version registered with it, as GTO orders events of one moment
// registration first.
func TestTagsOfOneSecondApplyRegistrationFirst(t *testing.T) {
	r := newRig(t)
	r.reconcile()
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	// '#' sorts before '@': by name the assignment would come first.
	r.repo.Tag("churn@v2.0.0", c, "2024-01-02T10:00:00+00:00", "register")
	r.repo.Tag("churn#staging#1", c, "2024-01-02T10:00:00+00:00", "assign")
	r.reconcile()
	assertEvents(t, r.events(), "registration churn v2.0.0  []->[]", "assignment churn v2.0.0 staging []->[v2.0.0]")
}

// Deliveries accepted before hookd's first listing of a repository, and
// still queued when that listing (a baseline) runs first, keep their tags'
// events: the baseline stores the rest as history, and the deliveries,
// processed after it, add nothing twice.
func TestBaselineKeepsTheTagsOfQueuedDeliveries(t *testing.T) {
	r := newRig(t)
	c1 := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	c2 := r.repo.Commit("model.txt", "two", "2024-01-05T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-01-02T10:00:00+00:00", "history")
	r.repo.Tag("churn#dev#1", c1, "2024-01-03T10:00:00+00:00", "history")
	r.repo.Tag("churn#prod#2", c1, "2024-01-04T10:00:00+00:00", "announced by GitHub")
	r.repo.Tag("churn@v1.1.0", c2, "2024-01-06T10:00:00+00:00", "announced by the hook")
	github, err := r.accept("queued-github", store.SourceGitHub, "push", r.pushPayload("churn#prod#2"))
	if err != nil {
		t.Fatal(err)
	}
	hook, err := r.accept("queued-hook", store.SourceGit, "push", r.hookPayload("churn@v1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	// A queued delivery of another repository, or one about a deletion,
	// announces nothing here.
	if _, err := r.accept("queued-deletion", store.SourceGitHub, "push", map[string]any{
		"ref": "refs/tags/churn#dev#1", "after": strings.Repeat("0", 40), "deleted": true,
	}); err != nil {
		t.Fatal(err)
	}
	other := store.Delivery{ID: "queued-elsewhere", Source: store.SourceGitHub, Event: "push", Repository: "acme/other",
		Body: []byte(`{"ref":"refs/tags/churn#dev#1","after":"` + strings.Repeat("1", 40) + `"}`)}
	if _, err := r.store.Accept(r.ctx, other); err != nil {
		t.Fatal(err)
	}

	r.reconcile() // the baseline runs before the deliveries
	want := []string{
		"assignment churn v1.0.0 prod []->[v1.0.0]",
		"registration churn v1.1.0  []->[]",
	}
	assertEvents(t, r.events(), want...)
	for _, d := range []store.Delivery{github, hook} {
		if o, err := r.proc.ProcessDelivery(r.ctx, d); err != nil || o.Status != store.DeliveryProcessed {
			t.Fatalf("delivery %s after the baseline: %+v %v", d.ID, o, err)
		}
	}
	r.reconcile()
	assertEvents(t, r.events(), want...)
}

// A repository reported by its path (a delivery or a reconciliation that
// an older hookd queued) is recorded under its name.
func TestRepositoryReportedByItsPathIsRecordedByItsName(t *testing.T) {
	r := newRig(t)
	const path = "/srv/git/models.git"
	sources := func(name string) (source.Source, error) {
		if name != repoName {
			return nil, fmt.Errorf("repository %s not configured", name)
		}
		return gitdir.Open(r.ctx, r.repo.Dir)
	}
	r.proc = ingest.New(r.store, sources, ingest.WithRepositoryNames(func(reported string) string {
		if reported == path {
			return repoName
		}
		return reported
	}))
	if err := r.proc.Reconcile(r.ctx, path); err != nil {
		t.Fatal(err)
	}
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "m")
	raw, _ := json.Marshal(r.hookPayload("churn@v1.0.0"))
	d := store.Delivery{ID: "queued-by-an-older-hookd", Source: store.SourceGit, Event: "push", Repository: path, Body: raw}
	if _, err := r.store.Accept(r.ctx, d); err != nil {
		t.Fatal(err)
	}
	d, err := r.store.Delivery(r.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := r.proc.ProcessDelivery(r.ctx, d); err != nil || o.Status != store.DeliveryProcessed {
		t.Fatalf("%+v %v", o, err)
	}
	assertEvents(t, r.events(), "registration churn v1.0.0  []->[]")
	if l, _ := r.store.Listing(r.ctx, repoName); l.ListedAt.IsZero() {
		t.Error("the reconciliation by path did not list the repository under its name")
	}
}

// A burst of new tags is written in batches (each batch's events recorded
// and dispatched, then its tags stored), and what GTO shows carries across
// them: 450 tags in one listing, prod flipping between two versions with
// each assignment, and a dispatch that fails once in the middle. The retry
// records nothing twice and loses nothing.
func TestABurstOfNewTagsIsWrittenInBatches(t *testing.T) {
	r := newRig(t)
	var (
		batches    []int
		dispatched = map[int64]int{}
		failed     bool
	)
	sources := func(string) (source.Source, error) { return gitdir.Open(r.ctx, r.repo.Dir) }
	r.proc = ingest.New(r.store, sources, ingest.WithDispatch(func(_ context.Context, evs []store.Event) error {
		batches = append(batches, len(evs))
		for _, e := range evs {
			dispatched[e.ID]++
		}
		if len(batches) == 2 && !failed {
			failed = true
			return fmt.Errorf("deploy queue unavailable")
		}
		return nil
	}))
	r.reconcile() // the baseline of an empty repository
	c1 := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	c2 := r.repo.Commit("model.txt", "two", "2024-01-01T11:00:00+00:00")
	at := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	date := func(i int) string { return at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339) }
	r.repo.Tag("m@v1.0.0", c1, date(0), "m")
	r.repo.Tag("m@v1.1.0", c2, date(1), "m")
	const assignments = 448
	want := []string{"registration m v1.0.0  []->[]", "registration m v1.1.0  []->[]"}
	for k := 1; k <= assignments; k++ {
		commit, version, previous := c1, "v1.0.0", "v1.1.0"
		if k%2 == 0 {
			commit, version, previous = c2, "v1.1.0", "v1.0.0"
		}
		r.repo.Tag(fmt.Sprintf("m#prod#%d", k), commit, date(1+k), "m")
		before := "[" + previous + "]"
		if k == 1 {
			before = "[]"
		}
		want = append(want, fmt.Sprintf("assignment m %s prod %s->[%s]", version, before, version))
	}

	if err := r.proc.Reconcile(r.ctx, repoName); err == nil || !strings.Contains(err.Error(), "deploy queue unavailable") {
		t.Fatalf("a failed dispatch did not fail the sync: %v", err)
	}
	if tags, _ := r.store.Tags(r.ctx, repoName, false); len(tags) != 200 {
		t.Fatalf("after the second batch failed, %d tags stored; want the first batch's 200", len(tags))
	}
	r.reconcile()
	got := summary(r.events())
	if i := firstDifference(got, want); i >= 0 {
		t.Fatalf("%d events, want %d; from event %d on:\n got  %q\n want %q", len(got), len(want), i,
			got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
	}
	if tags, _ := r.store.Tags(r.ctx, repoName, false); len(tags) != 2+assignments {
		t.Errorf("%d tags stored, want %d", len(tags), 2+assignments)
	}
	// 200 + 200 (failed) + the retry: the failed batch again, then the rest.
	if !slices.Equal(batches, []int{200, 200, 200, 50}) {
		t.Errorf("dispatched batches of %v events; want [200 200 200 50]", batches)
	}
	twice := 0
	for _, n := range dispatched {
		if n == 2 {
			twice++
		}
	}
	if len(dispatched) != 2+assignments || twice != 200 {
		t.Errorf("%d events dispatched, %d of them twice; want %d, and the failed batch's 200 twice", len(dispatched), twice, 2+assignments)
	}
}

// firstDifference is the index where a and b first differ, or -1.
func firstDifference(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

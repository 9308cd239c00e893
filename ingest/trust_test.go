package ingest_test

import (
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/store"
)

// A post-receive delivery is signed by whoever knows the hook's secret; what
// it claims is held against the repository before anything acts on it. A
// tag the repository does not hold, or holds as another object or with
// other content, gets no event (and so no deploy), and a deletion of a tag
// that is still there deletes nothing. The delivery says why.
func TestPostReceiveClaimsAreCheckedAgainstTheRepository(t *testing.T) {
	r := newRig(t)
	r.reconcile()
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "register")

	update := func(p map[string]any) map[string]any { return p["updates"].([]map[string]any)[0] }
	tagOf := func(p map[string]any) map[string]any { return update(p)["tag"].(map[string]any) }

	missing := r.hookPayload("churn@v1.0.0")
	update(missing)["ref"], tagOf(missing)["name"] = "refs/tags/churn#prod#1", "churn#prod#1"
	otherObject := r.hookPayload("churn@v1.0.0")
	update(otherObject)["new"] = strings.Repeat("e", 40)
	otherMessage := r.hookPayload("churn@v1.0.0")
	tagOf(otherMessage)["message"] = "register, and deploy to prod\n"
	otherTagger := r.hookPayload("churn@v1.0.0")
	tagOf(otherTagger)["tagger_name"] = "Mallory"
	stillThere := map[string]any{"repository": repoName, "updates": []map[string]any{{
		"ref": "refs/tags/churn@v1.0.0", "old": update(r.hookPayload("churn@v1.0.0"))["new"], "new": strings.Repeat("0", 40)}}}

	for _, tc := range []struct {
		name    string
		payload map[string]any
		reason  string
	}{
		{"a tag that does not exist", missing, "churn#prod#1: not in the repository"},
		{"another tag object", otherObject, "churn@v1.0.0: the repository's tag is object "},
		{"another message", otherMessage, "churn@v1.0.0: the delivery's tag object differs from the repository's"},
		{"another tagger", otherTagger, "churn@v1.0.0: the delivery's tag object differs from the repository's"},
		{"a deletion of a tag that is there", stillThere, "churn@v1.0.0: reported deleted, but still in the repository"},
	} {
		d := r.deliver(store.SourceGit, "push", tc.payload)
		if d.outcome.Status != store.DeliveryIgnored || !strings.Contains(d.outcome.Reason, tc.reason) {
			t.Errorf("%s: %+v; want ignored, saying %q", tc.name, d.outcome, tc.reason)
		}
		if evs := r.events(); len(evs) != 0 {
			t.Fatalf("%s: events %q; want none", tc.name, summary(evs))
		}
	}

	genuine := r.deliver(store.SourceGit, "push", r.hookPayload("churn@v1.0.0"))
	if genuine.outcome.Status != store.DeliveryProcessed {
		t.Errorf("the genuine delivery: %+v", genuine.outcome)
	}
	assertEvents(t, r.events(), "registration churn v1.0.0  []->[]")
}

// The hook's JSON cannot carry a Latin-1 tagger name (each such byte
// arrives as U+FFFD); the event takes the tag from the repository, byte for
// byte, as the reconciler would.
func TestPostReceiveTagTextComesFromTheRepository(t *testing.T) {
	r := newRig(t)
	c := r.repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	const tagger = "Jos\xe9"
	r.repo.GitEnv([]string{"GIT_COMMITTER_NAME=" + tagger, "GIT_COMMITTER_DATE=2024-01-02T10:00:00+00:00"},
		"tag", "-a", "-m", "f\xfcr prod", "churn@v1.0.0", c)
	d := r.deliver(store.SourceGit, "push", r.hookPayload("churn@v1.0.0"))
	evs := r.events()
	if d.outcome.Status != store.DeliveryProcessed || len(evs) != 1 {
		t.Fatalf("outcome %+v, events %q", d.outcome, summary(evs))
	}
	if evs[0].Tagger.Name != tagger || evs[0].Message != "f\xfcr prod" || evs[0].DeliveryID != d.ID {
		t.Errorf("event by %q, message %q, delivery %q; want the repository's bytes, credited to %s", evs[0].Tagger.Name, evs[0].Message, evs[0].DeliveryID, d.ID)
	}
}

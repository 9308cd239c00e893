package githubtest_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ghhooks "github.com/go-playground/webhooks/v6/github"
	"github.com/google/go-github/v60/github"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// Fact: X-Hub-Signature-256 is sha256=<lowercase hex HMAC-SHA256 of the body>,
// with GitHub's published test vector.
func TestSignatureMatchesGitHubTestVector(t *testing.T) {
	got := githubtest.Signature256("It's a Secret to Everybody", []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Fatalf("Signature256 = %s, want %s", got, want)
	}
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Fact: a ping is sent when a hook is created, with GitHub's delivery
// headers, signed with the hook's secret.
func TestAddHookSendsSignedPingWithGitHubHeaders(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	rc := newReceiver(t)
	id := gh.AddHook(rc.srv.URL, hookSecret)
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := rc.since(0)
	if len(got) != 1 || got[0].event() != "ping" {
		t.Fatalf("want one ping, got %d deliveries", len(got))
	}
	h, body := got[0].header, got[0].body
	if sig := h.Get("X-Hub-Signature-256"); sig != githubtest.Signature256(hookSecret, body) {
		t.Errorf("X-Hub-Signature-256 = %q does not sign the body", sig)
	}
	if !strings.HasPrefix(h.Get("X-Hub-Signature"), "sha1=") {
		t.Errorf("X-Hub-Signature = %q, want the legacy sha1= header too", h.Get("X-Hub-Signature"))
	}
	if !guidRE.MatchString(h.Get("X-GitHub-Delivery")) {
		t.Errorf("X-GitHub-Delivery = %q, want a GUID", h.Get("X-GitHub-Delivery"))
	}
	if h.Get("X-GitHub-Hook-ID") != strconv.FormatInt(id, 10) {
		t.Errorf("X-GitHub-Hook-ID = %q, want %d", h.Get("X-GitHub-Hook-ID"), id)
	}
	if !strings.HasPrefix(h.Get("User-Agent"), "GitHub-Hookshot/") {
		t.Errorf("User-Agent = %q", h.Get("User-Agent"))
	}
	if h.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
	if p := got[0].decode(t); p["hook_id"] != float64(id) || str(p, "repository.full_name") != gh.FullName() {
		t.Errorf("ping payload hook_id=%v repository=%q", p["hook_id"], str(p, "repository.full_name"))
	}
}

// parsePush runs a delivery through go-playground/webhooks, the parser hookd
// uses, which also checks the signature.
func parsePush(t *testing.T, r received) ghhooks.PushPayload {
	t.Helper()
	hook, err := ghhooks.New(ghhooks.Options.Secret(hookSecret))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(r.body))
	req.Header = r.header.Clone()
	parsed, err := hook.Parse(req, ghhooks.PushEvent)
	if err != nil {
		t.Fatalf("go-playground/webhooks rejects the push: %v", err)
	}
	return parsed.(ghhooks.PushPayload)
}

const zeros = "0000000000000000000000000000000000000000"

// Fact: an annotated tag push is one push event with after = the tag
// object and head_commit = the tagged commit, plus a create event.
func TestAnnotatedTagPushPayload(t *testing.T) {
	f := newFixture(t, githubtest.Options{Owner: "acme", Name: "models"})
	commit := f.work.git("rev-parse", "HEAD")
	tagSHA := f.work.annotate("churn-model@v1.2.0", "Registering churn-model v1.2.0")

	got := f.pushAndCollect(t, "refs/tags/churn-model@v1.2.0")
	pushes, creates := eventsOf(got, "push"), eventsOf(got, "create")
	if len(pushes) != 1 || len(creates) != 1 || len(got) != 2 {
		t.Fatalf("want 1 push + 1 create, got %d deliveries", len(got))
	}
	p := parsePush(t, pushes[0])
	if p.Ref != "refs/tags/churn-model@v1.2.0" || p.Before != zeros || p.After != tagSHA {
		t.Errorf("ref=%s before=%s after=%s, want after = tag object %s", p.Ref, p.Before, p.After, tagSHA)
	}
	if !p.Created || p.Deleted || p.HeadCommit.ID != commit || len(p.Commits) != 0 {
		t.Errorf("created=%v deleted=%v head_commit.id=%s commits=%d, want head_commit %s", p.Created, p.Deleted, p.HeadCommit.ID, len(p.Commits), commit)
	}
	if p.Repository.FullName != "acme/models" || p.Repository.Name != "models" || p.Repository.Owner.Login != "acme" || p.Repository.DefaultBranch != "main" {
		t.Errorf("repository = %+v", p.Repository)
	}
	if m := pushes[0].decode(t); str(m, "repository.owner.name") != "acme" || str(m, "pusher.name") == "" || str(m, "sender.login") != "acme" {
		t.Errorf("owner.name=%q pusher=%q sender=%q", str(m, "repository.owner.name"), str(m, "pusher.name"), str(m, "sender.login"))
	}
	c := creates[0].decode(t)
	if c["ref"] != "churn-model@v1.2.0" || c["ref_type"] != "tag" {
		t.Errorf("create ref=%v ref_type=%v, want the short name and tag", c["ref"], c["ref_type"])
	}
}

// Fact: for a lightweight tag, after is the commit itself.
func TestLightweightTagPushPayload(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	commit := f.work.git("rev-parse", "HEAD")
	f.work.git("tag", "scratch")
	pushes := eventsOf(f.pushAndCollect(t, "refs/tags/scratch"), "push")
	if len(pushes) != 1 {
		t.Fatalf("want one push, got %d", len(pushes))
	}
	p := parsePush(t, pushes[0])
	if p.After != commit || p.HeadCommit.ID != commit || !p.Created {
		t.Errorf("after=%s head_commit.id=%s created=%v, want both %s", p.After, p.HeadCommit.ID, p.Created, commit)
	}
}

// Fact: deleting a tag sends after=0…0, deleted:true, head_commit:null,
// commits:[] and a delete event.
func TestTagDeletionPayload(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	tagSHA := f.work.annotate("churn-model#prod#1", "Assigning prod")
	f.pushAndCollect(t, "refs/tags/churn-model#prod#1")

	got := f.pushAndCollect(t, ":refs/tags/churn-model#prod#1")
	pushes, deletes := eventsOf(got, "push"), eventsOf(got, "delete")
	if len(pushes) != 1 || len(deletes) != 1 || len(got) != 2 {
		t.Fatalf("want 1 push + 1 delete, got %d deliveries", len(got))
	}
	m := pushes[0].decode(t)
	if m["before"] != tagSHA || m["after"] != zeros || m["deleted"] != true || m["created"] != false {
		t.Errorf("before=%v after=%v deleted=%v created=%v", m["before"], m["after"], m["deleted"], m["created"])
	}
	if hc, ok := m["head_commit"]; !ok || hc != nil {
		t.Errorf("head_commit = %v, want null", hc)
	}
	if commits, ok := m["commits"].([]any); !ok || len(commits) != 0 {
		t.Errorf("commits = %v, want []", m["commits"])
	}
	d := deletes[0].decode(t)
	if d["ref"] != "churn-model#prod#1" || d["ref_type"] != "tag" {
		t.Errorf("delete ref=%v ref_type=%v", d["ref"], d["ref_type"])
	}
}

// Fact: a push of more than three tags sends no push/create events for
// them at all, while the tags do land.
func TestPushOfFourTagsSendsNoEvents(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	names := []string{"a@v1.0.0", "b@v1.0.0", "c@v1.0.0", "d@v1.0.0"}
	for _, n := range names {
		f.work.annotate(n, "Registering "+n)
	}
	if got := f.pushAndCollect(t, "--tags"); len(got) != 0 {
		t.Fatalf("a push of 4 tags delivered %d webhooks, want none", len(got))
	}
	refs, _, err := newClient(t, f.gh).Git.ListMatchingRefs(ctx(t), "octo-org", "models", &github.ReferenceListOptions{Ref: "tags"})
	if err != nil || len(refs) != 4 {
		t.Fatalf("matching-refs after the silent push: %d refs, err %v; want the 4 tags", len(refs), err)
	}
}

// Fact: up to three tags in one push each get a push and a create event.
func TestPushOfThreeTagsSendsEachEvent(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	want := map[string]string{}
	for _, n := range []string{"a@v1.0.0", "b@v1.0.0", "c#prod"} {
		want["refs/tags/"+n] = f.work.annotate(n, "tag "+n)
	}
	got := f.pushAndCollect(t, "--tags")
	pushes, creates := eventsOf(got, "push"), eventsOf(got, "create")
	if len(pushes) != 3 || len(creates) != 3 {
		t.Fatalf("got %d push and %d create events, want 3 each", len(pushes), len(creates))
	}
	for _, r := range pushes {
		p := parsePush(t, r)
		if want[p.Ref] != p.After {
			t.Errorf("push for %s has after=%s, want %s", p.Ref, p.After, want[p.Ref])
		}
		delete(want, p.Ref)
	}
	if len(want) != 0 {
		t.Errorf("no push event for %v", want)
	}
}

// A branch push reports the commits it brought; a new branch also gets a
// create event with ref_type branch.
func TestBranchPushPayload(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	before := f.work.git("rev-parse", "HEAD")
	f.work.commit("model.yaml", "name: churn\nversion: 2\n", "Bump churn")
	after := f.work.commit("docs/README.md", "hi\n", "Add docs")

	got := f.pushAndCollect(t, "main")
	if len(got) != 1 || got[0].event() != "push" {
		t.Fatalf("want a single push event, got %d deliveries", len(got))
	}
	p := parsePush(t, got[0])
	if p.Ref != "refs/heads/main" || p.Before != before || p.After != after || p.Created || p.Forced {
		t.Errorf("ref=%s before=%s after=%s created=%v forced=%v", p.Ref, p.Before, p.After, p.Created, p.Forced)
	}
	if len(p.Commits) != 2 || p.Commits[0].Message != "Bump churn" || p.Commits[1].ID != after || p.HeadCommit.ID != after {
		t.Fatalf("commits = %+v", p.Commits)
	}
	c0, c1 := p.Commits[0], p.Commits[1]
	if len(c0.Modified) != 1 || c0.Modified[0] != "model.yaml" || len(c1.Added) != 1 || c1.Added[0] != "docs/README.md" {
		t.Errorf("modified=%v added=%v", c0.Modified, c1.Added)
	}
	if c0.Author.Name != "Ada Lovelace" || c0.Author.Email != "ada@example.com" || c0.Timestamp != "2024-03-01T10:00:00+01:00" {
		t.Errorf("author=%+v timestamp=%s", c0.Author, c0.Timestamp)
	}

	f.work.git("checkout", "--quiet", "-b", "feature")
	f.work.commit("feature.txt", "x\n", "Feature work")
	got = f.pushAndCollect(t, "feature")
	creates := eventsOf(got, "create")
	if len(creates) != 1 || creates[0].decode(t)["ref"] != "feature" || creates[0].decode(t)["ref_type"] != "branch" {
		t.Fatalf("want a create event for branch feature, got %d", len(creates))
	}
	if p := parsePush(t, eventsOf(got, "push")[0]); !p.Created || len(p.Commits) != 1 || p.Commits[0].Message != "Feature work" {
		t.Errorf("new branch push created=%v commits=%d, want only the commit main lacks", p.Created, len(p.Commits))
	}
}

// Unconfirmed fact: tags created through the REST API may or may not
// emit webhooks; Options.RESTTagEvents chooses.
func TestRESTCreatedTagEventsFollowTheSwitch(t *testing.T) {
	for _, emit := range []bool{false, true} {
		t.Run(strconv.FormatBool(emit), func(t *testing.T) {
			f := newFixture(t, githubtest.Options{RESTTagEvents: emit})
			c := newClient(t, f.gh)
			commit := f.work.git("rev-parse", "HEAD")
			n := f.rc.count()
			tagSHA := createAnnotated(t, c, "churn-model#prod#2", commit)
			f.settle(t)
			got := f.rc.since(n)
			if !emit {
				if len(got) != 0 {
					t.Fatalf("got %d webhooks with RESTTagEvents off", len(got))
				}
				return
			}
			pushes := eventsOf(got, "push")
			if len(pushes) != 1 || len(eventsOf(got, "create")) != 1 {
				t.Fatalf("want 1 push + 1 create, got %d deliveries", len(got))
			}
			if p := parsePush(t, pushes[0]); p.After != tagSHA || p.HeadCommit.ID != commit {
				t.Errorf("after=%s head_commit=%s", p.After, p.HeadCommit.ID)
			}
		})
	}
}

// Fact: a redelivery keeps the GUID, through the Go API and through
// POST .../deliveries/{id}/attempts.
func TestRedeliveryKeepsTheGUID(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	rc := newReceiver(t)
	hookID := gh.AddHook(rc.srv.URL, hookSecret)
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	first := gh.Deliveries()[0]

	again, err := gh.Redeliver(hookID, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.GUID != first.GUID || again.ID == first.ID || !again.Redelivery || again.StatusCode != http.StatusAccepted {
		t.Errorf("redelivery = %+v, want same GUID %s, new id, redelivery, 202 from receiver", again, first.GUID)
	}

	c := newClient(t, gh)
	_, _, err = c.Repositories.RedeliverHookDelivery(ctx(t), "octo-org", "models", hookID, first.ID)
	var accepted *github.AcceptedError
	if !errors.As(err, &accepted) {
		t.Fatalf("RedeliverHookDelivery: %v, want GitHub's 202 Accepted", err)
	}
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := rc.since(0)
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want the ping and 2 redeliveries", len(got))
	}
	for _, r := range got {
		if r.header.Get("X-GitHub-Delivery") != first.GUID {
			t.Errorf("X-GitHub-Delivery = %s, want %s", r.header.Get("X-GitHub-Delivery"), first.GUID)
		}
	}
	list, _, err := c.Repositories.ListHookDeliveries(ctx(t), "octo-org", "models", hookID, nil)
	if err != nil || len(list) != 3 || list[0].GetGUID() != first.GUID || !list[0].GetRedelivery() {
		t.Errorf("ListHookDeliveries = %d entries, err %v", len(list), err)
	}
}

// Fact: GitHub waits a bounded time (10 s; configurable here) for the
// receiver, then counts the delivery failed and does not retry.
func TestSlowReceiverTimesOutWithoutRetry(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{DeliveryTimeout: 200 * time.Millisecond})
	calls, release := make(chan struct{}, 10), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls <- struct{}{}
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the sender hanging up
		select {                           // answers only after the sender gave up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	gh.AddHook(slow.URL, hookSecret)
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	d := gh.Deliveries()
	if len(d) != 1 || d[0].StatusCode != 0 || d[0].Err != "timed out" {
		t.Fatalf("deliveries = %+v, want one timed-out attempt", d)
	}
	if len(calls) != 1 {
		t.Errorf("receiver was called %d times, want exactly once (no retry)", len(calls))
	}
}

// faultFixture pushes one annotated tag (a push and a create delivery)
// with a delivery fault armed, and returns what the receiver got.
func faultFixture(t *testing.T, fault githubtest.DeliveryFault) (*fixture, []received) {
	f := newFixture(t, githubtest.Options{})
	f.work.annotate("churn-model@v2.0.0", "v2")
	f.gh.InjectDeliveryFault(fault)
	return f, f.pushAndCollect(t, "refs/tags/churn-model@v2.0.0")
}

func events(rs []received) string {
	var names []string
	for _, r := range rs {
		names = append(names, r.event())
	}
	return strings.Join(names, ",")
}

func TestDropDeliveryFault(t *testing.T) {
	f, got := faultFixture(t, githubtest.DeliveryFault{Kind: githubtest.DropDelivery, Event: "push"})
	if events(got) != "create" {
		t.Fatalf("received %q, want the push dropped", events(got))
	}
	var dropped githubtest.Delivery
	for _, d := range f.gh.Deliveries() {
		if d.Dropped {
			dropped = d
		}
	}
	if dropped.Event != "push" {
		t.Fatalf("no dropped push in the delivery log")
	}
	// The operator's way out: redeliver it.
	again, err := f.gh.Redeliver(f.hook, dropped.ID)
	if err != nil || again.GUID != dropped.GUID || again.StatusCode != http.StatusAccepted {
		t.Errorf("redelivery of the dropped push = %+v, %v", again, err)
	}
}

func TestDuplicateDeliveryFault(t *testing.T) {
	_, got := faultFixture(t, githubtest.DeliveryFault{Kind: githubtest.DuplicateDelivery, Event: "push"})
	pushes := eventsOf(got, "push")
	if len(pushes) != 2 || pushes[0].header.Get("X-GitHub-Delivery") != pushes[1].header.Get("X-GitHub-Delivery") {
		t.Fatalf("received %q, want the push twice with one GUID", events(got))
	}
}

func TestReorderDeliveryFault(t *testing.T) {
	_, got := faultFixture(t, githubtest.DeliveryFault{Kind: githubtest.ReorderDelivery, Event: "push"})
	if events(got) != "create,push" {
		t.Fatalf("received %q, want create before push", events(got))
	}
}

func TestDelayDeliveryFault(t *testing.T) {
	// The delay only has to outlast one local delivery; WaitIdle bounds it.
	_, got := faultFixture(t, githubtest.DeliveryFault{Kind: githubtest.DelayDelivery, Event: "push", Delay: 2 * time.Second})
	if events(got) != "create,push" {
		t.Fatalf("received %q, want the delayed push overtaken by create", events(got))
	}
}

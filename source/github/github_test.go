package github

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/tagparse"
)

var costTags = flag.Int("cost-tags", 300, "annotated tags in the repository TestListingCost lists")

const (
	matchingRefs = "GET /repos/{owner}/{repo}/git/matching-refs/{ref}"
	graphQL      = "POST /graphql"
	getCommit    = "GET /repos/{owner}/{repo}/commits/{ref}"
	createRef    = "POST /repos/{owner}/{repo}/git/refs"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seeder adds tags straight into the stand-in's bare repository with one
// git fast-import per call: pushing thousands of tags one by one would take
// minutes.
type seeder struct {
	t      *testing.T
	gh     *githubtest.Server
	commit string // the one commit every tag points to
	next   int
}

func newSeeder(t *testing.T, gh *githubtest.Server) *seeder {
	commit := gh.Commit(t, "main", map[string]string{
		".gto":                         "types: [model]\n",
		".github/workflows/deploy.yml": "on: workflow_dispatch\njobs: {}\n",
	}, "first\n")
	return &seeder{t: t, gh: gh, commit: commit}
}

func data(s string) string { return fmt.Sprintf("data %d\n%s\n", len(s), s) }

// annotated adds n annotated tags "model@v0.0.N" and returns their names.
func (s *seeder) annotated(n int) []string {
	var b strings.Builder
	var names []string
	for range n {
		s.next++
		name := fmt.Sprintf("model@v0.0.%d", s.next)
		names = append(names, name)
		fmt.Fprintf(&b, "tag %s\nfrom %s\ntagger Tess <tess@example.com> %d +0200\n%s", name, s.commit, 1700000000+s.next, data("Registering "+name+"\n"))
	}
	s.fastImport(b.String())
	return names
}

func (s *seeder) lightweight(name string) {
	s.fastImport(fmt.Sprintf("reset refs/tags/%s\nfrom %s\n", name, s.commit))
}

// tagOfTag adds an annotated tag pointing at the tag object of target.
func (s *seeder) tagOfTag(name, target string) {
	s.t.Helper()
	cmd := exec.Command("git", "tag", "--annotate", "--message", "Tag of a tag", name, "refs/tags/"+target)
	cmd.Env = append(os.Environ(), "GIT_DIR="+s.gh.BareDir(),
		"GIT_COMMITTER_NAME=Tess", "GIT_COMMITTER_EMAIL=tess@example.com", "GIT_COMMITTER_DATE=1700000000 +0000")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("git tag: %v: %s", err, out)
	}
}

func (s *seeder) fastImport(stream string) {
	s.t.Helper()
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Env = append(os.Environ(), "GIT_DIR="+s.gh.BareDir())
	cmd.Stdin = strings.NewReader(stream + "done\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("git fast-import: %v: %s", err, out)
	}
}

// requestsSince returns the stand-in's requests after the first n.
func requestsSince(gh *githubtest.Server, n int) []githubtest.Request {
	return gh.Requests()[n:]
}

func endpoints(reqs []githubtest.Request) map[string]int {
	m := map[string]int{}
	for _, r := range reqs {
		m[fmt.Sprintf("%s %d", r.Endpoint, r.Status)]++
	}
	return m
}

func TestTagsConditionalAndOnlyNewObjects(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	seed.annotated(20)
	seed.lightweight("light")
	r := newRepo(t, gh)
	ctx := testCtx(t)

	tags, err := r.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 21 {
		t.Fatalf("%d tags, want 21", len(tags))
	}
	got := endpoints(gh.Requests())
	if got[matchingRefs+" 200"] != 1 || got[graphQL+" 200"] != 1 || len(gh.Requests()) != 2 || gh.Requests()[1].Nodes != 20 {
		t.Fatalf("cold listing: %+v; want one listing and one query of 20 tag objects", gh.Requests())
	}
	for _, tg := range tags {
		if _, off := tg.Date.Zone(); tg.Annotated && off != 2*3600 {
			t.Errorf("%s: date %v; want the tagger's +02:00", tg.Name, tg.Date)
		}
	}

	// Unchanged: one 304, which does not count against the rate limit.
	n, used := len(gh.Requests()), gh.RateLimitUsed()
	again, err := r.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if reqs := requestsSince(gh, n); len(reqs) != 1 || reqs[0].Status != http.StatusNotModified {
		t.Fatalf("unchanged listing: %+v; want a single 304", reqs)
	}
	if gh.RateLimitUsed() != used {
		t.Errorf("the 304 cost %d of the rate limit", gh.RateLimitUsed()-used)
	}
	if fmt.Sprint(again) != fmt.Sprint(tags) {
		t.Errorf("listing from the cache differs:\n%v\n%v", again, tags)
	}

	// Five new tags: the listing plus one query of those five objects.
	n = len(gh.Requests())
	seed.annotated(5)
	if tags, err = r.Tags(ctx); err != nil || len(tags) != 26 {
		t.Fatalf("Tags: %d, %v; want 26", len(tags), err)
	}
	reqs := requestsSince(gh, n)
	if got = endpoints(reqs); got[matchingRefs+" 200"] != 1 || got[graphQL+" 200"] != 1 || len(reqs) != 2 || reqs[1].Nodes != 5 {
		t.Errorf("listing after 5 new tags: %+v; want one listing and one query of 5 tag objects", reqs)
	}
	st := r.Stats()
	if st.Requests != int64(len(gh.Requests())) || st.RateRemaining != 5000-gh.RateLimitUsed() || st.RateLimit != 5000 {
		t.Errorf("Stats = %+v; stand-in saw %d requests, %d counted", st, len(gh.Requests()), gh.RateLimitUsed())
	}
	if st.GraphQLRemaining != 5000-gh.GraphQLRateLimitUsed() || st.GraphQLLimit != 5000 || gh.GraphQLRateLimitUsed() != 2 {
		t.Errorf("Stats = %+v; stand-in charged %d GraphQL points, want 2", st, gh.GraphQLRateLimitUsed())
	}
}

// TestTagOfTagIsPeeledToItsCommit checks tags whose object is another tag
// object: their commit is the one at the end of the chain, and each tag
// object is fetched once. A chain through a tag object no ref names takes
// a second query.
func TestTagOfTagIsPeeledToItsCommit(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	names := seed.annotated(2)
	seed.tagOfTag("outer", names[0])
	seed.tagOfTag("deep", "outer")
	seed.tagOfTag("orphaned", names[1])
	if out, err := exec.Command("git", "--git-dir", gh.BareDir(), "update-ref", "-d", "refs/tags/"+names[1]).CombinedOutput(); err != nil {
		t.Fatalf("git update-ref: %v: %s", err, out)
	}
	tags, err := newRepo(t, gh).Tags(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags {
		if tg.Commit != seed.commit || !tg.Annotated || tg.Object == seed.commit {
			t.Errorf("%+v: want an annotated tag of commit %s", tg, seed.commit)
		}
	}
	var nodes []int
	for _, req := range gh.Requests() {
		if req.Endpoint == graphQL {
			nodes = append(nodes, req.Nodes)
		}
	}
	if len(tags) != 4 || fmt.Sprint(nodes) != "[4 1]" {
		t.Errorf("%d tags, GraphQL queries of %v objects; want 4 tags, and queries of the 4 listed then the unlisted one", len(tags), nodes)
	}
}

// TestWarmLoadCostsNoRateLimit reads the whole registry twice, as the
// reconciler does: the second time every request is a 304.
func TestWarmLoadCostsNoRateLimit(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	newSeeder(t, gh).annotated(10)
	r := newRepo(t, gh)
	ctx := testCtx(t)
	if _, err := source.Load(ctx, r); err != nil {
		t.Fatal(err)
	}
	n, used := len(gh.Requests()), gh.RateLimitUsed()
	reg, err := source.Load(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Artifact("model"); !ok {
		t.Errorf("the registry from the kept answers has no artifact model")
	}
	for _, req := range requestsSince(gh, n) {
		if req.Status != http.StatusNotModified {
			t.Errorf("warm Load sent %s %s, answered %d; want only 304s", req.Method, req.Path, req.Status)
		}
	}
	if gh.RateLimitUsed() != used {
		t.Errorf("warm Load cost %d of the rate limit, want 0", gh.RateLimitUsed()-used)
	}
	t.Logf("cold Load %d requests, warm %d (all 304)", n, len(gh.Requests())-n)
}

// TestListingCost measures what listing costs cold (a new Repo) and warm
// (the same Repo, nothing changed). Run with -cost-tags=10000 for the
// figure in the package's documentation.
func TestListingCost(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	newSeeder(t, gh).annotated(*costTags)
	r := newRepo(t, gh)
	ctx := testCtx(t)
	tags, err := r.Tags(ctx)
	if err != nil || len(tags) != *costTags {
		t.Fatalf("Tags = %d tags, %v", len(tags), err)
	}
	cold, coldREST, coldPoints := len(gh.Requests()), gh.RateLimitUsed(), gh.GraphQLRateLimitUsed()
	queries := gh.RequestCount(graphQL)
	for _, req := range gh.Requests() {
		if req.Endpoint == graphQL && req.Nodes > 100 {
			t.Errorf("a query of %d objects; GitHub's node limit is 100", req.Nodes)
		}
	}
	if _, err := r.Tags(ctx); err != nil {
		t.Fatal(err)
	}
	warm := len(gh.Requests()) - cold
	warmREST, warmPoints := gh.RateLimitUsed()-coldREST, gh.GraphQLRateLimitUsed()-coldPoints
	t.Logf("%d annotated tags: cold %d requests (%d REST, %d GraphQL queries; %d REST and %d GraphQL points counted), warm %d (%d REST and %d GraphQL counted)",
		*costTags, cold, cold-queries, queries, coldREST, coldPoints, warm, warmREST, warmPoints)
	wantQueries := (*costTags + 99) / 100
	if cold != 1+wantQueries || queries != wantQueries || coldREST != 1 || coldPoints != wantQueries ||
		warm != 1 || warmREST != 0 || warmPoints != 0 {
		t.Errorf("cold %d requests (%d queries, %d REST and %d GraphQL points), warm %d (%d, %d counted); want %d (%d, 1 and %d), 1 (0, 0)",
			cold, queries, coldREST, coldPoints, warm, warmREST, warmPoints, 1+wantQueries, wantQueries, wantQueries)
	}
}

func TestPrimaryRateLimitWaitsForReset(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	newSeeder(t, gh).annotated(1)
	r := newRepo(t, gh)
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.PrimaryRateLimit, Path: "/git/matching-refs/", RetryAfter: time.Second})
	if tags, err := r.Tags(testCtx(t)); err != nil || len(tags) != 1 {
		t.Fatalf("Tags = %d, %v; want 1 tag after waiting for the reset", len(tags), err)
	}
	reqs := gh.Requests()
	if reqs[0].Fault != "primary-rate-limit" || reqs[1].Endpoint != matchingRefs || reqs[1].Status != http.StatusOK {
		t.Errorf("requests %+v; want the limited listing, then the listing again", reqs)
	}
}

func TestRateLimitBeyondMaxWaitFailsAtOnce(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	newSeeder(t, gh)
	r := newRepo(t, gh, WithLimits(Limits{MaxWait: 2 * time.Second}))
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.PrimaryRateLimit, RetryAfter: time.Hour})
	_, err := r.Commit(testCtx(t), "main")
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusForbidden || !strings.Contains(err.Error(), "github: 403 API rate limit exceeded") {
		t.Fatalf("Commit under an hour-long rate limit: %v; want GitHub's 403 message", err)
	}
	if len(gh.Requests()) != 1 {
		t.Errorf("%d requests; want 1: the wait is over the bound, so no retry", len(gh.Requests()))
	}
	if st := r.Stats(); st.RateRemaining != 0 {
		t.Errorf("Stats().RateRemaining = %d, want 0", st.RateRemaining)
	}
}

// TestExhaustedBudgetFailsWithoutSending spends the whole hourly budget:
// the reset is an hour away, beyond any wait, so the next call fails at
// once, and without a request, since GitHub would only refuse it.
func TestExhaustedBudgetFailsWithoutSending(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{RateLimit: 2})
	seed := newSeeder(t, gh)
	r := newRepo(t, gh)
	ctx := testCtx(t)
	for _, ref := range []string{"main", "HEAD"} {
		if c, err := r.Commit(ctx, ref); err != nil || c.Hash != seed.commit {
			t.Fatalf("Commit(%s) = %+v, %v", ref, c, err)
		}
	}
	_, err := r.ReadFile(ctx, ".gto", "")
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusForbidden || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("ReadFile with no budget left: %v; want a 403 rate-limit error", err)
	}
	// Two refs resolved through REST, and the one commit read through
	// GraphQL, whose budget is apart.
	if n, q := len(gh.Requests()), gh.RequestCount(graphQL); n != 3 || q != 1 {
		t.Errorf("%d requests, %d of them GraphQL; want 3 and 1", n, q)
	}
	if st := r.Stats(); st.RateRemaining != 0 || st.RateLimit != 2 {
		t.Errorf("Stats = %+v, want 0 of 2 remaining", st)
	}
}

func TestSecondaryRateLimitWaitsRetryAfter(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			gh := githubtest.New(t, githubtest.Options{})
			seed := newSeeder(t, gh)
			r := newRepo(t, gh)
			// A write is retried too: GitHub turned it away before acting.
			gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.SecondaryRateLimit, Method: http.MethodPost,
				Path: "/git/refs", Status: status, RetryAfter: time.Second})
			tag, err := r.CreateTag(testCtx(t), source.NewTag{Name: "model#prod#1", Commit: seed.commit, Message: "m\n"})
			if err != nil || tag.Commit != seed.commit {
				t.Fatalf("CreateTag = %+v, %v", tag, err)
			}
			got := endpoints(gh.Requests())
			if got[createRef+" 201"] != 1 || got[createRef+fmt.Sprintf(" %d", status)] != 1 {
				t.Errorf("requests %v; want one limited and one created ref", got)
			}
		})
	}
}

// TestRateLimitHoldsEveryCall: once GitHub says to wait, a call that had
// nothing to do with the limited one waits too, rather than meeting the
// limit again.
func TestRateLimitHoldsEveryCall(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r := newRepo(t, gh)
	ctx := testCtx(t)
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.SecondaryRateLimit, Path: "/contents/", RetryAfter: 2 * time.Second})
	limited := make(chan error, 1)
	go func() {
		_, err := r.ReadFile(ctx, ".gto", "")
		if errors.Is(err, source.ErrNotFound) {
			err = nil
		}
		limited <- err
	}()
	for !slices.ContainsFunc(gh.Requests(), func(q githubtest.Request) bool { return q.Fault == "secondary-rate-limit" }) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if c, err := r.Commit(ctx, "main"); err != nil || c.Hash != seed.commit {
		t.Fatalf("Commit = %+v, %v", c, err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("a call during a 2 s secondary rate limit went out after %s", took.Round(time.Millisecond))
	}
	if err := <-limited; err != nil {
		t.Fatal(err)
	}
}

// TestRateLimitWithoutWaiting: under source.WithoutWaiting a rate limit
// fails the call at once, saying when it lifts, and later calls fail the
// same way without sending anything until then; the message is GitHub's,
// with the time, and no credential.
func TestRateLimitWithoutWaiting(t *testing.T) {
	for _, limit := range []githubtest.RESTFault{
		{Kind: githubtest.SecondaryRateLimit, Status: http.StatusTooManyRequests, Path: "/git/matching-refs/", RetryAfter: 2 * time.Second},
		{Kind: githubtest.PrimaryRateLimit, Path: "/git/matching-refs/", RetryAfter: 2 * time.Second},
		{Kind: githubtest.PrimaryRateLimit, Path: "/graphql", RetryAfter: 2 * time.Second},
	} {
		t.Run(limit.Kind.String()+limit.Path, func(t *testing.T) {
			gh := githubtest.New(t, githubtest.Options{})
			newSeeder(t, gh).annotated(1)
			r := newRepo(t, gh)
			ctx := source.WithoutWaiting(testCtx(t))
			gh.InjectRESTFault(limit)
			start := time.Now()
			_, err := r.Tags(ctx)
			var rl *RateLimitError
			if !errors.As(err, &rl) || !strings.Contains(err.Error(), "rate limit") || strings.Contains(err.Error(), gh.Token()) {
				t.Fatalf("Tags under a rate limit: %v; want a RateLimitError with GitHub's message", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("the call waited %v; want it to fail at once", took)
			}
			reqs := gh.Requests()
			lifts := reqs[len(reqs)-1].LimitLifts
			if lifts.IsZero() || rl.RetryAt().Before(lifts) || rl.RetryAt().After(lifts.Add(2*time.Second)) {
				t.Errorf("RetryAt %v; GitHub said the limit lifts at %v", rl.RetryAt(), lifts)
			}
			if want := "until " + rl.Until.UTC().Add(time.Second-1).Truncate(time.Second).Format(time.RFC3339) + ")"; !strings.HasSuffix(err.Error(), want) {
				t.Errorf("error %q does not end %q", err, want)
			}
			n := len(gh.Requests())
			_, err = r.Commit(ctx, "main")
			if again := (*RateLimitError)(nil); !errors.As(err, &again) || !again.Until.Equal(rl.Until) || !strings.Contains(err.Error(), "rate limit") {
				t.Errorf("a call during the limit: %v; want the same RateLimitError", err)
			}
			if len(gh.Requests()) != n {
				t.Errorf("a call during the limit was sent: %+v", gh.Requests()[n:])
			}
			// Refused without a request until the limit lifts, then listed.
			deadline := time.Now().Add(10 * time.Second)
			for {
				tags, err := r.Tags(ctx)
				if err == nil {
					if len(tags) != 1 || time.Now().Before(rl.RetryAt()) {
						t.Errorf("Tags = %d at %v; want 1, once the limit lifted at %v", len(tags), time.Now(), rl.RetryAt())
					}
					break
				}
				if !errors.As(err, new(*RateLimitError)) || time.Now().After(deadline) {
					t.Fatalf("Tags after the limit: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, q := range gh.Requests()[n:] {
				if q.At.Before(rl.RetryAt()) {
					t.Errorf("%s %s sent at %v, before the limit lifted at %v", q.Method, q.Path, q.At, rl.RetryAt())
				}
			}
		})
	}
}

// TestSharedReadOfARateLimitedFileWaitsForWhoMayWait: a read that may
// wait out a rate limit, joining one in flight that may not, is not given
// the other's refusal: it waits, and reads the file.
func TestSharedReadOfARateLimitedFileWaitsForWhoMayWait(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	newSeeder(t, gh)
	limits := testLimits
	limits.RequestTimeout = 300 * time.Millisecond
	r := newRepo(t, gh, WithLimits(limits))
	ctx := testCtx(t)
	// The first read hangs (and is cut off), so that the second joins it
	// in flight; its retry meets the limit.
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.Hang, Path: "/contents/"})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.SecondaryRateLimit, Path: "/contents/", RetryAfter: time.Second})
	refused := make(chan error, 1)
	go func() {
		_, err := r.ReadFile(source.WithoutWaiting(ctx), ".gto", "")
		refused <- err
	}()
	for !slices.ContainsFunc(gh.Requests(), func(q githubtest.Request) bool { return q.Fault == "hang" }) {
		time.Sleep(5 * time.Millisecond)
	}
	data, err := r.ReadFile(ctx, ".gto", "")
	if err != nil || string(data) != "types: [model]\n" {
		t.Errorf("a read that may wait: %q, %v; want the file once the limit lifted", data, err)
	}
	if err := <-refused; !errors.As(err, new(*RateLimitError)) {
		t.Errorf("the read that may not wait: %v, want a RateLimitError", err)
	}
}

// TestHungRequestIsCutOff: a request GitHub never answers ends at
// RequestTimeout and, being a read, is sent again.
func TestHungRequestIsCutOff(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r := newRepo(t, gh, WithLimits(Limits{RequestTimeout: 500 * time.Millisecond, Backoff: time.Millisecond}))
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.Hang, Path: "/commits/"})
	start := time.Now()
	c, err := r.Commit(testCtx(t), "main")
	if err != nil || c.Hash != seed.commit {
		t.Fatalf("Commit after a hung request = %+v, %v", c, err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the hung request held the call for %s", took)
	}
	if n := gh.RequestCount(getCommit); n != 2 {
		t.Errorf("%d commit requests, want the hung one and its retry", n)
	}
}

func TestServerErrorsRetriedForReadsOnly(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r := newRepo(t, gh)
	ctx := testCtx(t)

	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Path: "/commits/", Count: 2})
	if c, err := r.Commit(ctx, "main"); err != nil || c.Hash != seed.commit {
		t.Fatalf("Commit after two 502s = %+v, %v", c, err)
	}
	if n := gh.RequestCount(getCommit); n != 3 {
		t.Errorf("%d commit requests, want 3", n)
	}

	// Retries are bounded, and the last answer is GitHub's.
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Path: "/commits/", Count: 10, Status: http.StatusServiceUnavailable})
	_, err := r.Commit(ctx, "main")
	if err == nil || !strings.Contains(err.Error(), "github: 503 Server Error") {
		t.Errorf("Commit after 503s: %v; want GitHub's 503", err)
	}
	if n := gh.RequestCount(getCommit); n != 3+1+testLimits.Retries {
		t.Errorf("%d commit requests, want %d", n, 3+1+testLimits.Retries)
	}

	// A write that failed may have happened: it is not sent again.
	n := len(gh.Requests())
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Method: http.MethodPost, Path: "/git/tags"})
	if _, err := r.CreateTag(ctx, source.NewTag{Name: "model#prod#1", Commit: seed.commit, Message: "m\n"}); err == nil {
		t.Error("CreateTag through a 502 succeeded")
	}
	if reqs := requestsSince(gh, n); len(reqs) != 1 {
		t.Errorf("requests %+v; want the single failed POST", reqs)
	}
}

func TestHungRequestEndsWithContext(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	r := newRepo(t, gh)
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.Hang})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.Tags(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Tags on a hung server: %v; want the context's deadline", err)
	}
}

func TestExistingRefIsErrTagExistsWithGitHubsMessage(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	name := seed.annotated(1)[0]
	r := newRepo(t, gh)
	_, err := r.CreateTag(testCtx(t), source.NewTag{Name: name, Commit: seed.commit, Message: "again\n"})
	if !errors.Is(err, source.ErrTagExists) || !strings.Contains(err.Error(), "github: 422 Reference already exists") {
		t.Fatalf("CreateTag over %s: %v; want ErrTagExists with GitHub's message", name, err)
	}
}

// TestConcurrentAssignments has 20 writers assign one artifact's stage at
// once through source.Write, as `hookd assign --force` does: they all plan
// the same tag name at first, and every one must still land on its own
// counter, with the registration they all planned created once. (Writers
// of different stages plan different names, which GitHub cannot tell
// apart from unrelated tags: they may share a counter, which GTO's names
// tolerate.)
func TestConcurrentAssignments(t *testing.T) {
	const writers = 20
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	// A few Repos, as separate hookd processes would be; each is shared by
	// several writers, as requests to one server would.
	repos := make([]*Repo, 4)
	for i := range repos {
		repos[i] = newRepo(t, gh)
	}
	assign := func(reg *registry.Registry) ([]source.NewTag, error) {
		p, err := reg.PlanAssign(registry.AssignRequest{Artifact: "model", Stage: "prod", Commit: seed.commit, Force: true})
		if err != nil {
			return nil, err
		}
		var out []source.NewTag
		for _, pt := range p.Create {
			out = append(out, source.NewTag{Name: pt.Name, Commit: pt.Commit, Message: pt.Message})
		}
		return out, nil
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = source.Write(testCtx(t), repos[i%len(repos)], assign)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	tags, err := newRepo(t, gh).Tags(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	counters := map[int]string{}
	registrations := 0
	for _, tg := range tags {
		p, err := tagparse.Parse(tg.Name)
		if err != nil {
			t.Fatalf("%s: %v", tg.Name, err)
		}
		switch p.Action {
		case tagparse.Register:
			registrations++
		case tagparse.Assign:
			if prev, dup := counters[p.Counter]; dup {
				t.Errorf("counter %d twice: %s and %s", p.Counter, prev, tg.Name)
			}
			counters[p.Counter] = tg.Name
		}
	}
	t.Logf("%d writers: %d requests", writers, len(gh.Requests()))
	if len(counters) != writers || registrations != 1 {
		t.Errorf("%d assignments and %d registrations, want %d and 1: %v", len(counters), registrations, writers, counters)
	}
}

func TestDeploymentsAndDispatches(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r := newRepo(t, gh)
	ctx := testCtx(t)

	long := strings.Repeat("é", 150) // 150 characters, 300 bytes
	id, err := r.CreateDeployment(ctx, Deployment{Ref: "main", Environment: "prod", Description: long,
		Payload: map[string]string{"artifact": "model"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetDeploymentStatus(ctx, id, DeploymentStatus{State: "success", Description: long,
		LogURL: "https://ci.example.com/1", EnvironmentURL: "https://prod.example.com"}); err != nil {
		t.Fatal(err)
	}
	deps := gh.Deployments()
	if len(deps) != 1 || deps[0].ID != id || deps[0].SHA != seed.commit || deps[0].Environment != "prod" ||
		deps[0].Description != strings.Repeat("é", 140) || string(deps[0].Payload) != `{"artifact":"model"}` {
		t.Fatalf("deployments %+v", deps)
	}
	if st := deps[0].Statuses; len(st) != 1 || st[0].State != "success" || st[0].Description != strings.Repeat("é", 140) ||
		st[0].LogURL != "https://ci.example.com/1" || st[0].EnvironmentURL != "https://prod.example.com" {
		t.Errorf("statuses %+v", st)
	}
	if err := r.SetDeploymentStatus(ctx, id, DeploymentStatus{State: "exploded"}); err == nil || !strings.Contains(err.Error(), "github: 422") {
		t.Errorf("invalid state: %v; want GitHub's 422", err)
	}

	if err := r.DispatchWorkflow(ctx, "deploy.yml", "main", map[string]any{"stage": "prod"}); err != nil {
		t.Fatal(err)
	}
	if err := r.DispatchWorkflow(ctx, "missing.yml", "main", nil); err == nil || !strings.Contains(err.Error(), "github: 404 Not Found") {
		t.Errorf("dispatch of a missing workflow: %v; want GitHub's 404", err)
	}
	if wd := gh.WorkflowDispatches(); len(wd) != 1 || wd[0].Workflow != "deploy.yml" || wd[0].Ref != "main" || wd[0].Inputs["stage"] != "prod" {
		t.Errorf("workflow dispatches %+v", wd)
	}
	if err := r.DispatchRepository(ctx, "gto-assignment", map[string]any{"tag": "model#prod#1"}); err != nil {
		t.Fatal(err)
	}
	if rd := gh.RepositoryDispatches(); len(rd) != 1 || rd[0].EventType != "gto-assignment" || strings.TrimSpace(string(rd[0].ClientPayload)) != `{"tag":"model#prod#1"}` {
		t.Errorf("repository dispatches %+v", rd)
	}
}

// TestCommitsInBatchesKeepOffsets reads 150 commits: two GraphQL queries,
// dates in the offsets git recorded, an unknown sha left out, and nothing
// sent the second time.
func TestCommitsInBatchesKeepOffsets(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	var b strings.Builder
	for i := range 150 {
		fmt.Fprintf(&b, "commit refs/heads/many\nauthor Ana <ana@example.com> %d -0700\ncommitter Cy <cy@example.com> %d +0930\n%s",
			1700000000+i, 1700000100+i, data(fmt.Sprintf("Commit %d\n", i)))
		if i == 0 {
			fmt.Fprintf(&b, "from %s\n", seed.commit)
		}
	}
	seed.fastImport(b.String())
	out, err := exec.Command("git", "--git-dir", gh.BareDir(), "rev-list", "--max-count=150", "refs/heads/many").Output()
	if err != nil {
		t.Fatal(err)
	}
	shas := append(strings.Fields(string(out)), strings.Repeat("0", 40))
	r := newRepo(t, gh)
	ctx := testCtx(t)
	m, err := r.Commits(ctx, shas)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 150 {
		t.Fatalf("%d commits, want 150 (the unknown sha left out)", len(m))
	}
	for _, sha := range shas[:150] {
		c := m[sha]
		_, ao := c.AuthorDate.Zone()
		_, co := c.CommitDate.Zone()
		if c.Hash != sha || c.Author.Name != "Ana" || ao != -7*3600 || co != 9*3600+30*60 || !strings.HasPrefix(c.Message, "Commit ") {
			t.Errorf("commit %s = %+v; want Ana's, dated -07:00 and +09:30", sha, c)
		}
	}
	var nodes []int
	for _, req := range gh.Requests() {
		nodes = append(nodes, req.Nodes)
	}
	if fmt.Sprint(nodes) != "[100 51]" {
		t.Errorf("queries of %v objects; want 100 then 51", nodes)
	}
	n := len(gh.Requests())
	if again, err := r.Commits(ctx, shas[:150]); err != nil || len(again) != 150 || len(gh.Requests()) != n {
		t.Errorf("second read: %d commits, %v, %d requests; want 150 from the cache", len(again), err, len(gh.Requests())-n)
	}
}

func TestGraphQLRateLimitWaitsForReset(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	newSeeder(t, gh).annotated(1)
	r := newRepo(t, gh)
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.PrimaryRateLimit, Path: "/graphql", RetryAfter: time.Second})
	if tags, err := r.Tags(testCtx(t)); err != nil || len(tags) != 1 || tags[0].Tagger.Name != "Tess" {
		t.Fatalf("Tags = %+v, %v; want 1 tag after waiting for the reset", tags, err)
	}
	var got []string
	for _, req := range gh.Requests() {
		got = append(got, fmt.Sprintf("%s %d %s", req.Endpoint, req.Status, req.Fault))
	}
	want := []string{matchingRefs + " 200 ", graphQL + " 200 primary-rate-limit", graphQL + " 200 "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests %q; want %q", got, want)
	}
}

// TestGraphQLRateLimitBeyondMaxWaitFailsAtOnce: GitHub's RATE_LIMITED
// error comes in a 200; the message is GitHub's, and the REST budget is
// left alone.
func TestGraphQLRateLimitBeyondMaxWaitFailsAtOnce(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	newSeeder(t, gh).annotated(1)
	r := newRepo(t, gh, WithLimits(Limits{MaxWait: 2 * time.Second}))
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.PrimaryRateLimit, Path: "/graphql", RetryAfter: time.Hour})
	_, err := r.Tags(testCtx(t))
	var ge *Error
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), "github: API rate limit already exceeded for installation ID 1.") {
		t.Fatalf("Tags under an hour-long GraphQL limit: %v; want GitHub's RATE_LIMITED message", err)
	}
	if n := gh.RequestCount(graphQL); n != 1 {
		t.Errorf("%d GraphQL requests; want 1: the wait is over the bound, so no retry", n)
	}
	if st := r.Stats(); st.GraphQLRemaining != 0 || st.RateRemaining != 5000-gh.RateLimitUsed() {
		t.Errorf("Stats = %+v; want no GraphQL points left and REST's untouched", st)
	}
}

func TestGraphQLServerErrorsRetried(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r := newRepo(t, gh)
	ctx := testCtx(t)
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Path: "/graphql", Count: 2})
	if c, err := r.Commit(ctx, seed.commit); err != nil || c.Hash != seed.commit {
		t.Fatalf("Commit after two 502s = %+v, %v", c, err)
	}
	if n := gh.RequestCount(graphQL); n != 3 {
		t.Errorf("%d GraphQL requests, want 3", n)
	}
	// Retries are bounded, and the last answer is GitHub's.
	seed.annotated(1)
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Path: "/graphql", Count: 10, Status: http.StatusServiceUnavailable})
	if _, err := r.Tags(ctx); err == nil || !strings.Contains(err.Error(), "github: 503 Server Error") {
		t.Errorf("Tags after 503s: %v; want GitHub's 503", err)
	}
	if n := gh.RequestCount(graphQL); n != 3+1+testLimits.Retries {
		t.Errorf("%d GraphQL requests, want %d", n, 3+1+testLimits.Retries)
	}
}

// TestGraphQLErrorsCarryGitHubsMessage: an error other than a missing
// object fails the read with what GitHub said.
func TestGraphQLErrorsCarryGitHubsMessage(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r, err := New("octo-org", "gone", WithBaseURL(gh.APIURL()), WithToken(gh.Token()), WithLimits(testLimits))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Commits(testCtx(t), []string{seed.commit})
	if err == nil || !strings.Contains(err.Error(), "github: graphql: Could not resolve to a Repository with the name 'octo-org/gone'.") {
		t.Errorf("Commits in a missing repository: %v; want GitHub's message", err)
	}
}

func TestFindDeploymentByIdempotencyKey(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r := newRepo(t, gh)
	ctx := testCtx(t)
	var ids []int64
	for _, key := range []string{"run-1", "run-2"} {
		id, err := r.CreateDeployment(ctx, Deployment{Ref: seed.commit, Environment: "prod", Payload: map[string]string{"idempotency_key": key}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, c := range []struct {
		env, key string
		id       int64
		found    bool
	}{
		{"prod", "run-1", ids[0], true},
		{"prod", "run-2", ids[1], true},
		{"prod", "run-3", 0, false},
		{"staging", "run-1", 0, false}, // another environment's deployment is not this run's
		{"prod", "", 0, false},
	} {
		id, found, err := r.FindDeployment(ctx, seed.commit, c.env, c.key)
		if err != nil || id != c.id || found != c.found {
			t.Errorf("FindDeployment(%s, %q) = %d, %v, %v; want %d, %v", c.env, c.key, id, found, err, c.id, c.found)
		}
	}
}

// Every deploy reads `.gto` and the artifacts index at the default branch:
// a burst of runs reading at once, and reads within a second of an answer,
// share one request; later reads ask again (conditionally) and see a
// change.
func TestFileAtABranchIsReadOncePerBurst(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	gh.Commit(t, "main", map[string]string{"artifacts.yaml": "churn: {type: model}\n"}, "index")
	r := newRepo(t, gh)
	ctx := testCtx(t)

	n := len(gh.Requests())
	var wg sync.WaitGroup
	contents := make([]string, 50)
	for i := range contents {
		wg.Go(func() {
			data, err := r.ReadFile(ctx, "artifacts.yaml", "")
			if err != nil {
				t.Error(err)
			}
			contents[i] = string(data)
		})
	}
	wg.Wait()
	if data, err := r.ReadFile(ctx, "artifacts.yaml", ""); err != nil || string(data) != contents[0] {
		t.Fatalf("read right after: %q, %v", data, err)
	}
	if reqs := requestsSince(gh, n); len(reqs) != 1 {
		t.Fatalf("51 reads within a second made %d requests, want 1: %+v", len(reqs), reqs)
	}
	for i, c := range contents {
		if c != "churn: {type: model}\n" {
			t.Fatalf("read %d got %q", i, c)
		}
	}
	if _, err := r.ReadFile(ctx, ".gto", ""); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf(".gto: %v, want not found", err)
	}
	n = len(gh.Requests())
	if _, err := r.ReadFile(ctx, ".gto", ""); !errors.Is(err, source.ErrNotFound) || len(requestsSince(gh, n)) != 0 {
		t.Fatalf("a missing file read again at once: %v, %d requests; want not found from the first answer", err, len(requestsSince(gh, n)))
	}

	gh.Commit(t, "main", map[string]string{"artifacts.yaml": "churn: {type: model, path: models/churn}\n"}, "index moves")
	time.Sleep(recentWindow) // what a second old is no longer taken
	n = len(gh.Requests())
	data, err := r.ReadFile(ctx, "artifacts.yaml", "")
	if err != nil || string(data) != "churn: {type: model, path: models/churn}\n" {
		t.Fatalf("after the window: %q, %v; want the changed file", data, err)
	}
	if reqs := requestsSince(gh, n); len(reqs) != 1 {
		t.Errorf("a read after the window made %d requests, want 1", len(reqs))
	}
}

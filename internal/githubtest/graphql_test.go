package githubtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// gqlAnswer is a GraphQL answer as a client sees it.
type gqlAnswer struct {
	status int
	header http.Header
	Data   map[string]any `json:"data"`
	Errors []struct {
		Type    string `json:"type"`
		Path    []any  `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

// postGraphQL sends a query with the owner and name variables set to the
// stand-in's repository.
func postGraphQL(t *testing.T, url, token, query string) gqlAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"owner": owner, "name": repo}})
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := gqlAnswer{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return a
}

// get reads a path like "repository.t0.tagger.date" out of the data.
func (a gqlAnswer) get(path string) any {
	var v any = a.Data
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

const tagFields = `oid name message tagger { name email date } target { oid __typename ... on Tag { target { oid } } }`

func query(objects string) string {
	return `query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { ` + objects + ` } }`
}

// seedTag creates an annotated tag in the bare repository with a tagger
// date in the given zone, and returns the tag object's sha.
func seedTag(t *testing.T, gh *githubtest.Server, name, target, date string) string {
	t.Helper()
	cmd := exec.Command("git", "tag", "--annotate", "--message", "Tagging "+name, name, target)
	cmd.Env = append(os.Environ(), "GIT_DIR="+gh.BareDir(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(),
		"GIT_COMMITTER_NAME=Tess Tagger", "GIT_COMMITTER_EMAIL=tess@example.com", "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git tag: %v: %s", err, out)
	}
	out, err := exec.Command("git", "--git-dir", gh.BareDir(), "rev-parse", "refs/tags/"+name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestGraphQLObjectsKeepTheirOffset reads a tag, a tag of a tag, a commit
// and a missing object in one query: dates keep the offset git recorded
// (GitTimestamp), and the missing object is a null with NOT_FOUND beside
// the others' data.
func TestGraphQLObjectsKeepTheirOffset(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	commit := gh.Commit(t, "main", map[string]string{"a.txt": "a\n"}, "First\n")
	inner := seedTag(t, gh, "churn-model#prod#3", commit, "1675934400 -0500")
	outer := seedTag(t, gh, "outer", "refs/tags/churn-model#prod#3", "1675934400 +0530")
	missing := strings.Repeat("0", 40)
	a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), query(fmt.Sprintf(
		`t0: object(oid: "%s") { ... on Tag { %s } }
		 t1: object(oid: "%s") { ... on Tag { %s } }
		 c0: object(oid: "%s") { ... on Commit { oid message author { name email date } committer { date } } }
		 t2: object(oid: "%s") { ... on Tag { oid } }`,
		inner, tagFields, outer, tagFields, commit, missing)))

	if a.status != http.StatusOK {
		t.Fatalf("status %d", a.status)
	}
	want := map[string]any{
		"repository.t0.oid":               inner,
		"repository.t0.name":              "churn-model#prod#3",
		"repository.t0.message":           "Tagging churn-model#prod#3\n",
		"repository.t0.tagger.name":       "Tess Tagger",
		"repository.t0.tagger.email":      "tess@example.com",
		"repository.t0.tagger.date":       "2023-02-09T04:20:00-05:00",
		"repository.t0.target.oid":        commit,
		"repository.t0.target.__typename": "Commit",
		"repository.t1.tagger.date":       "2023-02-09T14:50:00+05:30",
		"repository.t1.target.oid":        inner,
		"repository.t1.target.__typename": "Tag",
		"repository.t1.target.target.oid": commit,
		"repository.c0.oid":               commit,
		"repository.c0.message":           "First",
	}
	for path, w := range want {
		if got := a.get(path); got != w {
			t.Errorf("%s = %v, want %v", path, got, w)
		}
	}
	if d, _ := a.get("repository.c0.committer.date").(string); !strings.HasPrefix(d, "20") {
		t.Errorf("commit date %q", d)
	}
	// t0's target is a Commit, so the fragment on Tag inside it adds nothing.
	if a.get("repository.t2") != nil || a.get("repository.t0.target.target") != nil {
		t.Errorf("missing object or non-matching fragment answered: %v", a.Data)
	}
	if len(a.Errors) != 1 || a.Errors[0].Type != "NOT_FOUND" || fmt.Sprint(a.Errors[0].Path) != "[repository t2]" ||
		!strings.Contains(a.Errors[0].Message, missing) {
		t.Errorf("errors %+v; want one NOT_FOUND at repository.t2", a.Errors)
	}
}

// TestGraphQLCostsPointsApartFromREST checks the accounting: one point per
// 100 objects named, at least one, in a budget of its own.
func TestGraphQLCostsPointsApartFromREST(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{GraphQLRateLimit: 4})
	commit := gh.Commit(t, "main", map[string]string{"a.txt": "a\n"}, "First\n")
	objects := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "c%d: object(oid: %q) { oid }\n", i, commit)
		}
		return query(b.String())
	}
	for _, tt := range []struct{ objects, cost int }{{1, 1}, {100, 1}, {101, 2}} {
		before := gh.GraphQLRateLimitUsed()
		a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), objects(tt.objects))
		if a.status != http.StatusOK || len(a.Errors) > 0 || a.get(fmt.Sprintf("repository.c%d.oid", tt.objects-1)) != commit {
			t.Fatalf("%d objects: %d %+v", tt.objects, a.status, a.Errors)
		}
		reqs := gh.Requests()
		last := reqs[len(reqs)-1]
		if used := gh.GraphQLRateLimitUsed() - before; used != tt.cost || last.Cost != tt.cost || last.Nodes != tt.objects ||
			last.Endpoint != "POST /graphql" || !last.Counted {
			t.Errorf("%d objects cost %d, recorded %+v; want %d", tt.objects, used, last, tt.cost)
		}
		if h := a.header; h.Get("X-RateLimit-Resource") != "graphql" || h.Get("X-RateLimit-Limit") != "4" ||
			h.Get("X-RateLimit-Remaining") != fmt.Sprint(4-gh.GraphQLRateLimitUsed()) {
			t.Errorf("rate headers %v", h)
		}
	}
	if gh.RateLimitUsed() != 0 {
		t.Errorf("GraphQL spent %d of the REST budget", gh.RateLimitUsed())
	}
	// 4 points spent: the next query is refused, with 200 as GitHub does.
	a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), objects(1))
	if a.status != http.StatusOK || len(a.Errors) != 1 || a.Errors[0].Type != "RATE_LIMITED" ||
		a.Data != nil || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("over budget: %d %+v %v; want 200 RATE_LIMITED", a.status, a.Errors, a.header)
	}
	if gh.GraphQLRateLimitUsed() != 4 {
		t.Errorf("a refused query was charged: %d used", gh.GraphQLRateLimitUsed())
	}
}

func TestGraphQLNeedsTheToken(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	for _, token := range []string{"", "wrong"} {
		a := postGraphQL(t, gh.GraphQLURL(), token, query(`nameWithOwner`))
		if a.status != http.StatusUnauthorized || a.Data != nil {
			t.Errorf("token %q: %d; want 401", token, a.status)
		}
	}
	if a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), query(`nameWithOwner`)); a.get("repository.nameWithOwner") != owner+"/"+repo {
		t.Errorf("with the token: %d %v %+v", a.status, a.Data, a.Errors)
	}
	if gh.GraphQLRateLimitUsed() != 1 {
		t.Errorf("%d points used; want 1, for the authenticated query only", gh.GraphQLRateLimitUsed())
	}
}

// TestGraphQLEnterprisePath serves GitHub Enterprise's /api/graphql too.
func TestGraphQLEnterprisePath(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	url := strings.TrimSuffix(gh.APIURL(), "/") + "/api/graphql"
	if a := postGraphQL(t, url, gh.Token(), query(`nameWithOwner`)); a.get("repository.nameWithOwner") != owner+"/"+repo {
		t.Errorf("/api/graphql: %d %v %+v", a.status, a.Data, a.Errors)
	}
}

// TestGraphQLOutsideTheSubsetIsAnError: the stand-in answers errors, and
// no data, rather than guessing at what it does not serve.
func TestGraphQLOutsideTheSubsetIsAnError(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	commit := gh.Commit(t, "main", map[string]string{"a.txt": "a\n"}, "First\n")
	for _, q := range []string{
		`mutation { createRef(input: {}) { ref { name } } }`,
		`query { repository(owner: "octo-org", name: "models") { ...Fields } }`,
		`query { repository(owner: "octo-org", name: "models") { object(expression: "main") { oid } } }`,
		query(`object(oid: "` + commit + `") { ... on Commit { history(first: 1) { totalCount } } }`),
		query(`object(oid: "` + commit + `") { ... on Commit { author } }`),
		query(`object(oid: "` + commit + `") { oid { x } }`),
		query(`object(oid: "main") { oid }`),
		query(`object(oid: $missing) { oid }`),
		query(`object(oid: "` + commit + `") { ... on Repository { oid } }`),
		`query { repository(owner: "octo-org", name: "models") { nameWithOwner } } query { x }`,
		`{ repository(owner: "octo-org", name: "models") { nameWithOwner }`,
	} {
		a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), q)
		if a.status != http.StatusOK || len(a.Errors) == 0 || a.Data != nil {
			t.Errorf("%s\n: %d, data %v, errors %+v; want errors only", q, a.status, a.Data, a.Errors)
		}
	}
	if gh.GraphQLRateLimitUsed() != 0 {
		t.Errorf("rejected queries cost %d points", gh.GraphQLRateLimitUsed())
	}

	// Fragments and __typename at the root are GraphQL too.
	a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), `{ __typename ... on Query { r: repository(owner: "octo-org", name: "models") { nameWithOwner } } }`)
	if a.get("__typename") != "Query" || a.get("r.nameWithOwner") != owner+"/"+repo || len(a.Errors) > 0 {
		t.Errorf("root fragment: %v %+v", a.Data, a.Errors)
	}
	// Another repository is not found, as on GitHub.
	a = postGraphQL(t, gh.GraphQLURL(), gh.Token(), `{ repository(owner: "octo-org", name: "other") { nameWithOwner } }`)
	if len(a.Errors) != 1 || a.Errors[0].Type != "NOT_FOUND" || a.get("repository") != nil {
		t.Errorf("another repository: %v %+v", a.Data, a.Errors)
	}
}

// TestGraphQLFaults: injected faults reach GraphQL requests too, with
// GitHub's GraphQL shape for the primary rate limit.
func TestGraphQLFaults(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.PrimaryRateLimit, Path: "/graphql", RetryAfter: time.Hour})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Path: "/graphql"})
	a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), query(`nameWithOwner`))
	reset := time.Now().Add(time.Hour).Unix()
	if a.status != http.StatusOK || len(a.Errors) != 1 || a.Errors[0].Type != "RATE_LIMITED" ||
		a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") < fmt.Sprint(reset-5) {
		t.Errorf("primary rate limit: %d %+v %v", a.status, a.Errors, a.header)
	}
	if a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), query(`nameWithOwner`)); a.status != http.StatusBadGateway {
		t.Errorf("server error: %d", a.status)
	}
	if a := postGraphQL(t, gh.GraphQLURL(), gh.Token(), query(`nameWithOwner`)); a.status != http.StatusOK || len(a.Errors) > 0 {
		t.Errorf("after the faults: %d %+v", a.status, a.Errors)
	}
	var faults []string
	for _, r := range gh.Requests() {
		faults = append(faults, r.Fault)
	}
	if fmt.Sprint(faults) != "[primary-rate-limit server-error ]" {
		t.Errorf("faults %q", faults)
	}
}

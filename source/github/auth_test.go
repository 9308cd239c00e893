package github

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

const installationToken = "POST /app/installations/{installation_id}/access_tokens"

// TestAppAuthentication authenticates as an App installation, on a plain
// and an Enterprise base URL: the installation token is minted once from
// the same API, then reused.
func TestAppAuthentication(t *testing.T) {
	for _, enterprise := range []bool{false, true} {
		t.Run(fmt.Sprint("enterprise=", enterprise), func(t *testing.T) {
			gh := githubtest.New(t, githubtest.Options{AppID: 1234, InstallationID: 42})
			seed := newSeeder(t, gh)
			seed.annotated(3)
			keyFile := filepath.Join(t.TempDir(), "app.pem")
			if err := os.WriteFile(keyFile, gh.AppPrivateKeyPEM(), 0o600); err != nil {
				t.Fatal(err)
			}
			base := WithBaseURL(gh.APIURL())
			if enterprise {
				base = WithEnterprise(gh.APIURL())
			}
			r, err := New("octo-org", "models", WithApp(1234, 42, keyFile), base, WithLimits(testLimits))
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			if tags, err := r.Tags(ctx); err != nil || len(tags) != 3 {
				t.Fatalf("Tags as an App = %d, %v", len(tags), err)
			}
			if c, err := r.Commit(ctx, "main"); err != nil || c.Hash != seed.commit {
				t.Fatalf("Commit as an App = %+v, %v", c, err)
			}
			if n := gh.RequestCount(installationToken); n != 1 {
				t.Errorf("%d installation tokens minted, want 1 reused for every call", n)
			}
			// The token request is the App's budget, not the repository's.
			if st := r.Stats(); st.Requests != int64(len(gh.Requests())-1) {
				t.Errorf("Stats().Requests = %d, the stand-in saw %d besides the token", st.Requests, len(gh.Requests())-1)
			}
		})
	}
	if _, err := New("octo-org", "models", WithApp(1234, 42, filepath.Join(t.TempDir(), "missing.pem"))); err == nil {
		t.Error("New with a missing App key succeeded")
	}
}

// recorder records the paths of requests on their way out.
type recorder struct {
	mu    sync.Mutex
	paths []string
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	rec.mu.Lock()
	rec.paths = append(rec.paths, r.URL.EscapedPath())
	rec.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestEnterpriseURLs(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	seed.annotated(1)
	rec := &recorder{}
	root := strings.TrimSuffix(gh.APIURL(), "/")
	r, err := New("octo-org", "models", WithEnterprise(root), WithToken(gh.Token()), WithTransport(rec), WithLimits(testLimits))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Client().BaseURL.String(); got != root+"/api/v3/" {
		t.Errorf("BaseURL %s, want %s/api/v3/", got, root)
	}
	ctx := testCtx(t)
	if tags, err := r.Tags(ctx); err != nil || len(tags) != 1 {
		t.Fatalf("Tags = %d, %v", len(tags), err)
	}
	if b, err := r.ReadFile(ctx, ".gto", ""); err != nil || string(b) != "types: [model]\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	graphql := 0
	for _, p := range rec.paths {
		switch {
		case p == "/api/graphql":
			graphql++
		case !strings.HasPrefix(p, "/api/v3/repos/octo-org/models/"):
			t.Errorf("request to %s, want it under /api/v3/repos/octo-org/models/ or /api/graphql", p)
		}
	}
	if graphql != 1 {
		t.Errorf("%d GraphQL requests to /api/graphql, want 1 for the tag object", graphql)
	}
}

func TestGraphQLEndpoint(t *testing.T) {
	for _, tt := range []struct {
		opts []Option
		want string
	}{
		{nil, "https://api.github.com/graphql"},
		{[]Option{WithEnterprise("https://ghe.example.com/")}, "https://ghe.example.com/api/graphql"},
		{[]Option{WithBaseURL("https://ghe.example.com/api/v3")}, "https://ghe.example.com/api/graphql"},
		{[]Option{WithBaseURL("http://127.0.0.1:8080/")}, "http://127.0.0.1:8080/graphql"},
		{[]Option{WithBaseURL("http://127.0.0.1:8080/"), WithGraphQLURL("http://127.0.0.1:9090/gql")}, "http://127.0.0.1:9090/gql"},
	} {
		r, err := New("octo-org", "models", append(tt.opts, WithToken("t"))...)
		if err != nil {
			t.Fatal(err)
		}
		if r.graphqlURL != tt.want {
			t.Errorf("base %s: GraphQL at %s, want %s", r.Client().BaseURL, r.graphqlURL, tt.want)
		}
	}
}

func TestTokenFromEnvironment(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)

	t.Setenv("GH_TOKEN", "")
	t.Setenv("GITHUB_TOKEN", gh.Token())
	r, err := New("octo-org", "models", WithBaseURL(gh.APIURL()), WithLimits(testLimits))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Commit(testCtx(t), "main"); err != nil || c.Hash != seed.commit {
		t.Fatalf("Commit with GITHUB_TOKEN = %+v, %v", c, err)
	}

	t.Setenv("GITHUB_TOKEN", "")
	r, err = New("octo-org", "models", WithBaseURL(gh.APIURL()), WithLimits(testLimits))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Commit(testCtx(t), "main")
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "github: 401 Bad credentials") {
		t.Fatalf("anonymous Commit: %v; want GitHub's 401", err)
	}
}

func TestParseSpec(t *testing.T) {
	good := map[string]Spec{
		"github:acme/models":                    {"github.com", "acme", "models"},
		"https://github.com/acme/models":        {"github.com", "acme", "models"},
		"https://github.com/acme/models.git":    {"github.com", "acme", "models"},
		"https://github.com/acme/models/":       {"github.com", "acme", "models"},
		"git@github.com:acme/models.git":        {"github.com", "acme", "models"},
		"https://GHE.example.com/acme/models":   {"ghe.example.com", "acme", "models"},
		"http://127.0.0.1:8080/acme/models.git": {"127.0.0.1:8080", "acme", "models"},
	}
	for spec, want := range good {
		if got, err := ParseSpec(spec); err != nil || got != want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "acme/models", "./registry", "github:acme", "github:/models",
		"https://github.com/acme", "https://github.com/acme/models/tree/main", "git@github.com/acme/models"} {
		if got, err := ParseSpec(spec); err == nil {
			t.Errorf("ParseSpec(%q) = %+v; want an error", spec, got)
		}
	}
}

func TestOpen(t *testing.T) {
	r, err := Open("https://ghe.example.com/acme/models.git", WithToken("t"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Client().BaseURL.String(); got != "https://ghe.example.com/api/v3/" || r.FullName() != "acme/models" {
		t.Errorf("Open on an Enterprise host: %s %s", r.FullName(), got)
	}
	r, err = Open("github:acme/models", WithToken("t"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Client().BaseURL.String(); got != "https://api.github.com/" {
		t.Errorf("Open on github.com: base URL %s", got)
	}

	// Against the stand-in, an explicit base URL wins over the URL's host.
	gh := githubtest.New(t, githubtest.Options{})
	seed := newSeeder(t, gh)
	r, err = Open(gh.GitURL(), WithBaseURL(gh.APIURL()), WithToken(gh.Token()))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Commit(testCtx(t), "main"); err != nil || c.Hash != seed.commit {
		t.Fatalf("Commit through Open(%s) = %+v, %v", gh.GitURL(), c, err)
	}
}

// A server or proxy that repeats the Authorization header in its errors
// cannot put the credential into hookd's errors, which are logged and
// stored: the token, an App's JWT and its installation token alike, from
// REST and GraphQL answers.
func TestErrorsLeaveCredentialsOut(t *testing.T) {
	// Each echoes as often as a read is tried (reads are retried).
	echo := func(gh *githubtest.Server, path string) {
		gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.EchoAuthorization, Path: path, Count: 1 + testLimits.Retries})
	}
	t.Run("token", func(t *testing.T) {
		for _, path := range []string{"/git/matching-refs/", "/graphql"} {
			gh := githubtest.New(t, githubtest.Options{})
			newSeeder(t, gh).annotated(1)
			echo(gh, path)
			_, err := newRepo(t, gh).Tags(testCtx(t))
			if err == nil || strings.Contains(err.Error(), gh.Token()) || !strings.Contains(err.Error(), "[redacted]") {
				t.Errorf("%s echoing the header: error %v; want it without the token", path, err)
			}
		}
	})
	t.Run("app", func(t *testing.T) {
		gh := githubtest.New(t, githubtest.Options{AppID: 1234, InstallationID: 42})
		keyFile := filepath.Join(t.TempDir(), "app.pem")
		if err := os.WriteFile(keyFile, gh.AppPrivateKeyPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := New("octo-org", "models", WithApp(1234, 42, keyFile), WithBaseURL(gh.APIURL()), WithLimits(testLimits))
		if err != nil {
			t.Fatal(err)
		}
		var jwt string
		echo(gh, "/access_tokens")
		_, err = r.Tags(testCtx(t))
		for _, cred := range r.creds.seen {
			if strings.Count(cred, ".") == 2 { // header.payload.signature
				jwt = cred
			}
		}
		if err == nil || jwt == "" || strings.Contains(err.Error(), jwt) {
			t.Errorf("token endpoint echoing the App's JWT: error %v", err)
		}
		if n := gh.RequestCount(installationToken); n != 1+testLimits.Retries {
			t.Fatalf("%d token requests, want %d", n, 1+testLimits.Retries)
		}
		echo(gh, "/git/matching-refs/")
		_, err = r.Tags(testCtx(t))
		if err == nil || strings.Contains(err.Error(), gh.Token()) || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("listing echoing the installation token: error %v", err)
		}
	})
}

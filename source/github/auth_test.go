package github

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// appFront stands in front of the stand-in, which knows only tokens, and
// plays GitHub's App side: it mints an installation token for a JWT signed
// by the App's key and proxies everything else.
type appFront struct {
	srv    *httptest.Server
	minted atomic.Int32
}

func newAppFront(t *testing.T, gh *githubtest.Server, appID, installationID string, key *rsa.PrivateKey) *appFront {
	target, err := url.Parse(gh.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	f := &appFront{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app/installations/"+installationID+"/access_tokens" {
			proxy.ServeHTTP(w, r)
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims := &jwt.RegisteredClaims{}
		_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
			if _, ok := tok.Method.(*jwt.SigningMethodRSA); !ok {
				return nil, errors.New("not RS256")
			}
			return &key.PublicKey, nil
		})
		if r.Method != http.MethodPost || !ok || err != nil || claims.Issuer != appID {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.minted.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": gh.Token(), "expires_at": time.Now().Add(time.Hour)})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestAppAuthentication(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{Token: "ghs_installation"})
	seed := newSeeder(t, gh)
	seed.annotated(3)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	front := newAppFront(t, gh, "1234", "42", key)

	r, err := New("octo-org", "models", WithApp(1234, 42, keyFile), WithBaseURL(front.srv.URL), WithLimits(testLimits))
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
	if n := front.minted.Load(); n != 1 {
		t.Errorf("%d installation tokens minted, want 1 reused for every call", n)
	}
	// The token requests are the App's budget, not the repository's.
	if st := r.Stats(); st.Requests != int64(len(gh.Requests())) {
		t.Errorf("Stats().Requests = %d, the stand-in saw %d", st.Requests, len(gh.Requests()))
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
	for _, p := range rec.paths {
		if !strings.HasPrefix(p, "/api/v3/repos/octo-org/models/") {
			t.Errorf("request to %s, want it under /api/v3/repos/octo-org/models/", p)
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

package github

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/source/sourcetest"
)

// testLimits keep every wait in these tests to a few seconds.
var testLimits = Limits{MaxWait: 5 * time.Second, Retries: 3, Backoff: 10 * time.Millisecond}

// newRepo is a Repo over the stand-in gh, authenticated with its token.
func newRepo(t *testing.T, gh *githubtest.Server, opts ...Option) *Repo {
	t.Helper()
	owner, name, _ := strings.Cut(gh.FullName(), "/")
	r, err := New(owner, name, append([]Option{WithBaseURL(gh.APIURL()), WithToken(gh.Token()), WithLimits(testLimits)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestContract(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Fixture {
		gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
		return sourcetest.Fixture{Source: newRepo(t, gh), Remote: gh.AuthGitURL()}
	})
}

package access

import (
	"errors"
	"strings"
	"testing"
)

// ciBot may assign dev and staging in acme's repositories and read them;
// releaseBot may also assign prod in acme/models, with force.
var (
	ciBot = Principal{Name: "ci-bot", Scopes: []Scope{
		{Repositories: []string{"acme/*"}, Operations: []string{"read", "register", "assign", "unassign"}, Stages: []string{"dev", "staging"}},
	}}
	releaseBot = Principal{Name: "release-bot", Scopes: []Scope{
		{Repositories: []string{"acme/models"}, Operations: []string{"*"}, Stages: []string{"*"}, Force: true},
		{Repositories: []string{"acme/*"}, Operations: []string{"read"}},
	}}
)

func TestAllows(t *testing.T) {
	for _, c := range []struct {
		p    Principal
		r    Request
		want bool
	}{
		{ciBot, Request{"acme/models", Assign, "dev", false}, true},
		{ciBot, Request{"acme/other", Assign, "staging", false}, true},
		{ciBot, Request{"acme/models", Assign, "prod", false}, false},
		{ciBot, Request{"acme/models", Unassign, "prod", false}, false},
		{ciBot, Request{"acme/models", Assign, "dev", true}, false}, // no force
		{ciBot, Request{"acme/models", Register, "", false}, true},
		{ciBot, Request{"acme/models", Deregister, "", false}, false},
		{ciBot, Request{"acme/models", Retry, "", false}, false},
		{ciBot, Request{"globex/models", Read, "", false}, false},
		{ciBot, Request{"acme", Read, "", false}, false}, // "acme/*" needs the slash
		{releaseBot, Request{"acme/models", Assign, "prod", true}, true},
		{releaseBot, Request{"acme/models", Deprecate, "", false}, true},
		{releaseBot, Request{"acme/models", Retry, "", false}, true},
		{releaseBot, Request{"acme/other", Assign, "dev", false}, false},
		{releaseBot, Request{"acme/other", Read, "", false}, true},
		{Principal{Name: "none"}, Request{"acme/models", Read, "", false}, false},
		// A scope without stages allows no staged operation.
		{Principal{Name: "x", Scopes: []Scope{{Repositories: []string{"*"}, Operations: []string{"*"}}}}, Request{"acme/models", Assign, "dev", false}, false},
		{Principal{Name: "x", Scopes: []Scope{{Repositories: []string{"*"}, Operations: []string{"*"}}}}, Request{"acme/models", Register, "", false}, true},
	} {
		if got := c.p.Allows(c.r); got != c.want {
			t.Errorf("%s %+v: allowed %v, want %v", c.p.Name, c.r, got, c.want)
		}
		err := c.p.Check(c.r)
		var denied *DeniedError
		if c.want != (err == nil) || (!c.want && !errors.As(err, &denied)) {
			t.Errorf("%s %+v: Check = %v", c.p.Name, c.r, err)
		}
	}
}

func TestDeniedMessage(t *testing.T) {
	err := ciBot.Check(Request{"acme/models", Assign, "prod", true})
	if want := `ci-bot may not assign stage "prod" with force in acme/models`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestAllRepositories(t *testing.T) {
	admin := Principal{Scopes: []Scope{{Repositories: []string{"*"}, Operations: []string{"read"}}}}
	if !admin.AllRepositories(Read) || admin.AllRepositories(Retry) {
		t.Error("a read scope on * reads every repository and retries none")
	}
	if ciBot.AllRepositories(Read) {
		t.Error("acme/* is not every repository")
	}
}

func TestScopeProblems(t *testing.T) {
	for _, c := range []struct {
		s    Scope
		want []string // substrings, in order
	}{
		{Scope{Repositories: []string{"*"}, Operations: []string{"read"}}, nil},
		{Scope{Repositories: []string{"*"}, Operations: []string{"assign"}, Stages: []string{"dev"}}, nil},
		{Scope{}, []string{"repositories is required", "operations is required"}},
		{Scope{Repositories: []string{"*"}, Operations: []string{"asign"}}, []string{`operation "asign" is none of read, register`}},
		{Scope{Repositories: []string{"*"}, Operations: []string{"*"}}, []string{"stages is required with assign or unassign"}},
	} {
		got := c.s.Problems()
		if len(got) != len(c.want) {
			t.Errorf("%+v: problems %q, want %d", c.s, got, len(c.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], c.want[i]) {
				t.Errorf("%+v: problem %q, want it to say %q", c.s, got[i], c.want[i])
			}
		}
	}
}

// AllowsSome offers an operation when some scope allows it in some stage.
func TestAllowsSome(t *testing.T) {
	ci := Principal{Name: "ci", Scopes: []Scope{
		{Repositories: []string{"acme/*"}, Operations: []string{"read", "assign"}, Stages: []string{"dev"}},
		{Repositories: []string{"acme/models"}, Operations: []string{"unassign"}},
	}}
	for _, c := range []struct {
		repo string
		op   Operation
		want bool
	}{
		{"acme/models", Assign, true},
		{"acme/other", Assign, true},
		{"beta/models", Assign, false},
		{"acme/models", Register, false},
		{"acme/models", Unassign, false}, // a scope without stages allows no stage
		{"acme/models", Read, true},
	} {
		if got := ci.AllowsSome(c.repo, c.op); got != c.want {
			t.Errorf("AllowsSome(%s, %s) = %v, want %v", c.repo, c.op, got, c.want)
		}
	}
}

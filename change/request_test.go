package change_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/registry"
)

// simple takes what API clients send for gto's --simple: the words, and
// JSON's booleans; anything else is refused.
func TestSimpleJSON(t *testing.T) {
	accepted := map[string]registry.Simple{
		`"auto"`:  registry.SimpleAuto,
		`"true"`:  registry.SimpleTrue,
		`"false"`: registry.SimpleFalse,
		`true`:    registry.SimpleTrue,
		`false`:   registry.SimpleFalse,
	}
	for in, want := range accepted {
		var r change.Request
		if err := json.Unmarshal([]byte(`{"artifact":"churn","simple":`+in+`}`), &r); err != nil {
			t.Errorf("simple %s refused: %v", in, err)
			continue
		}
		if registry.Simple(r.Simple) != want {
			t.Errorf("simple %s = %v, want %v", in, r.Simple, change.Simple(want))
		}
	}
	for _, in := range []string{`"yes"`, `"True"`, `"TRUE"`, `"no"`, `1`, `0`, `"1"`, `{}`, `[]`, `"auto "`} {
		var r change.Request
		err := json.Unmarshal([]byte(`{"artifact":"churn","simple":`+in+`}`), &r)
		if err == nil {
			t.Errorf("simple %s accepted as %v", in, r.Simple)
		} else if !strings.Contains(err.Error(), "simple must be auto, true or false") {
			t.Errorf("simple %s: error %q does not say what is allowed", in, err)
		}
	}
}

// JSON's null is "not given", as for every other field: the default.
func TestSimpleJSONNullIsTheDefault(t *testing.T) {
	r := change.Request{Simple: change.Simple(registry.SimpleFalse)}
	if err := json.Unmarshal([]byte(`{"artifact":"churn","simple":null}`), &r); err != nil {
		t.Fatalf("simple null refused: %v", err)
	}
	if r.Simple != change.Simple(registry.SimpleFalse) {
		t.Errorf("simple null changed the value to %v", r.Simple)
	}
	var fresh change.Request
	if err := json.Unmarshal([]byte(`{"artifact":"churn","simple":null}`), &fresh); err != nil || fresh.Simple != change.Simple(registry.SimpleAuto) {
		t.Errorf("simple null: %v, %v; want auto", fresh.Simple, err)
	}
}

// A request survives a round trip through JSON (the audit log stores it
// so), and its JSON uses the API's field names.
func TestRequestJSONRoundTrip(t *testing.T) {
	for _, r := range []change.Request{
		{Artifact: "churn"},
		{Artifact: "models=churn", Version: "v1.2.3-rc.1+build.5", Message: "ship it\n\nplease", Force: true,
			Simple: change.Simple(registry.SimpleTrue)},
		{Artifact: "churn", Stage: "prod", Ref: "main", NameVersion: "v2.0.0", Simple: change.Simple(registry.SimpleFalse)},
		{Artifact: "churn", Stage: "dev", Ref: "abc123", SkipRegistration: true},
		{Artifact: "churn", Bump: "minor"},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back change.Request
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if back != r {
			t.Errorf("round trip of %+v gave %+v (via %s)", r, back, b)
		}
	}
	b, _ := json.Marshal(change.Request{Artifact: "churn", Stage: "prod", Ref: "main", NameVersion: "v2.0.0",
		SkipRegistration: true, Simple: change.Simple(registry.SimpleFalse)})
	want := `{"artifact":"churn","ref":"main","stage":"prod","name_version":"v2.0.0","simple":"false","skip_registration":true}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	// auto is the default and is left out.
	if b, _ := json.Marshal(change.Request{Artifact: "churn"}); string(b) != `{"artifact":"churn"}` {
		t.Errorf("JSON of a bare request: %s", b)
	}
}

// Check refuses what gto's command of the same name would not take, or
// takes and ignores, before anything is read or written.
func TestRequestCheck(t *testing.T) {
	cases := []struct {
		op  access.Operation
		req change.Request
		err string // "" for none
	}{
		{access.Register, change.Request{Artifact: "churn"}, ""},
		{access.Register, change.Request{Artifact: "churn", Version: "v1.0.0", Ref: "main", Message: "m", Force: true}, ""},
		{access.Register, change.Request{Artifact: "churn", Bump: "major"}, ""},
		{access.Register, change.Request{Artifact: "churn", Bump: "patch", Ref: "main"}, ""},
		{access.Register, change.Request{Artifact: "churn", Version: "v1.0.0", Bump: "minor"}, "give version or bump, not both"},
		{access.Register, change.Request{Artifact: "churn", Bump: "Minor"}, "bump must be major, minor or patch"},
		{access.Register, change.Request{Artifact: "churn", Bump: "minor\n"}, "bump must be major, minor or patch"},
		{access.Register, change.Request{Artifact: "churn", Stage: "dev"}, "stage does not apply to register"},
		{access.Register, change.Request{Artifact: "churn", NameVersion: "v1.0.0"}, "name_version does not apply to register"},
		{access.Register, change.Request{Artifact: "churn", SkipRegistration: true}, "skip_registration does not apply to register"},
		{access.Register, change.Request{}, "artifact is required"},

		{access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.0.0"}, ""},
		{access.Assign, change.Request{Artifact: "churn", Stage: "dev", Ref: "main", NameVersion: "v1.0.0"}, ""},
		{access.Assign, change.Request{Artifact: "churn", Stage: "dev", Ref: "main", SkipRegistration: true}, ""},
		{access.Assign, change.Request{Artifact: "churn", Version: "v1.0.0"}, "stage is required"},
		{access.Assign, change.Request{Artifact: "churn", Stage: "dev"}, "give version or ref, one of them"},
		{access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.0.0", Ref: "main"}, "give version or ref, one of them"},
		{access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.0.0", NameVersion: "v2.0.0"},
			"name_version names the version registered at ref; give ref"},
		{access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.0.0", Bump: "minor"}, "bump does not apply to assign"},

		{access.Unassign, change.Request{Artifact: "churn", Stage: "dev", Ref: "main"}, ""},
		{access.Unassign, change.Request{Artifact: "churn", Version: "v1.0.0"}, "stage is required"},
		{access.Unassign, change.Request{Artifact: "churn", Stage: "dev", Ref: "main", NameVersion: "v1.0.0"},
			"name_version does not apply to unassign"},

		{access.Deregister, change.Request{Artifact: "churn", Version: "v1.0.0"}, ""},
		{access.Deregister, change.Request{Artifact: "churn"}, "give version or ref, one of them"},
		{access.Deregister, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "dev"}, "stage does not apply to deregister"},

		{access.Deprecate, change.Request{Artifact: "churn"}, ""},
		{access.Deprecate, change.Request{Artifact: "churn", Ref: "main", Force: true}, ""},
		{access.Deprecate, change.Request{Artifact: "churn", Version: "v1.0.0"}, "version does not apply to deprecate"},

		{access.Read, change.Request{Artifact: "churn"}, `"read" is not an operation; use one of register, assign, unassign, deregister, deprecate`},
		{"promote", change.Request{Artifact: "churn"}, `"promote" is not an operation; use one of register, assign, unassign, deregister, deprecate`},
	}
	for _, c := range cases {
		err := c.req.Check(c.op)
		if c.err == "" {
			if err != nil {
				t.Errorf("%s %+v: %v", c.op, c.req, err)
			}
			continue
		}
		var ie *change.InputError
		if !errors.As(err, &ie) || err.Error() != c.err {
			t.Errorf("%s %+v: error %v, want InputError %q", c.op, c.req, err, c.err)
		}
		if change.Status(err) != 422 || change.Code(err) != "invalid" {
			t.Errorf("%s %+v: status %d %s, want 422 invalid", c.op, c.req, change.Status(err), change.Code(err))
		}
	}
}

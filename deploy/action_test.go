package deploy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/deploy"
)

func TestValidateFindsMistakesBeforeTheyRun(t *testing.T) {
	for _, tc := range []struct {
		name, actions string
		want          string // in the message
		path          string // fmt of the problem's path
	}{
		{"misspelt field", `[{name: a, exec: {command: [deploy, "{{.Artifcat}}"]}}]`,
			`action "a": exec.command[1]: 1:2: <.Artifcat>: can't evaluate field Artifcat`, "[actions 0 exec command 1]"},
		{"bad syntax", `[{name: a, http: {url: "http://x/{{.Stage"}}]`,
			`action "a": http.url: 1:`, "[actions 0 http url]"},
		{"undeclared secret", `[{name: a, http: {url: "http://x", headers: {Authorization: '{{.Secret "TOKEN"}}'}}}]`,
			`secret "TOKEN" is not declared`, "[actions 0 http headers Authorization]"},
		{"missing map key", `[{name: a, exec: {command: [x], env: {V: "{{index .Event.Annotations.Labels 5}}"}}}]`,
			`exec.env.V`, "[actions 0 exec env V]"},
		{"two kinds", `[{name: a, exec: {command: [x]}, http: {url: "http://x"}}]`,
			`set exactly one of exec, http`, "[actions 0]"},
		{"no kind", `[{name: a}]`, `set exactly one of`, "[actions 0]"},
		{"empty command", `[{name: a, exec: {command: []}}]`, `exec.command is empty`, "[actions 0 exec command]"},
		{"unknown event", `[{name: a, on: {event: [assigned]}, exec: {command: [x]}}]`,
			`on.event: "assigned" is not one of`, "[actions 0 on event]"},
		{"duplicate name", `[{name: a, exec: {command: [x]}}, {name: a, exec: {command: [y]}}]`,
			`action "a" is defined twice`, "[actions 1 name]"},
		{"bad name", `[{name: "a b", exec: {command: [x]}}]`, `name "a b" must be`, "[actions 0 name]"},
		{"url not http", `[{name: a, http: {url: "ftp://x/{{urlpath .Stage}}"}}]`, `"ftp://x/prod" is not an http(s) URL`, "[actions 0 http url]"},
		{"workflow without file", `[{name: a, github_workflow: {}}]`, `github_workflow.workflow is empty`, "[actions 0 github_workflow workflow]"},
		{"too many payload keys", `[{name: a, github_dispatch: {client_payload: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10, k: 11}}}]`,
			`at most 10`, "[actions 0 github_dispatch client_payload]"},
		{"bad env name", `[{name: a, exec: {command: [x], env: {"A-B": x}}}]`, `"A-B" is not a valid environment variable name`, "[actions 0 exec env A-B]"},
		{"backoff upside down", `[{name: a, backoff: {initial: 1m, max: 1s}, exec: {command: [x]}}]`, `backoff.max is below`, "[actions 0 backoff max]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var actions []deploy.Action
			if err := yamlUnmarshal(tc.actions, &actions); err != nil {
				t.Fatal(err)
			}
			problems := deploy.Validate(actions)
			if len(problems) != 1 {
				t.Fatalf("problems = %q, want one", problems)
			}
			if !strings.Contains(problems[0].Message, tc.want) {
				t.Errorf("message = %q, want it to contain %q", problems[0].Message, tc.want)
			}
			if got := fmt.Sprint(problems[0].Path); got != tc.path {
				t.Errorf("path = %s, want %s", got, tc.path)
			}
			if _, err := deploy.NewEngine(actions, nil, deploy.Options{}); err == nil {
				t.Error("NewEngine accepted actions Validate rejects")
			}
		})
	}
}

func TestValidateAcceptsTheIssueExample(t *testing.T) {
	actions := parseActions(t, `
actions:
  - name: redeploy-prod
    on: {repo: "acme/models", artifact: "churn-*", event: [assignment], stage: prod}
    exec: {command: ["./deploy.sh", "{{.Artifact}}", "{{.Version}}"], timeout: 10m}
`)
	if problems := deploy.Validate(actions); len(problems) != 0 {
		t.Fatal(problems)
	}
	if actions[0].Exec.Timeout.Std() != 10*time.Minute {
		t.Errorf("timeout = %v", actions[0].Exec.Timeout.Std())
	}
}

func TestYAMLErrorsHaveLines(t *testing.T) {
	for doc, want := range map[string]string{
		"- name: a\n  on: {version: \">=1.x\"}\n":  `line 2: version constraint ">=1.x": "1.x" is not a SemVer version`,
		"- name: a\n  exec: {timeout: soon}\n":     `line 2: "soon" is not a duration`,
		"- name: a\n  on: {stage: {prod: true}}\n": `line 2: expected a string or a list of strings`,
	} {
		var actions []deploy.Action
		err := yamlUnmarshal(doc, &actions)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
}

func TestMatch(t *testing.T) {
	ev := deploy.SampleEvent // acme/models churn-model v1.2.3 assignment to prod
	registration := ev
	registration.Type, registration.Stage = "registration", ""
	unregistered := ev
	unregistered.Version = "0123456789abcdef0123456789abcdef01234567"
	deleted := ev
	deleted.Type = "tag_deleted"
	nested := ev
	nested.Artifact = "models/churn=churn-model"

	for _, tc := range []struct {
		on   string
		ev   deploy.Event
		want bool
	}{
		{`{}`, ev, true},
		{`{}`, deleted, false},
		{`{repo: acme/models, artifact: "churn-*", event: [assignment], stage: prod}`, ev, true},
		{`{repo: "acme/*"}`, ev, true},
		{`{repo: "other/*"}`, ev, false},
		{`{artifact: [fraud, "churn-?odel"]}`, ev, true},
		{`{artifact: "churn"}`, ev, false},
		{`{artifact: "*churn-model"}`, nested, true},
		{`{artifact: "models/*"}`, nested, true},
		{`{stage: [staging, "pro*"]}`, ev, true},
		{`{stage: "*"}`, registration, false},
		{`{event: [registration, deregistration]}`, ev, false},
		{`{event: registration}`, registration, true},
		{`{version: ">=1.2.0 <2.0.0"}`, ev, true},
		{`{version: ">=1.2.4 || <1.0.0"}`, ev, false},
		{`{version: "<1.0.0 || 1.2.3"}`, ev, true},
		{`{version: ">= 1.0.0"}`, ev, true},
		{`{version: ">=1.0.0"}`, unregistered, false},
		{`{version: "!=v1.2.3"}`, ev, false},
	} {
		var m deploy.Match
		if err := yamlUnmarshal(tc.on, &m); err != nil {
			t.Fatalf("%s: %v", tc.on, err)
		}
		if got := m.Matches(&tc.ev); got != tc.want {
			t.Errorf("%s matches %s %s %s %s: %v, want %v", tc.on, tc.ev.Type, tc.ev.Artifact, tc.ev.Version, tc.ev.Stage, got, tc.want)
		}
	}
}

func TestConstraintPrecedence(t *testing.T) {
	for _, tc := range []struct {
		c, v string
		want bool
	}{
		{"<1.2.0", "v1.2.0-rc.1", true}, // a pre-release comes before its release
		{">=1.2.0", "v1.2.0-rc.1", false},
		{"=1.2.0", "v1.2.0+build.7", true}, // build metadata does not count
		{">1.2.0-alpha.2", "v1.2.0-alpha.10", true},
		{">=v2.0.0", "v10.0.0", true},
		{"", "not-a-version", true},
	} {
		c, err := deploy.ParseConstraint(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Matches(tc.v); got != tc.want {
			t.Errorf("%q matches %s: %v, want %v", tc.c, tc.v, got, tc.want)
		}
	}
	for _, bad := range []string{">=1.2", "1.2.0 ||", "~1.2.0", ">=x"} {
		if _, err := deploy.ParseConstraint(bad); err == nil {
			t.Errorf("ParseConstraint(%q) accepted it", bad)
		}
	}
}

func TestBackoffGrowsWithJitterUpToMax(t *testing.T) {
	b := deploy.Backoff{Initial: deploy.Duration(time.Second), Max: deploy.Duration(8 * time.Second)}
	for attempt, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		for range 100 {
			if d := b.Delay(attempt); d < full/2 || d > full {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
}

func TestSignatureVector(t *testing.T) {
	// GitHub's published vector: hookd signs the way GitHub does, so the
	// same receiver code verifies both.
	got := deploy.Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	if got != "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" {
		t.Errorf("Sign = %s", got)
	}
	if deploy.VerifySignature([]byte("wrong"), []byte("Hello, World!"), got) {
		t.Error("a signature verified with the wrong secret")
	}
}

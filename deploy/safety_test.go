package deploy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// Validation renders templates with tag text that breaks URLs and JSON
// ('/', '"', '#', spaces, non-ASCII in the artifact, stage and message)
// and refuses those it bends, and shell scripts with templates in them;
// the escaped forms pass.
func TestValidateRefusesTemplatesTagTextCanBend(t *testing.T) {
	for _, tc := range []struct {
		name, action, want string
	}{
		{"artifact in the path", `http: {url: "https://x/artifacts/{{.Artifact}}/deploy"}`, "tag text changes the URL"},
		{"stage in the query", `http: {url: "https://x/deploy?stage={{.Stage}}&v=1"}`, "tag text changes the URL"},
		{"message in a JSON string", `http: {url: "https://x", body: '{"msg": "{{.Message}}"}'}`, "tag text breaks the JSON"},
		{"sh -c", `exec: {command: [sh, -c, "deploy {{.Artifact}}"]}`, "a template inside a sh -c script makes tag text shell code"},
		{"bash -ec", `exec: {command: [/bin/bash, -e, -c, "deploy {{.Version}}"]}`, "bash -c script"},
		{"env sh -xc", `exec: {command: [env, A=1, sh, -xc, "echo {{.Message}}"]}`, "sh -c script"},
		{"escaped path", `http: {url: "https://x/artifacts/{{urlpath .Artifact}}/deploy"}`, ""},
		{"escaped query", `http: {url: "https://x/deploy?stage={{urlquery .Stage}}&v=1"}`, ""},
		{"JSON values", `http: {url: "https://x", body: '{"msg": {{json .Message}}, "v": {{json .Version}}}'}`, ""},
		{"values as arguments", `exec: {command: [sh, -c, 'deploy "$1"', sh, "{{.Artifact}}"]}`, ""},
		{"no shell", `exec: {command: [./deploy.sh, -c, "{{.Artifact}}"]}`, ""},
	} {
		wantProblem(t, tc.action, tc.want)
	}
}

// wantProblem validates the action a (its keys after name) and fails
// unless it has the one problem want ("": none).
func wantProblem(t *testing.T, a, want string) {
	t.Helper()
	problems := deploy.Validate(parseActions(t, "actions: [{name: a, "+a+"}]"))
	switch {
	case want == "" && len(problems) > 0:
		t.Errorf("%s: problems %q, want none", a, problems)
	case want != "" && (len(problems) != 1 || !strings.Contains(problems[0].Message, want)):
		t.Errorf("%s: problems %q, want one with %q", a, problems, want)
	}
}

// urlpath keeps a monorepo artifact's '/' inside its path segment, and
// urlquery a stage's '#' inside the query, when the request is sent.
func TestURLHelpersKeepTagTextInItsPlace(t *testing.T) {
	rc := newStatusReceiver(t, http.StatusOK)
	actions := parseActions(t, `
actions:
  - name: notify
    on: {event: assignment}
    http: {url: "`+rc.url+`/artifacts/{{urlpath .Artifact}}/deploy?stage={{urlquery .Stage}}", body: '{"msg": {{json .Message}}}'}
`)
	r := newRig(t, actions, deploy.Options{})
	ev := assignment("models/churn:rf", "v1.0.0", "prod#eu")
	ev.Message = `say "hi" #1 ünï`
	_, runs := r.event(ev)
	if got := r.wait(runs[0].ID, store.RunSucceeded, store.RunFailed); got.Status != store.RunSucceeded {
		t.Fatalf("run %s: %+v", got.Status, got.History)
	}
	q := rc.requests()[0]
	if q.URI != "/artifacts/models%2Fchurn:rf/deploy?stage=prod%23eu" {
		t.Errorf("request URI %q", q.URI)
	}
	if string(q.Body) != `{"msg": "say \"hi\" #1 ünï"}` {
		t.Errorf("body %s", q.Body)
	}
}

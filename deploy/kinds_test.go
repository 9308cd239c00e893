package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// hostile is an event with the nastiest values the tag grammar allows, and
// a message (free text) written to look like shell.
func hostile(canary string) store.Event {
	e := assignment("../../etc=a-b/c_d/e", "v1.2.3-rc.1+build.5", "prod/eu-1_b")
	e.TagName = "../../etc=a-b/c_d/e#prod/eu-1_b#7"
	e.Message = fmt.Sprintf("$(touch %[1]s) `touch %[1]s`; touch %[1]s\n&& touch %[1]s | x > %[1]s '\"", canary)
	e.Tagger.Name = "$(id) `id`"
	return e
}

func TestExecGetsTheEventAsWholeArgumentsAndEnv(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(dir, "pwned")
	t.Setenv("DEPLOY_TOKEN_FOR_TEST", "s3cr3t-t0ken-value")
	actions := parseActions(t, `
actions:
  - name: redeploy-prod
    on: {repo: "acme/*", artifact: "*e", event: [assignment], stage: "prod/*", version: ">=1.2.3-rc.0 <2.0.0"}
    secrets: {DEPLOY_TOKEN: s3cr3t-t0ken-value}
    exec: `+helperCommand(t, "report", "{{.Artifact}}", "{{.Message}}", "--version={{.Version}}", "{{.Tagger.Name}}", "{{.Secret \"DEPLOY_TOKEN\"}}", "{{.Annotations.Type}}:{{.Annotations.Path}}")+`, dir: `+dir+`, timeout: 30s}
`)
	annotate := func(_ context.Context, e *deploy.Event) (deploy.Annotations, error) {
		return deploy.Annotations{Type: "model", Path: e.Artifact + ".pkl"}, nil
	}
	r := newRig(t, actions, deploy.Options{PublicURL: "https://hookd.example/", Annotations: annotate})
	ev, runs := r.event(hostile(canary))
	if len(runs) != 1 {
		t.Fatalf("runs = %v, want one", runs)
	}
	run := r.wait(runs[0].ID, store.RunSucceeded, store.RunFailed)
	if run.Status != store.RunSucceeded {
		t.Fatalf("run %s: %+v", run.Status, run.History)
	}
	last := run.History[len(run.History)-1]
	if last.ExitCode == nil || *last.ExitCode != 0 {
		t.Errorf("exit code = %v, want 0", last.ExitCode)
	}
	var got report
	if err := json.Unmarshal([]byte(last.OutputTail), &got); err != nil {
		t.Fatalf("output %q: %v", last.OutputTail, err)
	}
	want := []string{ev.Artifact, ev.Message, "--version=" + ev.Version, ev.Tagger.Name, "[redacted]", "model:" + ev.Artifact + ".pkl"}
	if !slices.Equal(got.Args, want) {
		t.Errorf("args = %q\nwant %q", got.Args, want)
	}
	if got.Dir != dir {
		t.Errorf("dir = %q, want %q", got.Dir, dir)
	}
	for k, v := range map[string]string{
		"HOOKD_EVENT_ID":         fmt.Sprint(ev.ID),
		"HOOKD_IDEMPOTENCY_KEY":  run.IdempotencyKey,
		"HOOKD_RUN_URL":          fmt.Sprintf("https://hookd.example/ui/runs/%d", run.ID),
		"HOOKD_EVENT":            "assignment",
		"HOOKD_REPOSITORY":       "acme/models",
		"HOOKD_ARTIFACT":         ev.Artifact,
		"HOOKD_VERSION":          ev.Version,
		"HOOKD_STAGE":            ev.Stage,
		"HOOKD_PREVIOUS_VERSION": "v0.9.0",
		"HOOKD_TAG":              ev.TagName,
		"HOOKD_MESSAGE":          ev.Message,
		"HOOKD_DELIVERY_ID":      "d-1",
		"HOOKD_ARTIFACT_PATH":    ev.Artifact + ".pkl",
		"DEPLOY_TOKEN":           "[redacted]", // present, and scrubbed from the output
	} {
		if got.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, got.Env[k], v)
		}
	}
	if _, ok := got.Env["DEPLOY_TOKEN_FOR_TEST"]; ok {
		t.Error("hookd's own environment leaked into the program")
	}
	if strings.Contains(last.OutputTail, "s3cr3t-t0ken-value") {
		t.Error("the secret is in the recorded output")
	}
	if _, err := os.Stat(canary); !os.IsNotExist(err) {
		t.Errorf("shell-like text in the tag was executed: %s exists", canary)
	}
}

func TestHTTPSendsSignedEvent(t *testing.T) {
	rc := newReceiver(t, 0)
	actions := parseActions(t, `
actions:
  - name: notify
    on: {event: assignment}
    secrets: {API_TOKEN: tok-123456}
    http:
      url: `+rc.url+`/deploy/{{urlpath .Stage}}
      headers: {Authorization: 'Bearer {{.Secret "API_TOKEN"}}', X-Artifact: "{{.Artifact}}"}
      signing_secret: sign-me-please
      timeout: 5s
  - name: custom-body
    on: {event: assignment}
    http: {method: PUT, url: `+rc.url+`/custom, body: '{"v": {{json .Version}}, "msg": {{json .Message}}}', accept: [200]}
`)
	r := newRig(t, actions, deploy.Options{})
	ev, runs := r.event(hostile(filepath.Join(t.TempDir(), "x")))
	for _, run := range runs {
		if got := r.wait(run.ID, store.RunSucceeded, store.RunFailed); got.Status != store.RunSucceeded {
			t.Fatalf("run %s %s: %+v", got.Action, got.Status, got.History)
		}
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(reqs))
	}
	byKey := map[string]received{}
	for _, q := range reqs {
		byKey[q.Header.Get("Idempotency-Key")] = q
	}
	var signed, custom received
	for _, run := range runs {
		q, ok := byKey[run.IdempotencyKey]
		if !ok {
			t.Fatalf("no request carried run %s's idempotency key", run.Action)
		}
		if run.Action == "notify" {
			signed = q
		} else {
			custom = q
		}
	}

	if !deploy.VerifySignature([]byte("sign-me-please"), signed.Body, signed.Header.Get(deploy.SignatureHeader)) {
		t.Errorf("signature %q does not verify", signed.Header.Get(deploy.SignatureHeader))
	}
	if got := signed.Header.Get("Authorization"); got != "Bearer tok-123456" {
		t.Errorf("Authorization = %q", got)
	}
	if got := signed.Header.Get("X-Artifact"); got != ev.Artifact {
		t.Errorf("X-Artifact = %q, want %q", got, ev.Artifact)
	}
	var body struct {
		deploy.Event
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := json.Unmarshal(signed.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Artifact != ev.Artifact || body.Message != ev.Message || body.Version != ev.Version ||
		body.Stage != ev.Stage || body.Previous != "v0.9.0" || body.Tag != ev.TagName || body.EventID != ev.ID ||
		body.DeliveryID != "d-1" || body.Commit != ev.CommitSHA || body.IdempotencyKey == "" {
		t.Errorf("default body = %s", signed.Body)
	}

	var c struct{ V, Msg string }
	if err := json.Unmarshal(custom.Body, &c); err != nil {
		t.Fatalf("custom body %s: %v", custom.Body, err)
	}
	if c.V != ev.Version || c.Msg != ev.Message {
		t.Errorf("custom body = %s", custom.Body)
	}
	if custom.Header.Get(deploy.SignatureHeader) != "" {
		t.Error("an action without signing_secret signed its request")
	}

	run, err := r.store.Run(testCtx(t), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	out := run.History[0].OutputTail
	if !strings.Contains(out, "200 OK") || !strings.Contains(out, "deployed") {
		t.Errorf("output = %q, want the status and the response", out)
	}
}

func TestRetriedThenFailedThenRetriedByHand(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	actions := parseActions(t, `
actions:
  - name: flaky
    max_attempts: 3
    backoff: {initial: 10ms, max: 40ms}
    exec: `+helperCommand(t, "fail-unless", ready)+`}
`)
	r := newRig(t, actions, deploy.Options{})
	_, runs := r.event(assignment("churn", "v1.0.0", "prod"))
	run := r.wait(runs[0].ID, store.RunFailed, store.RunSucceeded)
	if run.Status != store.RunFailed || len(run.History) != 3 {
		t.Fatalf("run is %s after %d attempts, want failed after 3", run.Status, len(run.History))
	}
	for _, a := range run.History {
		if a.ExitCode == nil || *a.ExitCode != 3 || !strings.Contains(a.OutputTail, "not ready") || a.Error != "exit status 3" {
			t.Errorf("attempt %d: exit %v, error %q, output %q", a.Number, a.ExitCode, a.Error, a.OutputTail)
		}
		if a.FinishedAt == nil || a.FinishedAt.Before(a.StartedAt) {
			t.Errorf("attempt %d has no sensible timing: %v..%v", a.Number, a.StartedAt, a.FinishedAt)
		}
	}

	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.store.RetryRun(testCtx(t), run.ID); err != nil {
		t.Fatal(err)
	}
	run = r.wait(run.ID, store.RunSucceeded, store.RunFailed)
	if run.Status != store.RunSucceeded || len(run.History) != 4 {
		t.Fatalf("after the retry by hand: %s after %d attempts, want succeeded after 4", run.Status, len(run.History))
	}
	failed, err := r.store.Runs(testCtx(t), store.RunFilter{Status: store.RunFailed})
	if err != nil || len(failed) != 0 {
		t.Errorf("failed runs after the retry = %v, %v", failed, err)
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "grandchild")
	actions := parseActions(t, `
actions:
  - name: hangs
    max_attempts: 1
    exec: `+helperCommand(t, "spawn", pidFile)+`, timeout: 1s}
`)
	r := newRig(t, actions, deploy.Options{})
	_, runs := r.event(assignment("churn", "v1.0.0", "prod"))
	run := r.wait(runs[0].ID, store.RunFailed, store.RunSucceeded)
	if run.Status != store.RunFailed {
		t.Fatalf("run %s, want failed", run.Status)
	}
	if e := run.History[0].Error; !strings.Contains(e, "timed out after 1s") {
		t.Errorf("error = %q, want it to say it timed out", e)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(raw))
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %s still runs after the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether the process exists and is not a zombie waiting to
// be reaped by whoever inherited it.
func alive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

package deploy_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// slackPayload is an incoming webhook's payload as Slack reads it, Block
// Kit's section, context and divider blocks with their text objects.
type slackPayload struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string     `json:"type"`
		Text *slackText `json:"text"`
		// Fields belong to sections, elements to context blocks.
		Fields   []slackText `json:"fields"`
		Elements []slackText `json:"elements"`
	} `json:"blocks"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// checkShape fails unless p is a message Slack accepts: text set, blocks
// of known types with text objects of type mrkdwn or plain_text, sections
// with text or fields (at most 10, each at most 2000 characters), context
// blocks with 1 to 10 elements.
func (p slackPayload) checkShape(t *testing.T) {
	t.Helper()
	if p.Text == "" || len(p.Blocks) == 0 || len(p.Blocks) > 50 {
		t.Fatalf("text %q with %d blocks", p.Text, len(p.Blocks))
	}
	object := func(o slackText) {
		if (o.Type != "mrkdwn" && o.Type != "plain_text") || o.Text == "" || len(o.Text) > 3000 {
			t.Errorf("text object %+v", o)
		}
	}
	for i, b := range p.Blocks {
		switch b.Type {
		case "section":
			if b.Text == nil && len(b.Fields) == 0 || len(b.Fields) > 10 || len(b.Elements) > 0 {
				t.Errorf("block %d: section %+v", i, b)
			}
			if b.Text != nil {
				object(*b.Text)
			}
			for _, f := range b.Fields {
				object(f)
				if len(f.Text) > 2000 {
					t.Errorf("block %d: field over 2000 characters", i)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 || b.Text != nil {
				t.Errorf("block %d: context %+v", i, b)
			}
			for _, e := range b.Elements {
				object(e)
			}
		default:
			t.Errorf("block %d: type %q", i, b.Type)
		}
	}
}

func (p slackPayload) all() string {
	var b strings.Builder
	for _, bl := range p.Blocks {
		if bl.Text != nil {
			b.WriteString(bl.Text.Text + "\n")
		}
		for _, f := range append(bl.Fields, bl.Elements...) {
			b.WriteString(f.Text + "\n")
		}
	}
	return b.String()
}

// slackReceiver is an incoming webhook on 127.0.0.1: it checks what Slack
// checks (a JSON POST) and answers "ok" as Slack does.
func slackReceiver(t *testing.T) (*statusReceiver, func() []slackPayload) {
	rc := newStatusReceiver(t, http.StatusOK)
	return rc, func() []slackPayload {
		var out []slackPayload
		for _, q := range rc.requests() {
			if q.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", q.Header.Get("Content-Type"))
			}
			var p slackPayload
			if err := json.Unmarshal(q.Body, &p); err != nil {
				t.Fatalf("not JSON: %s", q.Body)
			}
			out = append(out, p)
		}
		return out
	}
}

// By default a slack action announces the event: artifact, version,
// stage, previous version, who, the tag's message and a link to the run,
// with tag text escaped so that it cannot mention or link; the webhook
// URL, a credential, is never recorded.
func TestSlackAnnouncesTheEvent(t *testing.T) {
	rc, payloads := slackReceiver(t)
	t.Setenv("SLACK_WEBHOOK_URL_FOR_TEST", rc.url+"/services/T000/B000/XXXX")
	actions := parseActions(t, `
actions:
  - name: announce
    on: {event: [assignment, registration]}
    slack: {webhook_url: `+rc.url+`/services/T000/B000/XXXX}
`)
	r := newRig(t, actions, deploy.Options{PublicURL: "https://hookd.example"})
	ev := assignment("churn", "v1.2.3", "prod")
	ev.Message = "Ship <!channel> & <https://evil.example|click>\nsecond line"
	_, runs := r.event(ev)
	reg := assignment("churn", "v1.3.0", "")
	reg.Type, reg.TagName = store.EventRegistration, "churn@v1.3.0"
	_, more := r.event(reg)
	for _, run := range append(runs, more...) {
		if got := r.wait(run.ID, store.RunSucceeded, store.RunFailed); got.Status != store.RunSucceeded {
			t.Fatalf("run %s: %+v", got.Status, got.History)
		} else if strings.Contains(got.History[0].OutputTail, "XXXX") {
			t.Errorf("the webhook URL is in the run's output: %q", got.History[0].OutputTail)
		}
	}
	ps := payloads()
	if len(ps) != 2 {
		t.Fatalf("%d messages, want 2", len(ps))
	}
	for _, p := range ps {
		p.checkShape(t)
	}
	// The two runs are of different lanes and may post in either order.
	if ps[0].Text != "churn v1.2.3 assigned to prod" {
		ps[0], ps[1] = ps[1], ps[0]
	}
	a := ps[0]
	if a.Text != "churn v1.2.3 assigned to prod" {
		t.Errorf("texts %q and %q; want one to be %q", a.Text, ps[1].Text, "churn v1.2.3 assigned to prod")
	}
	body := a.all()
	for _, want := range []string{":rocket: *churn* `v1.2.3` assigned to *prod*", "*Previous version*\n`v0.9.0`", "*Who*\nJane &lt;jane@example.com&gt;",
		"> Ship &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;\n> second line", "tag `churn#prod`",
		fmt.Sprintf("<https://hookd.example/ui/runs/%d|run %d>", runs[0].ID, runs[0].ID)} {
		if !strings.Contains(body, want) {
			t.Errorf("the assignment's message lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<!channel>") {
		t.Error("tag text mentions the channel")
	}
	if ps[1].Text != "churn v1.3.0 registered" || strings.Contains(ps[1].all(), "*Stage*") {
		t.Errorf("registration: %q\n%s", ps[1].Text, ps[1].all())
	}
}

// With follow, the message waits for the event's other actions and says
// how they ended, linking the failed run; text and blocks are templates
// that replace the defaults.
func TestSlackReportsOutcomes(t *testing.T) {
	rc, payloads := slackReceiver(t)
	actions := parseActions(t, `
actions:
  - name: deploy
    on: {event: assignment}
    exec: `+helperCommand(t, "fail-unless", filepath.Join(t.TempDir(), "never"))+`}
    max_attempts: 1
  - name: outcome
    on: {event: assignment}
    slack: {webhook_url: `+rc.url+`, follow: 1m}
  - name: custom
    on: {event: assignment}
    slack:
      webhook_url: `+rc.url+`
      text: "{{.Artifact}} is in {{.Stage}}"
      blocks: '[{"type": "section", "text": {"type": "mrkdwn", "text": {{json .Message}}}}]'
`)
	r := newRig(t, actions, deploy.Options{PublicURL: "https://hookd.example"})
	_, runs := r.event(assignment("churn", "v1.2.3", "prod"))
	var failed int64
	for _, run := range runs {
		got := r.wait(run.ID, store.RunSucceeded, store.RunFailed)
		if run.Action == "deploy" {
			failed = run.ID
			if got.Status != store.RunFailed {
				t.Fatalf("deploy %s", got.Status)
			}
		} else if got.Status != store.RunSucceeded {
			t.Fatalf("%s: %s %+v", run.Action, got.Status, got.History)
		}
	}
	var outcome, custom *slackPayload
	for _, p := range payloads() {
		p.checkShape(t)
		switch {
		case strings.HasSuffix(p.Text, ": failed"):
			outcome = &p
		case p.Text == "churn is in prod":
			custom = &p
		}
	}
	if outcome == nil || custom == nil {
		t.Fatalf("messages %+v", payloads())
	}
	if want := fmt.Sprintf(":x: *churn* `v1.2.3` assigned to *prod*: failed: <https://hookd.example/ui/runs/%d|deploy (run %d)>", failed, failed); !strings.Contains(outcome.all(), want) {
		t.Errorf("outcome lacks %q:\n%s", want, outcome.all())
	}
	if len(custom.Blocks) != 1 || custom.Blocks[0].Text.Text != "assign" {
		t.Errorf("custom blocks %+v", custom.Blocks)
	}
}

func TestSlackConfigProblems(t *testing.T) {
	for _, tc := range []struct{ slack, want string }{
		{`{webhook_url: ""}`, "slack.webhook_url is not a Slack incoming webhook URL"},
		{`{webhook_url: "https://hooks.slack.com/x", blocks: '{"type": "section"}'}`, "must render to a JSON array"},
		{`{webhook_url: "https://hooks.slack.com/x", blocks: '[{"type": "section", "text": {"type": "mrkdwn", "text": "{{.Message}}"}}]'}`, "tag text breaks the JSON"},
	} {
		wantProblem(t, "slack: "+tc.slack, tc.want)
	}
}

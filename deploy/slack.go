package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/store"
)

// SlackAction posts a Block Kit message to a Slack incoming webhook:
//
//	slack: {webhook_url: ${SLACK_WEBHOOK_URL}}
//
// By default the message announces the event: what happened to which
// artifact, version and stage, the version the stage held before, who
// tagged it, the tag's message and a link to the run. With follow, it
// waits for the event's other actions instead and reports how they ended,
// linking each failed run. Text and Blocks override the defaults.
type SlackAction struct {
	// WebhookURL is the incoming webhook's URL. It is a credential: write
	// it as ${ENV_VAR}; it is redacted like the action's secrets.
	WebhookURL Secret `yaml:"webhook_url"`
	// Text is the message's text (what notifications show), templated.
	Text string `yaml:"text"`
	// Blocks is a templated JSON array of Block Kit blocks that replaces
	// the default ones; build values with {{json ...}}.
	Blocks string `yaml:"blocks"`
	// Follow, when set, is how long to wait for the event's other actions
	// before reporting their outcome (as far as it is known then).
	Follow Duration `yaml:"follow"`
	// Timeout bounds the request (default 30s).
	Timeout Duration `yaml:"timeout"`
}

type slackRunner struct {
	url       string
	text      text
	blocks    *text
	follow    time.Duration
	followers map[string]bool // actions that follow too: not waited for
	limit     time.Duration
	client    *http.Client
	gone      goneTargets
}

func (a *SlackAction) compile(c *compiler) runner {
	r := &slackRunner{
		url:    string(a.WebhookURL),
		text:   c.text(a.Text, "slack", "text"),
		follow: a.Follow.Std(),
		limit:  a.Timeout.Or(DefaultRequestTimeout) + a.Follow.Std(),
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	if u, err := url.Parse(r.url); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		c.problem([]any{"slack", "webhook_url"}, "action %q: slack.webhook_url is not a Slack incoming webhook URL (write it as ${SLACK_WEBHOOK_URL})", c.name)
	}
	if a.Blocks != "" {
		blocks := c.text(a.Blocks, "slack", "blocks")
		r.blocks = &blocks
		if s, err := blocks.render(c.sample); err == nil {
			var v []json.RawMessage
			if json.Unmarshal([]byte(s), &v) != nil {
				c.problem([]any{"slack", "blocks"}, "action %q: slack.blocks must render to a JSON array of blocks", c.name)
			}
		}
		c.checkJSON(blocks, "slack", "blocks")
	}
	return r
}

func (r *slackRunner) timeout() time.Duration { return r.limit }

func (r *slackRunner) run(ctx context.Context, inv *invocation) (*int, error) {
	msg := eventMessage(inv.ctx)
	if r.follow > 0 {
		runs, err := r.await(ctx, inv)
		if err != nil {
			return nil, err
		}
		msg = outcomeMessage(inv, runs)
	}
	if r.text.tmpl != nil || r.text.literal != "" {
		t, err := r.text.render(inv.ctx)
		if err != nil {
			return nil, fmt.Errorf("text: %w", err)
		}
		msg.Text = t
	}
	if r.blocks != nil {
		b, err := r.blocks.render(inv.ctx)
		if err != nil {
			return nil, fmt.Errorf("blocks: %w", err)
		}
		msg.Blocks = json.RawMessage(b)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookd")
	return nil, send(r.client, req, inv, &r.gone, func(code int) bool { return code == http.StatusOK })
}

// await waits, up to follow, until the event's other actions (but those
// that wait too) have finished, and returns them.
func (r *slackRunner) await(ctx context.Context, inv *invocation) ([]store.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, r.follow)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		all, err := inv.siblings(ctx)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		var runs []store.Run
		for _, run := range all {
			if !r.followers[run.Action] {
				runs = append(runs, run)
			}
		}
		if finished(runs) {
			return runs, nil
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			if context.Cause(ctx) != context.DeadlineExceeded {
				return nil, context.Cause(ctx)
			}
			return runs, nil // report what is known
		}
	}
}

func finished(runs []store.Run) bool {
	for _, run := range runs {
		if run.Status == store.RunQueued || run.Status == store.RunRunning {
			return false
		}
	}
	return true
}

// slackMessage is an incoming webhook's payload.
type slackMessage struct {
	Text   string          `json:"text"`
	Blocks json.RawMessage `json:"blocks"`
}

// Block Kit's pieces, as much of them as the default messages use.
type (
	slackText struct {
		Type string `json:"type"` // mrkdwn or plain_text
		Text string `json:"text"`
	}
	slackBlock struct {
		Type     string      `json:"type"` // section, context, divider
		Text     *slackText  `json:"text,omitempty"`
		Fields   []slackText `json:"fields,omitempty"`
		Elements []slackText `json:"elements,omitempty"`
	}
)

func mrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s} }

// slackEscape makes tag text inert in mrkdwn: Slack reads &, < and > as
// the start of entities, links and mentions.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// code shows a value as inline code, backticks dropped since mrkdwn has no
// way to escape them.
func code(s string) string { return "`" + strings.ReplaceAll(slackEscape(s), "`", "'") + "`" }

// link is a mrkdwn link; its label is escaped, its URL hookd's own.
func link(u, label string) string { return "<" + u + "|" + slackEscape(label) + ">" }

// headline says what the event did, in plain text and in mrkdwn, and the
// emoji that goes with it.
func headline(e *Event) (plain, marked, emoji string) {
	a, v, s := e.Artifact, e.Version, e.Stage
	A, V, S := "*"+slackEscape(a)+"*", code(v), "*"+slackEscape(s)+"*"
	switch e.Type {
	case "registration":
		return fmt.Sprintf("%s %s registered", a, v), fmt.Sprintf("%s %s registered", A, V), ":package:"
	case "deregistration":
		return fmt.Sprintf("%s %s deregistered", a, v), fmt.Sprintf("%s %s deregistered", A, V), ":wastebasket:"
	case "assignment":
		return fmt.Sprintf("%s %s assigned to %s", a, v, s), fmt.Sprintf("%s %s assigned to %s", A, V, S), ":rocket:"
	case "unassignment":
		return fmt.Sprintf("%s %s unassigned from %s", a, v, s), fmt.Sprintf("%s %s unassigned from %s", A, V, S), ":leftwards_arrow_with_hook:"
	case "deprecation":
		return a + " deprecated", A + " deprecated", ":no_entry:"
	}
	return fmt.Sprintf("%s: %s %s", e.Type, a, v), fmt.Sprintf("%s: %s %s", slackEscape(e.Type), A, V), ":label:"
}

// details are the event's facts as fields, its message as a quote, and
// where it comes from with a link to the run.
func details(c *Context) []slackBlock {
	e := &c.Event
	fields := []slackText{mrkdwn("*Artifact*\n" + code(e.Artifact))}
	if e.Version != "" {
		fields = append(fields, mrkdwn("*Version*\n"+code(e.Version)))
	}
	if e.Stage != "" {
		fields = append(fields, mrkdwn("*Stage*\n"+code(e.Stage)))
	}
	if e.Previous != "" {
		fields = append(fields, mrkdwn("*Previous version*\n"+code(e.Previous)))
	}
	who := e.Tagger.Name
	if e.Tagger.Email != "" {
		who += " <" + e.Tagger.Email + ">"
	}
	fields = append(fields, mrkdwn("*Who*\n"+slackEscape(who)))
	blocks := []slackBlock{{Type: "section", Fields: fields}}
	if m := strings.TrimSpace(e.Message); m != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "> " + strings.ReplaceAll(slackEscape(m), "\n", "\n> ")}})
	}
	where := slackEscape(e.Repository) + " · tag " + code(e.Tag)
	if c.RunURL != "" {
		where += " · " + link(c.RunURL, fmt.Sprintf("run %d", c.RunID))
	}
	return append(blocks, slackBlock{Type: "context", Elements: []slackText{mrkdwn(where)}})
}

// message is the payload: text, then a section of marked under the
// event's details.
func message(c *Context, plain, marked string) slackMessage {
	blocks := append([]slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: marked}}}, details(c)...)
	raw, _ := json.Marshal(blocks) // structs of strings: cannot fail
	return slackMessage{Text: plain, Blocks: raw}
}

// eventMessage announces the event.
func eventMessage(c *Context) slackMessage {
	plain, marked, emoji := headline(&c.Event)
	return message(c, plain, emoji+" "+marked)
}

// outcomeMessage reports how the event's other actions ended.
func outcomeMessage(inv *invocation, runs []store.Run) slackMessage {
	plain, marked, _ := headline(&inv.ctx.Event)
	var failed, pending, ok []string
	for _, run := range runs {
		name := slackEscape(run.Action)
		if u := inv.runURL(run.ID); u != "" {
			name = link(u, fmt.Sprintf("%s (run %d)", run.Action, run.ID))
		}
		switch run.Status {
		case store.RunFailed:
			failed = append(failed, name)
		case store.RunSucceeded, store.RunSuperseded:
			ok = append(ok, name)
		default:
			pending = append(pending, name)
		}
	}
	var emoji, verdict, list string
	switch {
	case len(failed) > 0:
		emoji, verdict, list = ":x:", "failed", strings.Join(failed, ", ")
	case len(pending) > 0:
		emoji, verdict, list = ":hourglass:", "not finished in time", strings.Join(pending, ", ")
	default:
		emoji, verdict, list = ":white_check_mark:", "succeeded", strings.Join(ok, ", ")
	}
	if list == "" {
		list = "no other actions"
	}
	return message(inv.ctx, plain+": "+verdict, fmt.Sprintf("%s %s: %s: %s", emoji, marked, verdict, list))
}

package chatops

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/internal/gtotable"
	"github.com/hookd-dev/hookd/registry"
)

// DefaultMaxRows is how many rows a table in a reply shows by default.
const DefaultMaxRows = 30

// Runner runs commands through a change service. It holds no state
// between commands; make one per request if its fields change.
type Runner struct {
	Changes *change.Service
	// Repository is what commands act on unless they say --repo; "" means
	// they must say it.
	Repository string
	// Via names the channel in the audit log and in tag messages
	// ("slack", "command").
	Via string
	// Prefix is what users type before a command, for help and usage
	// lines: "/gto " in Slack, "" elsewhere.
	Prefix string
	// MaxRows bounds the rows of a table in a reply (default
	// DefaultMaxRows); the reply says how many more there are.
	MaxRows int
}

// Reply is a command's answer.
type Reply struct {
	// Text is the answer for people: Markdown as chat clients render it
	// (`code`, ``` blocks), readable as plain text too.
	Text string
	// OK reports whether the command did what it asked.
	OK bool
	// Created is true when tags were created, even if the command failed
	// after some: news for the channel rather than for the asker alone.
	Created bool
	// Tags are the tags created, in order.
	Tags []string
	// Code classifies a failure as the API does ("forbidden", "not_found",
	// "conflict", "invalid", "timeout", "upstream_failed"), or "usage" for
	// text that is not a command; "" when OK.
	Code string
}

// Run parses text and runs it as who.
func (r *Runner) Run(ctx context.Context, who access.Principal, text string) Reply {
	cmd, err := Parse(text)
	if err != nil {
		return r.usageReply(err)
	}
	return r.RunCommand(ctx, who, cmd)
}

// RunCommand runs a parsed command as who.
func (r *Runner) RunCommand(ctx context.Context, who access.Principal, cmd Command) Reply {
	if cmd.Name == "help" {
		return r.help(cmd.Topic)
	}
	repo := cmd.Repository
	if repo == "" {
		repo = r.Repository
	}
	if repo == "" {
		return r.usageReply(usagef(cmd.Name, "which repository? Add --repo owner/name (chat.repository in hookd's configuration sets a default)"))
	}
	if r.Changes == nil {
		return Reply{Text: "❌ hookd is not set up to act on repositories here; ask whoever runs it.", Code: "unavailable"}
	}
	switch cmd.Name {
	case "show", "history":
		return r.read(ctx, who, repo, cmd)
	}
	res, err := r.Changes.Do(ctx, change.Actor{Principal: who, Via: r.Via}, repo, cmd.Operation(), cmd.Request)
	var b strings.Builder
	if err == nil {
		fmt.Fprintf(&b, "✅ `%s` in %s, asked by %s:\n", describe(cmd), repo, who.Name)
	}
	for i, t := range res.Tags {
		line := ""
		if i < len(res.Output) {
			line = res.Output[i]
		}
		if line == "" {
			line = fmt.Sprintf("Created git tag '%s'", t)
		}
		b.WriteString(line + "\n")
	}
	reply := Reply{OK: err == nil, Created: len(res.Tags) > 0, Tags: res.Tags}
	if err != nil {
		reply.Code = change.Code(err)
		fmt.Fprintf(&b, "❌ `%s` in %s failed: %s\n%s", describe(cmd), repo, sentence(err.Error()), r.hint(cmd, err))
	}
	reply.Text = strings.TrimRight(b.String(), "\n")
	return reply
}

// read answers show and history.
func (r *Runner) read(ctx context.Context, who access.Principal, repo string, cmd Command) Reply {
	fail := func(err error) Reply {
		return Reply{Code: change.Code(err), Text: fmt.Sprintf("❌ `%s` in %s failed: %s\n%s", describe(cmd), repo, sentence(err.Error()), r.hint(cmd, err))}
	}
	reg, err := r.Changes.Registry(ctx, who, repo)
	if err != nil {
		return fail(err)
	}
	name := cmd.Request.Artifact
	var (
		t     *gtotable.Table
		title string
	)
	switch {
	case cmd.Name == "history":
		entries := reg.History(name, false)
		if len(entries) == 0 {
			return Reply{OK: true, Text: fmt.Sprintf("No history of %s in %s.", orAll(name), repo)}
		}
		t, title = gtotable.History(entries), fmt.Sprintf("History of %s in %s, newest first:", orAll(name), repo)
	case name == "":
		overview, err := reg.Show(registry.DefaultShowOptions())
		if err != nil {
			return fail(err)
		}
		t, title = gtotable.Overview(reg, overview), fmt.Sprintf("Registry of %s:", repo)
	default:
		versions, err := reg.ShowArtifact(name, "", registry.DefaultShowOptions())
		if err != nil {
			return fail(err)
		}
		t, title = gtotable.Versions(reg, versions), fmt.Sprintf("%s in %s:", name, repo)
	}
	if len(t.Rows) == 0 {
		return Reply{OK: true, Text: fmt.Sprintf("Nothing to show for %s in %s.", orAll(name), repo)}
	}
	more := 0
	if limit := r.maxRows(); len(t.Rows) > limit {
		more, t.Rows = len(t.Rows)-limit, t.Rows[:limit]
	}
	var b strings.Builder
	b.WriteString(title + "\n```\n")
	t.Write(&b, true)
	b.WriteString("```")
	if more > 0 {
		fmt.Fprintf(&b, "\n… and %d more; `hookd %s` prints them all.", more, describe(cmd))
	}
	return Reply{OK: true, Text: b.String()}
}

func (r *Runner) maxRows() int {
	if r.MaxRows > 0 {
		return r.MaxRows
	}
	return DefaultMaxRows
}

func orAll(name string) string {
	if name == "" {
		return "all artifacts"
	}
	return "'" + name + "'"
}

// describe writes the command back without its message, for replies.
func describe(cmd Command) string {
	req := cmd.Request
	parts := []string{cmd.Name}
	add := func(flag, v string) {
		if v != "" {
			parts = append(parts, strings.TrimSpace(flag+" "+v))
		}
	}
	add("", req.Artifact)
	if cmd.Name == "register" {
		add("", req.Ref)
		add("--version", req.Version)
		add("--bump", req.Bump)
	} else {
		add("", req.Version)
		add("", req.Stage)
	}
	if req.Force {
		parts = append(parts, "--force")
	}
	return strings.Join(parts, " ")
}

// sentence makes an error message end as a sentence does.
func sentence(s string) string {
	if s == "" || strings.ContainsAny(s[len(s)-1:], ".!?") {
		return s
	}
	return s + "."
}

// hint says what to do about a failed command.
func (r *Runner) hint(cmd Command, err error) string {
	var denied *access.DeniedError
	switch {
	case errors.As(err, &denied):
		return "Your scopes in hookd's configuration do not allow it; ask whoever runs hookd to extend them."
	case errors.Is(err, change.ErrUnknownRepository):
		return "Name one hookd is configured for with `--repo owner/name`."
	}
	show := r.Prefix + "show"
	if cmd.Request.Artifact != "" {
		show += " " + cmd.Request.Artifact
	}
	switch change.Status(err) {
	case 404:
		return fmt.Sprintf("Check the name, version or ref: `%s` lists what there is.", show)
	case 409:
		h := fmt.Sprintf("`%s` shows where things stand.", show)
		if !cmd.Request.Force && cmd.Operation() != "" {
			h += " `--force` goes past GTO's rules and the promotion order, if your scopes allow it."
		}
		return h
	case 422:
		return fmt.Sprintf("Usage: `%s%s`", r.Prefix, usage(cmd.Name))
	case 504:
		return fmt.Sprintf("The repository took too long to answer. Check `%s` before trying again: the write may have gone through.", show)
	}
	return "hookd could not reach the repository's host; try again in a moment."
}

func (r *Runner) usageReply(err error) Reply {
	var ue *UsageError
	if !errors.As(err, &ue) {
		ue = &UsageError{Msg: err.Error()}
	}
	text := "❌ " + sentence(ue.Msg) + "\n"
	if ue.Command != "" {
		text += fmt.Sprintf("Usage: `%s%s`\n", r.Prefix, usage(ue.Command))
	}
	text += fmt.Sprintf("`%shelp` lists every command.", r.Prefix)
	return Reply{Code: "usage", Text: text}
}

// help lists the commands, or says how one is used.
func (r *Runner) help(topic string) Reply {
	if topic != "" {
		s, ok := syntaxes[topic]
		if !ok {
			return r.usageReply(usagef("", "%q is not a command", topic))
		}
		return Reply{OK: true, Text: fmt.Sprintf("`%s%s`: %s.\n%s", r.Prefix, usage(topic), s.summary, flagHelp(s.flags))}
	}
	var b strings.Builder
	b.WriteString("Commands:\n")
	for _, name := range order {
		fmt.Fprintf(&b, "`%s%s`: %s\n", r.Prefix, usage(name), syntaxes[name].summary)
	}
	var all []string
	for _, f := range flags {
		all = append(all, f.long)
	}
	b.WriteString(flagHelp(all))
	b.WriteString("\nQuote text with spaces: -m \"new model\".")
	if r.Repository != "" {
		fmt.Fprintf(&b, " Commands act on %s unless they say --repo.", r.Repository)
	}
	return Reply{OK: true, Text: b.String()}
}

func flagHelp(names []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Flags:")
	for _, f := range flags {
		for _, n := range names {
			if n == f.long {
				fmt.Fprintf(&b, "\n`--%s`", f.long)
				if f.short != "" {
					fmt.Fprintf(&b, " (`-%s`)", f.short)
				}
				fmt.Fprintf(&b, ": %s", f.help)
			}
		}
	}
	return b.String()
}

package deploy

import (
	"encoding/json"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Tag names and messages are written by whoever may push a tag. A template
// that pastes them into a URL or a JSON body unescaped works for
// "churn-model" and breaks, or is steered, by a name with a '/', a '"' or
// a '#' in it. Validate renders such templates a second time against
// hostileEvent and reports every URL whose shape and every body whose JSON
// that changes, and every exec action that hands a template to a shell.

// hostileEvent is SampleEvent with the characters that break URLs and JSON
// in the artifact, the stage and the message (and the tag made of them).
var hostileEvent = func() Event {
	e := SampleEvent
	e.Artifact = `models/churn "eu" #2 modèle`
	e.Stage = `prod/eu "blue" #1 é`
	e.Message = "Ship it: \"fast\" / #1 — ünïcødé\nsecond line"
	e.Tag = e.Artifact + "#" + e.Stage + "#3"
	return e
}()

// checkURL reports a templated URL whose scheme, host, path segments,
// query keys or fragment come out different for hostile text: the
// template puts tag text in it unescaped.
func (c *compiler) checkURL(t text, where ...any) {
	if t.tmpl == nil {
		return
	}
	plain, err1 := t.render(c.sample)
	hostile, err2 := t.render(c.hostile)
	if err1 != nil || err2 != nil {
		return // the first render's error is already a problem
	}
	a, err1 := url.Parse(plain)
	b, err2 := url.Parse(hostile)
	if err1 != nil {
		return // not a URL at all: reported where the URL is checked
	}
	switch {
	case err2 != nil:
	case a.Scheme != b.Scheme, a.Host != b.Host, (a.Fragment == "") != (b.Fragment == ""),
		strings.Count(a.EscapedPath(), "/") != strings.Count(b.EscapedPath(), "/"), !sameKeys(a.Query(), b.Query()):
	default:
		return
	}
	c.problem(where, "%s: tag text changes the URL: with the artifact %q and stage %q it is %q; escape values with {{urlpath .Artifact}} in the path and {{urlquery .Artifact}} in the query",
		c.where(where), hostileEvent.Artifact, hostileEvent.Stage, hostile)
}

func sameKeys(a, b url.Values) bool {
	ka, kb := make([]string, 0, len(a)), make([]string, 0, len(b))
	for k := range a {
		ka = append(ka, k)
	}
	for k := range b {
		kb = append(kb, k)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// checkJSON reports a templated body that is JSON for the sample event but
// not for hostile text: a value pasted in without {{json ...}}.
func (c *compiler) checkJSON(t text, where ...any) {
	if t.tmpl == nil {
		return
	}
	plain, err1 := t.render(c.sample)
	hostile, err2 := t.render(c.hostile)
	if err1 != nil || err2 != nil || !json.Valid([]byte(plain)) || json.Valid([]byte(hostile)) {
		return
	}
	c.problem(where, "%s: tag text breaks the JSON: with a message containing quotes and a newline the body is no longer valid JSON; write values as {{json .Message}}", c.where(where))
}

// shells are programs whose -c takes a script.
var shells = []string{"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox"}

// checkShell reports an exec action that runs a shell with a template in
// its script: tag text there would be run as shell code.
func (c *compiler) checkShell(a *ExecAction) {
	argv := a.Command
	// env [NAME=value ...] PROGRAM ...
	for len(argv) > 0 && (path.Base(argv[0]) == "env" || strings.Contains(argv[0], "=") && !strings.Contains(argv[0], "{{")) {
		argv = argv[1:]
	}
	if len(argv) == 0 || !slices.Contains(shells, path.Base(argv[0])) {
		return
	}
	for i := 1; i < len(argv); i++ {
		flag := argv[i]
		if !strings.HasPrefix(flag, "-") || strings.HasPrefix(flag, "--") || !strings.Contains(flag, "c") {
			continue
		}
		// The script is the first argument after the flags.
		for j := i + 1; j < len(argv); j++ {
			if strings.HasPrefix(argv[j], "-") {
				continue
			}
			if strings.Contains(argv[j], "{{") {
				at := len(a.Command) - len(argv) + j
				c.problem([]any{"exec", "command", at}, "action %q: exec.command[%d]: a template inside a %s -c script makes tag text shell code; pass values as arguments (\"$1\") or read the environment ($HOOKD_ARTIFACT, $HOOKD_VERSION, ...)",
					c.name, at, path.Base(argv[0]))
			}
			return
		}
	}
}

package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
)

// Context is what templates are executed over: the event's fields (as
// {{.Artifact}}, {{.Version}}, ...; {{.Event}} is the whole event) and the
// run's.
type Context struct {
	Event
	// IdempotencyKey is the same for every attempt of this action for this
	// event.
	IdempotencyKey string
	RunID          int64
	Attempt        int
	// RunURL points at the run in hookd's API ("" if hookd has no public
	// URL configured).
	RunURL string

	secrets map[string]Secret
}

// Secret returns the value of one of the action's secrets, for templates:
// {{.Secret "DEPLOY_TOKEN"}}. Naming a secret the action does not declare
// is an error, which validation reports.
func (c *Context) Secret(name string) (string, error) {
	v, ok := c.secrets[name]
	if !ok {
		return "", fmt.Errorf("secret %q is not declared in the action's secrets", name)
	}
	return string(v), nil
}

// funcs are the functions templates may call besides the context's methods.
var funcs = template.FuncMap{
	// json renders a value as JSON, for bodies and payloads built by hand:
	// {"version": {{json .Version}}}.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// urlpath escapes a value for one segment of a URL's path, '/'
	// included: /artifacts/{{urlpath .Artifact}}. (text/template's own
	// urlquery escapes a query value: ?stage={{urlquery .Stage}}.)
	"urlpath": url.PathEscape,
}

// text is a templated string. Most values in a configuration are constants,
// so a string without "{{" is kept as is and costs nothing to render.
type text struct {
	literal string
	tmpl    *template.Template
}

func (t text) render(c *Context) (string, error) {
	if t.tmpl == nil {
		return t.literal, nil
	}
	var b strings.Builder
	if err := t.tmpl.Execute(&b, c); err != nil {
		return "", err
	}
	return b.String(), nil
}

// compiler turns one action's configuration into its runner, collecting
// every problem with the path of the offending value.
type compiler struct {
	name     string // the action's, for messages
	at       []any  // path of the action: "actions", index
	sample   *Context
	hostile  *Context // the sample with tag text that breaks URLs and JSON
	problems Problems
}

func (c *compiler) problem(path []any, format string, args ...any) {
	c.problems = append(c.problems, Problem{
		Path:    append(slices.Clip(c.at), path...),
		Message: fmt.Sprintf(format, args...),
	})
}

// text parses s as a template and executes it against the sample event, so
// that unknown fields, bad syntax and undeclared secrets are found now.
func (c *compiler) text(s string, path ...any) text {
	if !strings.Contains(s, "{{") {
		return text{literal: s}
	}
	tmpl, err := template.New("t").Option("missingkey=error").Funcs(funcs).Parse(s)
	if err != nil {
		c.problem(path, "%s: %v", c.where(path), cleanTemplateError(err))
		return text{literal: s}
	}
	t := text{tmpl: tmpl}
	if _, err := t.render(c.sample); err != nil {
		c.problem(path, "%s: %v", c.where(path), cleanTemplateError(err))
	}
	return t
}

// texts compiles a map of templates (headers, env, inputs) under path.
func (c *compiler) texts(m map[string]string, path ...any) map[string]text {
	out := make(map[string]text, len(m))
	for k, v := range m {
		out[k] = c.text(v, append(slices.Clip(path), k)...)
	}
	return out
}

// where names a value for messages: action "x": exec.command[1].
func (c *compiler) where(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, p)
		}
	}
	return fmt.Sprintf("action %q: %s", c.name, b.String())
}

// cleanTemplateError drops what text/template says about the template's
// internal name, which means nothing to the reader; the message names the
// path instead.
func cleanTemplateError(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "template: "); ok {
		// "t:1:5: executing \"t\" at <.X>: ..." -> "1:5: <.X>: ..."
		return strings.Replace(strings.TrimPrefix(rest, "t:"), `executing "t" at `, "", 1)
	}
	return msg
}

// renderAll renders a compiled map.
func renderAll(m map[string]text, c *Context) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, t := range m {
		v, err := t.render(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

package deploy

import (
	"slices"
	"sort"
)

// compiled is an action ready to run: its configuration checked and its
// templates parsed.
type compiled struct {
	*Action
	runner    runner
	kind      string
	secrets   []string // every secret value, for redaction
	supersede bool
	follows   bool // waits for the event's other runs (github_deployment)
}

// maxAttempts is the action's attempt budget per round (see Engine.Execute).
func (a *compiled) maxAttempts() int {
	if a.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return a.MaxAttempts
}

// compile checks every action and builds its runner.
func compile(actions []Action) ([]*compiled, Problems) {
	var (
		out      []*compiled
		problems Problems
		seen     = map[string]int{}
	)
	for i := range actions {
		a := &actions[i]
		c := &compiler{name: a.Name, at: []any{"actions", i}}
		if !actionName.MatchString(a.Name) {
			c.problem([]any{"name"}, "action %d: name %q must be letters, digits, '.', '_' and '-', starting with a letter or digit", i+1, a.Name)
		}
		if first, dup := seen[a.Name]; dup {
			c.problem([]any{"name"}, "action %q is defined twice (first as action %d)", a.Name, first+1)
		}
		seen[a.Name] = i
		for _, t := range a.On.Event {
			if !slices.Contains(EventTypes, t) {
				c.problem([]any{"on", "event"}, "action %q: on.event: %q is not one of %v", a.Name, t, EventTypes)
			}
		}
		if a.MaxAttempts < 0 {
			c.problem([]any{"max_attempts"}, "action %q: max_attempts is negative", a.Name)
		}
		if a.Backoff.Max > 0 && a.Backoff.Max < a.Backoff.Initial {
			c.problem([]any{"backoff", "max"}, "action %q: backoff.max is below backoff.initial", a.Name)
		}
		names := make([]string, 0, len(a.Secrets))
		for name := range a.Secrets {
			names = append(names, name)
		}
		sort.Strings(names)
		secrets := make(map[string]Secret, len(a.Secrets))
		for _, name := range names {
			if !envName.MatchString(name) {
				c.problem([]any{"secrets", name}, "action %q: secret name %q must be a valid environment variable name", a.Name, name)
			}
			// The sample holds a placeholder, never the value, so that
			// a template error message cannot quote a secret.
			secrets[name] = "sample-secret"
		}
		sample := &Context{Event: SampleEvent, IdempotencyKey: "sample-key", RunID: 1, Attempt: 1, RunURL: "http://hookd.example/ui/runs/1", secrets: secrets}
		c.sample = sample
		hostile := *sample
		hostile.Event = hostileEvent
		c.hostile = &hostile

		ca := &compiled{Action: a, supersede: a.Supersede == nil || *a.Supersede}
		kinds := 0
		if a.Exec != nil {
			kinds++
			ca.kind, ca.runner = "exec", a.Exec.compile(c, a.Secrets)
			c.checkShell(a.Exec)
		}
		if a.HTTP != nil {
			kinds++
			ca.kind, ca.runner = "http", a.HTTP.compile(c)
		}
		if a.GitHubWorkflow != nil {
			kinds++
			ca.kind, ca.runner = "github_workflow", a.GitHubWorkflow.compile(c)
		}
		if a.GitHubDispatch != nil {
			kinds++
			ca.kind, ca.runner = "github_dispatch", a.GitHubDispatch.compile(c)
		}
		if a.GitHubDeployment != nil {
			kinds++
			ca.kind, ca.runner = "github_deployment", a.GitHubDeployment.compile(c)
			ca.follows = true
		}
		if a.Slack != nil {
			kinds++
			ca.kind, ca.runner = "slack", a.Slack.compile(c)
			ca.follows = a.Slack.Follow > 0
			ca.secrets = append(ca.secrets, string(a.Slack.WebhookURL))
		}
		if kinds != 1 {
			c.problem(nil, "action %q: set exactly one of exec, http, github_workflow, github_dispatch, github_deployment, slack (found %d)", a.Name, kinds)
		}
		for _, v := range a.Secrets {
			ca.secrets = append(ca.secrets, string(v))
		}
		if a.HTTP != nil && a.HTTP.SigningSecret != "" {
			ca.secrets = append(ca.secrets, string(a.HTTP.SigningSecret))
		}
		if a.HTTP != nil {
			for _, s := range a.HTTP.SigningSecrets {
				ca.secrets = append(ca.secrets, string(s))
			}
		}
		problems = append(problems, c.problems...)
		out = append(out, ca)
	}
	// A Slack message that reports outcomes waits for the other actions,
	// but not for those that wait too, or both would wait for each other.
	followers := map[string]bool{}
	for _, a := range out {
		if a.follows {
			followers[a.Name] = true
		}
	}
	for _, a := range out {
		if r, ok := a.runner.(*slackRunner); ok {
			r.followers = followers
		}
	}
	return out, problems
}

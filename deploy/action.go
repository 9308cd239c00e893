package deploy

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/internal/confval"
	"github.com/hookd-dev/hookd/internal/glob"
)

// Action is one entry of the configuration's `actions:` list: what to do
// (exactly one kind) when an event matches On.
type Action struct {
	// Name identifies the action in runs, logs and idempotency keys; it is
	// unique among actions.
	Name string `yaml:"name"`
	On   Match  `yaml:"on"`

	Exec             *ExecAction       `yaml:"exec"`
	HTTP             *HTTPAction       `yaml:"http"`
	GitHubWorkflow   *WorkflowAction   `yaml:"github_workflow"`
	GitHubDispatch   *DispatchAction   `yaml:"github_dispatch"`
	GitHubDeployment *DeploymentAction `yaml:"github_deployment"`
	Slack            *SlackAction      `yaml:"slack"`

	// Secrets are values the action needs but nobody may read: write them
	// as secrets: {DEPLOY_TOKEN: "${DEPLOY_TOKEN}"} (quoted: in a flow
	// mapping YAML reads the braces of ${...} as its own) so that they
	// come from hookd's environment. An exec action gets each as an environment
	// variable of that name, templates read them with {{.Secret "NAME"}},
	// and their values are replaced by [redacted] in every output and
	// error a run records.
	Secrets map[string]Secret `yaml:"secrets"`

	// MaxAttempts bounds how often a run is tried before it is failed
	// (default 3). A run retried by hand gets as many again.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff spaces the attempts.
	Backoff Backoff `yaml:"backoff"`
	// Supersede (default true) skips a queued run when a newer event for
	// the same stage has queued a run of this action: deploying a version
	// that is about to be replaced only delays the one that matters.
	Supersede *bool `yaml:"supersede"`
}

// Defaults applied when an action leaves a setting out.
const (
	DefaultMaxAttempts    = 3
	DefaultBackoffInitial = 10 * time.Second
	DefaultBackoffMax     = 10 * time.Minute
	DefaultExecTimeout    = 10 * time.Minute
	DefaultRequestTimeout = 30 * time.Second
	DefaultFollowTimeout  = time.Hour
)

// Match selects the events an action runs for. Every field that is set must
// match (a list matches when any of its entries does); an empty Match
// matches every lifecycle event of every repository.
type Match struct {
	// Repository matches the repository's name, as the API and the records
	// call it: a GitHub owner/name, or a path repository's as:.
	Repository Patterns `yaml:"repo"`
	Artifact   Patterns `yaml:"artifact"`
	// Stage patterns match assignments and unassignments only: other
	// events have no stage.
	Stage Patterns `yaml:"stage"`
	// Event lists event types: registration, deregistration, assignment,
	// unassignment, deprecation.
	Event Patterns `yaml:"event"`
	// Version is a SemVer constraint such as ">=1.2.0 <2.0.0"; a version
	// that is not SemVer (an assignment of an unregistered commit) never
	// matches one.
	Version Constraint `yaml:"version"`
}

// EventTypes are the lifecycle events actions can match.
var EventTypes = []string{"registration", "deregistration", "assignment", "unassignment", "deprecation"}

// Matches reports whether e is one of the events m selects.
func (m Match) Matches(e *Event) bool {
	// Only lifecycle events deploy: a deleted tag changes nothing GTO
	// shows, so no action fires for it however broad its Match.
	if !slices.Contains(EventTypes, e.Type) || !m.Repository.Match(e.Repository) || !m.Artifact.Match(e.Artifact) || !m.Event.Match(e.Type) {
		return false
	}
	if len(m.Stage) > 0 && (e.Stage == "" || !m.Stage.Match(e.Stage)) {
		return false
	}
	return m.Version.Matches(e.Version)
}

// Patterns are globs (see package glob): '*' matches any run of characters
// (including '/'), '?' any one character. In YAML one string or a list.
type Patterns = glob.Patterns

// Backoff is exponential with jitter: the wait before attempt n+1 is drawn
// from [d/2, d] with d = Initial·2^(n-1) capped at Max, so that runs failing
// together do not retry in lockstep.
type Backoff struct {
	Initial Duration `yaml:"initial"`
	Max     Duration `yaml:"max"`
}

// Delay is the wait after the attempt-th failed attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	initial, ceiling := b.Initial.Std(), b.Max.Std()
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if ceiling <= 0 {
		ceiling = max(DefaultBackoffMax, initial)
	}
	d := initial
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return d/2 + rand.N(d/2+1)
}

// Duration is a duration as people write it ("30s", "10m").
type Duration = confval.Duration

// Secret is a value that never prints (fmt and slog show it redacted), so
// an action dumped into a log does not leak it.
type Secret = confval.Secret

// typeError reports a bad scalar the way yaml.v3 does, with its line, so
// that config turns it into a problem at that line.
func typeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{"line " + strconv.Itoa(n.Line) + ": " + msg}}
}

var (
	actionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Problem is one mistake in the `actions:` list. Path leads to the offending
// value from the top of the configuration ("actions", index, key, ...), so
// that config can point at its line.
type Problem struct {
	Path    []any
	Message string
}

func (p Problem) String() string { return p.Message }

// Problems is every problem found in the actions, as one error.
type Problems []Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Message
	}
	return strings.Join(msgs, "; ")
}

// Validate checks actions the way hookd will use them: names, matchers,
// exactly one kind per action, and every template parsed and executed
// against SampleEvent, so that a typo in {{.Artifcat}} shows in `hookd
// config validate` rather than in a failed run.
func Validate(actions []Action) Problems {
	_, problems := compile(actions)
	return problems
}

// Package access owns who may do what through hookd's API and chat
// commands. A [Principal] is an API token or a chat user; it holds
// [Scope]s, each naming repositories, operations and stages by glob. A
// request is allowed when one scope covers its repository, its operation
// and (for assign and unassign) its stage, and, when the request forces
// its way past GTO's or the promotion order's rules, allows forcing too.
//
// Nothing is allowed by default: a principal without scopes can do
// nothing, and a scope that names no stage allows no stage.
package access

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hookd-dev/hookd/internal/glob"
)

// Operation is what a request does.
type Operation string

// The operations a scope can allow. Read covers every GET of the API;
// Retry covers replaying deliveries and retrying deploy runs; the others
// are GTO's writes.
const (
	Read       Operation = "read"
	Register   Operation = "register"
	Assign     Operation = "assign"
	Unassign   Operation = "unassign"
	Deregister Operation = "deregister"
	Deprecate  Operation = "deprecate"
	Retry      Operation = "retry"
)

// Operations lists every operation, in the order users meet them.
var Operations = []Operation{Read, Register, Assign, Unassign, Deregister, Deprecate, Retry}

// Staged reports whether op acts on one stage, so that a scope's stages
// apply to it.
func (op Operation) Staged() bool { return op == Assign || op == Unassign }

// Write reports whether op creates tags.
func (op Operation) Write() bool {
	return op != Read && op != Retry
}

// Scope is one grant: the operations it names, on the repositories it
// names, and for assign and unassign on the stages it names.
type Scope struct {
	Repositories glob.Patterns `yaml:"repositories"`
	// Operations are operation names or globs ("*" for all).
	Operations glob.Patterns `yaml:"operations"`
	Stages     glob.Patterns `yaml:"stages"`
	// Force allows requests with force: GTO's --force, and entering a
	// stage out of the repository's promotion order.
	Force bool `yaml:"force"`
}

// Problems returns what is wrong with s, in words for a configuration
// file; nil when nothing is.
func (s Scope) Problems() []string {
	var p []string
	if len(s.Repositories) == 0 {
		p = append(p, `repositories is required (globs such as "acme/*"; "*" for all)`)
	}
	if len(s.Operations) == 0 {
		p = append(p, "operations is required (any of "+names()+`, or "*")`)
	}
	staged := false
	for _, pat := range s.Operations {
		matched := false
		for _, op := range Operations {
			if glob.Match(pat, string(op)) {
				matched = true
				staged = staged || op.Staged()
			}
		}
		if !matched {
			p = append(p, fmt.Sprintf("operation %q is none of %s", pat, names()))
		}
	}
	if staged && len(s.Stages) == 0 {
		p = append(p, `stages is required with assign or unassign (globs such as "dev"; "*" for all)`)
	}
	return p
}

func names() string {
	s := make([]string, len(Operations))
	for i, op := range Operations {
		s[i] = string(op)
	}
	return strings.Join(s, ", ")
}

// covers reports whether s allows r. An empty pattern list allows nothing
// here (unlike a deploy match), so a forgotten key never opens access.
func (s Scope) covers(r Request) bool {
	if !some(s.Repositories, r.Repository) || !some(s.Operations, string(r.Operation)) {
		return false
	}
	if r.Operation.Staged() && !some(s.Stages, r.Stage) {
		return false
	}
	return !r.Force || s.Force
}

func some(p glob.Patterns, s string) bool {
	return len(p) > 0 && p.Match(s)
}

// Principal is who asks: an API token or a chat user, by name.
type Principal struct {
	Name   string
	Scopes []Scope
}

// Request is what a principal asks to do, as far as access is concerned.
type Request struct {
	Repository string
	Operation  Operation
	Stage      string // assign and unassign
	Force      bool
}

// Allows reports whether one of p's scopes covers r.
func (p Principal) Allows(r Request) bool {
	return slices.ContainsFunc(p.Scopes, func(s Scope) bool { return s.covers(r) })
}

// Check returns a *DeniedError unless p allows r.
func (p Principal) Check(r Request) error {
	if p.Allows(r) {
		return nil
	}
	return &DeniedError{Principal: p.Name, Request: r}
}

// AllRepositories reports whether p may do op on every repository, which
// lets it list records across repositories.
func (p Principal) AllRepositories(op Operation) bool {
	return slices.ContainsFunc(p.Scopes, func(s Scope) bool {
		return slices.Contains(s.Repositories, "*") && some(s.Operations, string(op))
	})
}

// DeniedError is a request outside the principal's scopes. An API answers
// it with 403 Forbidden.
type DeniedError struct {
	Principal string
	Request   Request
}

func (e *DeniedError) Error() string {
	r := e.Request
	what := string(r.Operation)
	if r.Operation.Staged() {
		what += fmt.Sprintf(" stage %q", r.Stage)
	}
	if r.Force {
		what += " with force"
	}
	return fmt.Sprintf("%s may not %s in %s", e.Principal, what, r.Repository)
}

// AllowsSome reports whether p may do op on the repository at all: for
// assign and unassign, in at least one stage. It decides whether to offer
// op; Allows decides a request.
func (p Principal) AllowsSome(repository string, op Operation) bool {
	return slices.ContainsFunc(p.Scopes, func(s Scope) bool {
		return some(s.Repositories, repository) && some(s.Operations, string(op)) && (!op.Staged() || len(s.Stages) > 0)
	})
}

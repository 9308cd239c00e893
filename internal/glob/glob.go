// Package glob owns the name patterns of hookd's configuration: deploy
// actions select events with them and API scopes select repositories and
// stages. One syntax for both, so a pattern means the same thing wherever
// a user writes it.
package glob

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// Patterns are globs: '*' matches any run of characters (including '/'),
// '?' any one character, anything else itself. In YAML it is one string or
// a list of them.
type Patterns []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (p *Patterns) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*p = Patterns{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*p = list
		return nil
	}
	return &yaml.TypeError{Errors: []string{"line " + strconv.Itoa(n.Line) + ": expected a string or a list of strings"}}
}

// Match reports whether s matches any of the patterns; no patterns match
// everything.
func (p Patterns) Match(s string) bool {
	if len(p) == 0 {
		return true
	}
	for _, pat := range p {
		if Match(pat, s) {
			return true
		}
	}
	return false
}

// Match matches s against pat with '*' and '?'. It backtracks only to the
// last star, so it is linear in practice and never exponential.
func Match(pat, s string) bool {
	px, sx := 0, 0
	star, next := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pat) && pat[px] == '*':
			star, next = px, sx
			px++
		case px < len(pat) && (pat[px] == '?' || pat[px] == s[sx]):
			px++
			sx++
		case star >= 0:
			next++
			px, sx = star+1, next
		default:
			return false
		}
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

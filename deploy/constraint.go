package deploy

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/tagparse"
)

// Constraint is a SemVer constraint on an event's version: comparisons
// separated by spaces must all hold, and "||" separates alternatives, as in
// ">=1.2.0 <2.0.0 || >=3.0.0". Operators are =, !=, <, <=, >, >= (a bare
// version means =); versions may be written with or without the "v".
// Precedence is SemVer's, so 1.2.0-rc.1 < 1.2.0 and build metadata is
// ignored. The zero Constraint matches everything.
type Constraint struct {
	text string
	any  [][]comparison // alternatives of conjunctions
}

type comparison struct {
	op      string
	version string // with the "v"
}

// operators, longest first so that ">=" is not read as ">".
var operators = []string{">=", "<=", "!=", ">", "<", "="}

// ParseConstraint parses a constraint; "" is the constraint that matches
// everything.
func ParseConstraint(s string) (Constraint, error) {
	c := Constraint{text: s}
	if strings.TrimSpace(s) == "" {
		return c, nil
	}
	for _, alt := range strings.Split(s, "||") {
		fields := strings.Fields(alt)
		if len(fields) == 0 {
			return Constraint{}, fmt.Errorf("version constraint %q: empty alternative around ||", s)
		}
		var all []comparison
		for i := 0; i < len(fields); i++ {
			f := fields[i]
			op := "="
			for _, o := range operators {
				if strings.HasPrefix(f, o) {
					op, f = o, f[len(o):]
					break
				}
			}
			if f == "" && i+1 < len(fields) { // ">= 1.2.0"
				i++
				f = fields[i]
			}
			v := "v" + strings.TrimPrefix(f, "v")
			if !tagparse.IsVersion(v) {
				return Constraint{}, fmt.Errorf("version constraint %q: %q is not a SemVer version like 1.2.0", s, f)
			}
			all = append(all, comparison{op: op, version: v})
		}
		c.any = append(c.any, all)
	}
	return c, nil
}

// Matches reports whether version satisfies c.
func (c Constraint) Matches(version string) bool {
	if len(c.any) == 0 {
		return true
	}
	if !tagparse.IsVersion(version) {
		return false
	}
	for _, all := range c.any {
		ok := true
		for _, cmp := range all {
			if !cmp.holds(tagparse.CompareVersions(version, cmp.version)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (cmp comparison) holds(order int) bool {
	switch cmp.op {
	case "!=":
		return order != 0
	case "<":
		return order < 0
	case "<=":
		return order <= 0
	case ">":
		return order > 0
	case ">=":
		return order >= 0
	}
	return order == 0
}

// String is the constraint as written.
func (c Constraint) String() string { return c.text }

// UnmarshalYAML parses the constraint, reporting a bad one at its line.
func (c *Constraint) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "version must be a constraint string like \">=1.2.0 <2.0.0\"")
	}
	parsed, err := ParseConstraint(n.Value)
	if err != nil {
		return typeError(n, err.Error())
	}
	*c = parsed
	return nil
}

package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/internal/confval"
)

// decode fills cfg from data. It works on the yaml.Node tree rather than
// yaml.Decoder.KnownFields so that environment variables are expanded in
// values only (never in keys), and every problem — syntax, unknown key,
// missing variable, wrong type — is reported with its line, all at once.
// It returns the tree for check to find lines in, or nil after a syntax error.
func decode(data []byte, cfg *Config, p *Problems) *tree {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		addYAMLError(p, err)
		return nil
	}
	root := &tree{}
	// An empty file, or a document that is empty ("---" alone) or null:
	// all defaults.
	if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].ShortTag() == "!!null" {
		return root
	}
	root.node = doc.Content[0]
	if root.node.Kind != yaml.MappingNode {
		p.add(root.node.Line, "the configuration must be a mapping of keys (listen:, repositories:, ...)")
		return nil
	}
	expandEnv(root.node, p)
	checkKeys(root.node, reflect.TypeFor[Config](), "", p)
	if err := root.node.Decode(cfg); err != nil {
		addYAMLError(p, err)
	}
	return root
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in scalar values with the variable's value. A
// variable that is not set is a problem: an empty webhook secret must not
// slip through because of a typo in a variable name. Values are never put in
// messages, only names.
func expandEnv(n *yaml.Node, p *Problems) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			expandEnv(n.Content[i], p)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			expandEnv(c, p)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v, ok := os.LookupEnv(name)
			if !ok {
				p.add(n.Line, "environment variable %s is not set", name)
			}
			return v
		})
		// An expanded value is a string even if it looks like a number.
		n.Tag = "!!str"
	}
}

// unmarshalerType is implemented by types that decode their own scalars.
var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkKeys reports keys that match no field, recursing through structs,
// pointers and slices by the yaml tags of typ.
func checkKeys(n *yaml.Node, typ reflect.Type, at string, p *Problems) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if reflect.PointerTo(typ).Implements(unmarshalerType) {
		return
	}
	switch {
	case typ.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			checkKeys(c, typ.Elem(), fmt.Sprintf("%s[%d]", at, i), p)
		}
	case typ.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var known []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
			known = append(known, name)
		}
		slices.Sort(known)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				p.add(k.Line, "unknown key %q%s (known: %s)", k.Value, in(at), strings.Join(known, ", "))
				continue
			}
			checkKeys(v, ft, strings.TrimPrefix(at+"."+k.Value, "."), p)
		}
	}
}

func in(at string) string {
	if at == "" {
		return ""
	}
	return " in " + at
}

// addYAMLError turns yaml.v3's errors ("yaml: line 3: ..." or a TypeError
// listing "line 3: ..." messages) into problems with lines.
func addYAMLError(p *Problems, err error) {
	msgs := []string{err.Error()}
	if te, ok := err.(*yaml.TypeError); ok {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		line := 0
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			num, msg, _ := strings.Cut(rest, ": ")
			if l, err := strconv.Atoi(num); err == nil {
				line, m = l, msg
			}
		}
		p.add(line, "%s", m)
	}
}

// tree finds the line of a value in the decoded document, for problems found
// after decoding.
type tree struct{ node *yaml.Node }

// line follows path (map keys as strings, sequence indexes as ints) and
// returns the line of the deepest value it reaches: a scalar's own line, or
// the key's line for a nested mapping or sequence (which starts a line
// later). It is 0 for an empty document.
func (t *tree) line(path ...any) int {
	n := t.node
	if n == nil {
		return 0
	}
	line := n.Line
	for _, step := range path {
		switch s := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			i := 0
			for i < len(n.Content)-1 && n.Content[i].Value != s {
				i += 2
			}
			if i >= len(n.Content)-1 {
				return line
			}
			line, n = n.Content[i].Line, n.Content[i+1]
			if n.Kind == yaml.ScalarNode {
				line = n.Line
			}
		case int:
			if n.Kind != yaml.SequenceNode || s >= len(n.Content) {
				return line
			}
			n = n.Content[s]
			line = n.Line
		}
	}
	return line
}

// Duration is a duration as people write it ("90s", "30d").
type Duration = confval.Duration

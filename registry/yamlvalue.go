package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// GTO reads .gto and artifacts.yaml with a YAML 1.2 safe loader and checks
// the values with pydantic's lax rules. The helpers below apply those rules
// to yaml.v3 nodes, so hookd accepts and refuses what GTO does.

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// safeTags are the tags a YAML safe loader constructs; any other (a local
// "!thing", "!!python/...") makes it refuse the document.
var safeTags = map[string]bool{
	"!!null": true, "!!bool": true, "!!int": true, "!!float": true, "!!str": true,
	"!!seq": true, "!!map": true, "!!binary": true, "!!timestamp": true,
	"!!omap": true, "!!pairs": true, "!!set": true, "!!merge": true,
}

// checkSafe reports the first node whose tag a safe loader refuses.
func checkSafe(n *yaml.Node) error {
	if n.Kind != yaml.DocumentNode && n.Kind != yaml.AliasNode && !safeTags[n.ShortTag()] {
		return fmt.Errorf("line %d: could not determine a constructor for the tag '%s'", n.Line, n.Tag)
	}
	for _, c := range n.Content {
		if err := checkSafe(c); err != nil {
			return err
		}
	}
	return nil
}

// laxString is pydantic's str: a YAML string, and nothing else (a number
// is not one).
func laxString(n *yaml.Node) (string, error) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", fmt.Errorf("line %d: want a string, not %s", n.Line, describeNode(n))
	}
	return n.Value, nil
}

// laxStrings is pydantic's List[str].
func laxStrings(n *yaml.Node) ([]string, error) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of strings, not %s", n.Line, describeNode(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		s, err := laxString(item)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// laxBool is pydantic's bool: a boolean, 0 or 1 (0.0 or 1.0), or one of
// the words pydantic takes in any case (yes, no, on, off, t, f, y, n, true,
// false, 1, 0).
func laxBool(n *yaml.Node) (bool, error) {
	n = resolve(n)
	bad := fmt.Errorf("line %d: want a boolean, not %s", n.Line, describeNode(n))
	if n.Kind != yaml.ScalarNode {
		return false, bad
	}
	switch n.ShortTag() {
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int", "!!float":
		var f float64
		if n.Decode(&f) == nil && (f == 0 || f == 1) {
			return f == 1, nil
		}
	case "!!str":
		switch strings.ToLower(n.Value) {
		case "1", "on", "t", "true", "y", "yes":
			return true, nil
		case "0", "off", "f", "false", "n", "no":
			return false, nil
		}
	}
	return false, bad
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.ShortTag() == "!!null" {
		return "null"
	}
	return strconv.Quote(n.Value)
}

// writePythonJSON writes a YAML value as Python's json.dumps writes what
// the safe loader makes of it: mappings in the file's order (merge keys
// first, a repeated key keeping its first place and its last value),
// integers of any size, floats as Python's repr writes them.
func writePythonJSON(b *bytes.Buffer, n *yaml.Node) error {
	n = resolve(n)
	switch n.Kind {
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writePythonJSON(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case yaml.MappingNode:
		pairs, err := mappingPairs(n)
		if err != nil {
			return err
		}
		b.WriteByte('{')
		for i, kv := range pairs {
			if i > 0 {
				b.WriteByte(',')
			}
			k, err := json.Marshal(kv.key)
			if err != nil {
				return err
			}
			b.Write(k)
			b.WriteByte(':')
			if err := writePythonJSON(b, kv.value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	s, err := scalarJSON(n)
	b.WriteString(s)
	return err
}

type yamlPair struct {
	key   string
	value *yaml.Node
}

// mappingPairs lists a mapping's entries as a Python dict holds them,
// keys written as json.dumps writes a dict's keys.
func mappingPairs(n *yaml.Node) ([]yamlPair, error) {
	var pairs []yamlPair
	at := map[string]int{}
	add := func(k string, v *yaml.Node) {
		if i, ok := at[k]; ok {
			pairs[i].value = v
			return
		}
		at[k] = len(pairs)
		pairs = append(pairs, yamlPair{k, v})
	}
	var own [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.ShortTag() != "!!merge" {
			own = append(own, [2]*yaml.Node{k, v})
			continue
		}
		merged := []*yaml.Node{resolve(v)}
		if merged[0].Kind == yaml.SequenceNode {
			merged = merged[0].Content
		}
		for _, m := range merged {
			m = resolve(m)
			if m.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: a merge key needs a mapping", m.Line)
			}
			sub, err := mappingPairs(m)
			if err != nil {
				return nil, err
			}
			for _, kv := range sub {
				add(kv.key, kv.value)
			}
		}
	}
	for _, kv := range own {
		if kv[0].Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a scalar", kv[0].Line)
		}
		key, err := scalarJSON(kv[0])
		if err != nil {
			return nil, err
		}
		if kv[0].ShortTag() == "!!str" {
			key = kv[0].Value
		}
		add(key, kv[1])
	}
	return pairs, nil
}

// scalarJSON writes a scalar as json.dumps writes its Python value.
func scalarJSON(n *yaml.Node) (string, error) {
	switch n.ShortTag() {
	case "!!null":
		return "null", nil
	case "!!bool":
		var v bool
		err := n.Decode(&v)
		return strconv.FormatBool(v), err
	case "!!int":
		return pythonInt(n)
	case "!!float":
		// yaml.v3 calls an integer too large for 64 bits a float; the
		// safe loader keeps it an integer.
		if s, err := pythonInt(n); err == nil {
			return s, nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return "", err
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return "", fmt.Errorf("line %d: %s cannot be written as JSON", n.Line, n.Value)
		}
		return pythonFloat(f), nil
	}
	b, err := json.Marshal(n.Value)
	return string(b), err
}

// pythonInt reads a YAML integer (decimal, 0x, 0o, 0b, with _ separators)
// exactly.
func pythonInt(n *yaml.Node) (string, error) {
	v, ok := new(big.Int).SetString(strings.ReplaceAll(n.Value, "_", ""), 0)
	if !ok {
		return "", errors.New("not an integer")
	}
	return v.String(), nil
}

// pythonFloat writes f as Python's repr: the shortest digits that read
// back as f, in positional notation when the decimal exponent is in
// [-4, 16) ("1.0", "0.0001", "1e+16", "1e-05").
func pythonFloat(f float64) string {
	s := strconv.FormatFloat(f, 'e', -1, 64) // "-d.ddde±XX"
	mant, exp, _ := strings.Cut(s, "e")
	e, _ := strconv.Atoi(exp)
	neg := strings.HasPrefix(mant, "-")
	digits := strings.Replace(strings.TrimPrefix(mant, "-"), ".", "", 1)
	var out string
	switch point := e + 1; {
	case point < -3 || point > 16:
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		sign := "+"
		if e < 0 {
			sign, e = "-", -e
		}
		out += fmt.Sprintf("e%s%02d", sign, e)
	case point <= 0:
		out = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		out = digits + strings.Repeat("0", point-len(digits)) + ".0"
	default:
		out = digits[:point] + "." + digits[point:]
	}
	if neg {
		out = "-" + out
	}
	return out
}

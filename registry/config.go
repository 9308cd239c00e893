package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/tagparse"
)

// Config is a repository's `.gto` file, as GTO's config.py reads it.
type Config struct {
	// Stages lists the allowed stages; nil allows any.
	Stages []string
	// Types lists the allowed artifact types (for annotations); nil allows
	// any.
	Types []string
	// IndexPath is where the artifacts index lives ("artifacts.yaml").
	IndexPath string
}

// IndexFile is the path of the artifacts index in the repository.
func (c Config) IndexFile() string {
	if c.IndexPath == "" {
		return "artifacts.yaml"
	}
	return c.IndexPath
}

// ConfigFile is the name of GTO's configuration file.
const ConfigFile = ".gto"

// ParseConfig reads a `.gto` file. Keys are matched without regard to case,
// as GTO's settings loader does; an unknown key or a malformed stage or
// type name is an error. Empty content is the default configuration.
func ParseConfig(data []byte) (Config, error) {
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("wrong config file '%s': %w", ConfigFile, err)
	}
	var c Config
	for key, node := range raw {
		var err error
		switch strings.ToLower(key) {
		case "stages":
			c.Stages, err = nameList(&node)
		case "types":
			c.Types, err = nameList(&node)
		case "index":
			err = node.Decode(&c.IndexPath)
		case "config_file_name", "log_level", "debug", "emojis", "enrichments", "autoload_enrichments":
			// Read by GTO for its own runtime; nothing here depends on them.
		default:
			err = fmt.Errorf("unknown key %q", key)
		}
		if err != nil {
			return Config{}, fmt.Errorf("wrong config file '%s': line %d: %w", ConfigFile, node.Line, err)
		}
	}
	return c, nil
}

func nameList(n *yaml.Node) ([]string, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	var names []string
	if err := n.Decode(&names); err != nil {
		return nil, err
	}
	for _, s := range names {
		if err := tagparse.ValidateStage(s); err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
	}
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// CheckStage applies GTO's assert_stage: a valid name that the config
// allows.
func (c Config) CheckStage(stage string) error {
	if tagparse.ValidateStage(stage) != nil {
		return errInvalidValue(stage)
	}
	if c.Stages != nil && !contains(c.Stages, stage) {
		return inputErrorf("Allowed stages are: '%s'", pyList(c.Stages))
	}
	return nil
}

// CheckType applies GTO's assert_type.
func (c Config) CheckType(typ string) error {
	if tagparse.ValidateStage(typ) != nil {
		return errInvalidValue(typ)
	}
	if c.Types != nil && !contains(c.Types, typ) {
		return inputErrorf("Allowed types are: '%s'", pyList(c.Types))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pyList writes names the way Python prints a list of strings, which GTO
// puts in its messages: ['dev', 'prod'].
func pyList(names []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + s + "'")
	}
	b.WriteByte(']')
	return b.String()
}

// Annotation is one artifact's entry in artifacts.yaml.
type Annotation struct {
	Name        string
	Type        string // "" when not set
	Path        string // "" when not set
	Virtual     bool
	Labels      []string
	Description string
	// Custom is any YAML value, decoded as encoding/json would decode it.
	Custom any
}

// MarshalJSON writes the annotation as GTO puts it in an enrichment:
// {"source": "gto", "artifact": {...}}.
func (a Annotation) MarshalJSON() ([]byte, error) {
	type body struct {
		Type        *string  `json:"type"`
		Path        *string  `json:"path"`
		Virtual     bool     `json:"virtual"`
		Labels      []string `json:"labels"`
		Description string   `json:"description"`
		Custom      any      `json:"custom"`
	}
	b := body{Virtual: a.Virtual, Labels: a.Labels, Description: a.Description, Custom: a.Custom}
	if a.Type != "" {
		b.Type = &a.Type
	}
	if a.Path != "" {
		b.Path = &a.Path
	}
	if b.Labels == nil {
		b.Labels = []string{}
	}
	return json.Marshal(struct {
		Source   string `json:"source"`
		Artifact body   `json:"artifact"`
	}{"gto", b})
}

// Index is the content of artifacts.yaml, in file order.
type Index []Annotation

// Get returns the annotation of the named artifact.
func (x Index) Get(name string) (Annotation, bool) {
	for _, a := range x {
		if a.Name == name {
			return a, true
		}
	}
	return Annotation{}, false
}

// ParseIndex reads artifacts.yaml. Like GTO, it rejects a file that is not
// a mapping of valid artifact names to annotations, with GTO's message.
func ParseIndex(data []byte) (Index, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errWrongIndex(err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errWrongIndex(fmt.Errorf("line %d: not a mapping", root.Line))
	}
	idx := make(Index, 0, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		name := root.Content[i].Value
		if err := tagparse.ValidateName(name); err != nil {
			return nil, errWrongIndex(fmt.Errorf("line %d: %q: %w", root.Content[i].Line, name, err))
		}
		var raw struct {
			Type        string    `yaml:"type"`
			Path        string    `yaml:"path"`
			Virtual     *bool     `yaml:"virtual"`
			Labels      []string  `yaml:"labels"`
			Description string    `yaml:"description"`
			Custom      yaml.Node `yaml:"custom"`
		}
		v := root.Content[i+1]
		if v.Tag != "!!null" {
			if err := v.Decode(&raw); err != nil {
				return nil, errWrongIndex(err)
			}
		}
		a := Annotation{Name: name, Type: raw.Type, Path: raw.Path, Virtual: true, Labels: raw.Labels, Description: raw.Description}
		if raw.Virtual != nil {
			a.Virtual = *raw.Virtual
		}
		if raw.Custom.Kind != 0 {
			custom, err := yamlToJSONValue(&raw.Custom)
			if err != nil {
				return nil, errWrongIndex(err)
			}
			a.Custom = custom
		}
		idx = append(idx, a)
	}
	return idx, nil
}

func errWrongIndex(err error) error {
	return fmt.Errorf("artifacts.yaml file doesn't conform to GTO format: %w", err)
}

// yamlToJSONValue decodes a YAML value into what encoding/json would
// produce for the same data, so annotations print like GTO's.
func yamlToJSONValue(n *yaml.Node) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	err = d.Decode(&out)
	return out, err
}

// jsonable turns YAML's map[string]any / map[any]any into maps
// encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}

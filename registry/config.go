package registry

import (
	"bytes"
	"encoding/json"
	"errors"
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

// ParseConfig reads a `.gto` file as GTO's settings model does: its keys
// are case-sensitive (INDEX, CONFIG_FILE_NAME, LOG_LEVEL, DEBUG and EMOJIS in
// capitals, types, stages, enrichments and autoload_enrichments in small
// letters), any other key is refused, and values must have the type GTO
// declares. A malformed stage or type name is an error too. Empty content
// is the default configuration.
func ParseConfig(data []byte) (Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, errWrongConfig(err)
	}
	if err := checkSafe(&doc); err != nil {
		return Config{}, errWrongConfig(err)
	}
	var c Config
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return c, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Config{}, errWrongConfig(fmt.Errorf("line %d: not a mapping of settings", root.Line))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var err error
		switch k.Value {
		case "stages":
			c.Stages, err = nameList(v)
		case "types":
			c.Types, err = nameList(v)
		case "INDEX":
			c.IndexPath, err = laxString(v)
		case "CONFIG_FILE_NAME":
			if v.ShortTag() != "!!null" {
				_, err = laxString(v)
			}
		case "LOG_LEVEL":
			_, err = laxString(v)
		case "DEBUG", "EMOJIS", "autoload_enrichments":
			_, err = laxBool(v)
		case "enrichments":
			err = enrichmentList(v)
		default:
			err = fmt.Errorf("unknown key %q", k.Value)
			if want, ok := configKeys[strings.ToLower(k.Value)]; ok {
				err = fmt.Errorf("unknown key %q: GTO's keys are case-sensitive, write %q", k.Value, want)
			}
		}
		if err != nil {
			return Config{}, errWrongConfig(fmt.Errorf("line %d: %w", k.Line, err))
		}
	}
	return c, nil
}

// configKeys are the keys of GTO's settings, by their small-letter form.
var configKeys = map[string]string{
	"index": "INDEX", "config_file_name": "CONFIG_FILE_NAME", "log_level": "LOG_LEVEL",
	"debug": "DEBUG", "emojis": "EMOJIS", "types": "types", "stages": "stages",
	"enrichments": "enrichments", "autoload_enrichments": "autoload_enrichments",
}

// errWrongConfig is GTO's WrongConfig, with what is wrong. GTO then reads
// nothing of the repository.
func errWrongConfig(err error) error {
	return &StateError{Msg: fmt.Sprintf("Wrong config file '%s': %v", ConfigFile, err)}
}

// nameList reads GTO's Optional[List[str]] of names: null allows any.
func nameList(n *yaml.Node) ([]string, error) {
	if n.ShortTag() == "!!null" {
		return nil, nil
	}
	names, err := laxStrings(n)
	if err != nil {
		return nil, err
	}
	for _, s := range names {
		if err := tagparse.ValidateStage(s); err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
	}
	return names, nil
}

// enrichmentList reads GTO's list of enrichments: mappings with a string
// "type" and an optional mapping "config".
func enrichmentList(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return errors.New("enrichments must be a list")
	}
	for _, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: an enrichment must be a mapping with a type", e.Line)
		}
		var typed bool
		for i := 0; i+1 < len(e.Content); i += 2 {
			switch e.Content[i].Value {
			case "type":
				if _, err := laxString(e.Content[i+1]); err != nil {
					return fmt.Errorf("type: %w", err)
				}
				typed = true
			case "config":
				if e.Content[i+1].Kind != yaml.MappingNode {
					return fmt.Errorf("line %d: config must be a mapping", e.Content[i+1].Line)
				}
			}
		}
		if !typed {
			return fmt.Errorf("line %d: an enrichment needs a type", e.Line)
		}
	}
	return nil
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
	// Custom is any YAML value as GTO prints it in JSON: mappings keep
	// the file's key order, numbers are written as Python writes them
	// (1.0 stays 1.0). Nil when the entry has none (null).
	Custom json.RawMessage
}

// MarshalJSON writes the annotation as GTO puts it in an enrichment:
// {"source": "gto", "artifact": {...}}.
func (a Annotation) MarshalJSON() ([]byte, error) {
	type body struct {
		Type        *string         `json:"type"`
		Path        *string         `json:"path"`
		Virtual     bool            `json:"virtual"`
		Labels      []string        `json:"labels"`
		Description string          `json:"description"`
		Custom      json.RawMessage `json:"custom"`
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

// ParseIndex reads artifacts.yaml the way GTO validates it, with GTO's
// messages: the file must be a mapping (an empty file is not one) of
// artifact names to mappings whose known fields have GTO's types (type and
// path strings or null, virtual a boolean, labels a list of strings,
// description a string; other fields are ignored), and each name a plain
// artifact name (a "dir:name" key is refused).
func ParseIndex(data []byte) (Index, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errWrongIndex(err)
	}
	if err := checkSafe(&doc); err != nil {
		return nil, errWrongIndex(err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errWrongIndex(errors.New("not a mapping of artifact names to their annotations"))
	}
	root := doc.Content[0]
	idx := make(Index, 0, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if k.ShortTag() != "!!str" {
			return nil, errWrongIndex(fmt.Errorf("line %d: the key %s is not a string", k.Line, k.Value))
		}
		a, err := annotation(k.Value, v)
		if err != nil {
			return nil, errWrongIndex(fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err))
		}
		idx = append(idx, a)
	}
	// GTO checks the names once the whole file has its shape, with the
	// check of a plain name: "dir:name" is not one.
	for _, a := range idx {
		if tagparse.ValidateStage(a.Name) != nil {
			return nil, errInvalidValue(a.Name)
		}
	}
	return idx, nil
}

// annotation reads one entry of artifacts.yaml.
func annotation(name string, v *yaml.Node) (Annotation, error) {
	a := Annotation{Name: name, Virtual: true}
	if v.Kind != yaml.MappingNode {
		return a, errors.New("an entry must be a mapping of its annotations")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		field, value := v.Content[i].Value, resolve(v.Content[i+1])
		var err error
		switch field {
		case "type", "path":
			var s string
			if value.ShortTag() != "!!null" {
				s, err = laxString(value)
			}
			if field == "type" {
				a.Type = s
			} else {
				a.Path = s
			}
		case "virtual":
			a.Virtual, err = laxBool(value)
		case "labels":
			a.Labels, err = laxStrings(value)
		case "description":
			a.Description, err = laxString(value)
		case "custom":
			var b bytes.Buffer
			if err = writePythonJSON(&b, value); err == nil && value.ShortTag() != "!!null" {
				a.Custom = b.Bytes()
			}
		}
		if err != nil {
			return a, fmt.Errorf("%s: %w", field, err)
		}
	}
	return a, nil
}

func errWrongIndex(err error) error {
	return fmt.Errorf("artifacts.yaml file doesn't conform to GTO format: %w", err)
}

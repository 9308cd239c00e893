package registry_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/tagparse"
)

// The tests below pin the corners where GTO's answers are not the obvious
// ones. Each case says which piece of GTO it follows; GTO (the Python gto
// package with scmrepo and dulwich) cannot run here, so the expected answers
// are read from its code.

// named sets the name a tag object records, as `git tag NEW OLD` leaves it:
// the ref is NEW, the object still says OLD.
func (r *repo) named(ref, object string) *repo {
	for i := range r.tags {
		if r.tags[i].Name == ref {
			r.tags[i].ObjectName = object
		}
	}
	return r
}

// copied adds the ref NEW pointing to OLD's tag object: `git tag NEW OLD`.
func (r *repo) copied(ref, old string) *repo {
	for _, t := range r.tags {
		if t.Name == old {
			t.Name, t.ObjectName = ref, old
			r.tags = append(r.tags, t)
			return r
		}
	}
	panic("no tag " + old)
}

func refsOf(h []registry.HistoryEntry) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Event+" "+e.Ref+" "+str(e.Version))
	}
	return out
}

// gto's tag_re takes any run of digits for a counter, and name_tag writes
// one more than the highest counter of the artifact's refs (int("007") is
// 7), lightweight ones included.
func TestCountersGTOAccepts(t *testing.T) {
	for _, c := range []struct {
		name string
		r    *repo
		next string
	}{
		{"#0 is a counter", newRepo().tag("m@v1.0.0#0", c1), "1"},
		{"leading zeros", newRepo().tag("m@v1.0.0", c1).tag("m#prod#007", c1), "8"},
		{"highest by value", newRepo().tag("m@v1.0.0#0", c1).tag("m#prod#007", c1).lightweight("m#dev#010", c2), "11"},
		{"no size limit", newRepo().tag("m@v1.0.0", c1).tag("m#prod#99999999999999999999", c1), "100000000000000000000"},
		{"simple tags have none", newRepo().tag("m@v1.0.0", c1).tag("m#prod", c1), "1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := c.r.registry()
			if got := reg.NextCounter("m"); got != c.next {
				t.Errorf("next counter %s, want %s", got, c.next)
			}
			for _, tg := range c.r.tags {
				if tg.Annotated && len(reg.CheckRef(tg.Name)) != 1 {
					t.Errorf("check-ref %s found no event: gto reads the tag", tg.Name)
				}
			}
			if reg.Err() != nil {
				t.Errorf("Err() = %v", reg.Err())
			}
		})
	}
	p, err := newRepo().tag("m@v1.0.0", c1).tag("m#prod#007", c1).registry().
		PlanAssign(registry.AssignRequest{Artifact: "m", Stage: "dev", Version: "v1.0.0"})
	if err != nil || len(p.Create) != 1 || p.Create[0].Name != "m#dev#8" {
		t.Errorf("assign after #007 plans %+v, %v; want m#dev#8", p.Create, err)
	}
}

// A tag's meaning is the name inside its tag object (gto's index_tag
// parses tag.name, which scmrepo takes from the object); its ref's name
// only decides whether gto reads it and in which pass (gto's find filters
// list_tags, the ref names). check-ref looks for events whose tag is the
// ref's name.
func TestTagObjectNames(t *testing.T) {
	cases := []struct {
		name    string
		r       *repo
		history []string // oldest first: event, tag, version
		checks  map[string]int
		err     string
	}{{
		name:    "a renamed ref reads as its object's name",
		r:       newRepo().tag("m@v1.0.0", c1).tag("new@v2.0.0", c2).named("new@v2.0.0", "m@v2.0.0"),
		history: []string{"registration m@v1.0.0 v1.0.0", "registration m@v2.0.0 v2.0.0"},
		checks:  map[string]int{"new@v2.0.0": 0, "m@v2.0.0": 0, "m@v1.0.0": 1},
	}, {
		// gto's add_event skips an event equal to one it has.
		name:    "a copied ref is one event",
		r:       newRepo().tag("m@v1.0.0", c1).copied("copy@v9.9.9", "m@v1.0.0"),
		history: []string{"registration m@v1.0.0 v1.0.0"},
		checks:  map[string]int{"m@v1.0.0": 1, "copy@v9.9.9": 0},
	}, {
		// The ref "m#dev" is read in the stage pass, after every
		// registration, though its object is a registration: the
		// assignment m#prod#1, older, found no version at c2 then.
		name: "the ref's name picks the pass",
		r: newRepo().tag("m@v1.0.0", c1).tag("m#prod#1", c2).tag("m#dev", c2).
			named("m#dev", "m@v2.0.0"),
		history: []string{"registration m@v1.0.0 v1.0.0", "assignment m#prod#1 " + c2, "registration m@v2.0.0 v2.0.0"},
		checks:  map[string]int{"m#dev": 0, "m#prod#1": 1},
	}, {
		// scmrepo's GitTag.target is the object the tag names: for a tag
		// of a tag, the inner tag, which names no version.
		name: "a tag of a tag names its version by the inner tag",
		r: func() *repo {
			r := newRepo().tag("m@v1.0.0", c1).tag("m#prod", c1)
			r.tags[1].Target = strings.Repeat("a", 40)
			return r
		}(),
		history: []string{"registration m@v1.0.0 v1.0.0", "assignment m#prod " + strings.Repeat("a", 40)},
		checks:  map[string]int{"m#prod": 1},
	}, {
		// parse_tag raises InvalidTagName, and gto answers nothing.
		name:    "an object named otherwise than GTO's grammar",
		r:       newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0", c2).named("m@v2.0.0", "release-2"),
		history: []string{"registration m@v1.0.0 v1.0.0"},
		err:     "Cannot parse tag name 'release-2'",
	}, {
		// gto crashes building the event (no action); hookd leaves it out.
		name:    "an object named name@created",
		r:       newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0", c2).named("m@v2.0.0", "m@created"),
		history: []string{"registration m@v1.0.0 v1.0.0"},
	}, {
		// Two tag objects carry one name: both events count, and gto's
		// check-ref CLI refuses the name (see cmd/hookd).
		name:    "two objects of one name",
		r:       newRepo().tag("m@v1.0.0", c1).tag("old@v1.0.0", c1).named("old@v1.0.0", "m@v1.0.0"),
		history: []string{"registration m@v1.0.0 v1.0.0", "registration m@v1.0.0 v1.0.0"},
		checks:  map[string]int{"m@v1.0.0": 2},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := c.r.registry()
			if got := strings.Join(refsOf(reg.History("", true)), "\n"); got != strings.Join(c.history, "\n") {
				t.Errorf("history\n%s\nwant\n%s", got, strings.Join(c.history, "\n"))
			}
			for ref, n := range c.checks {
				if got := reg.CheckRef(ref); len(got) != n {
					t.Errorf("check-ref %s: %d events, want %d: %s", ref, len(got), n, toJSON(t, got))
				}
			}
			if got := errString(reg.Err()); got != c.err {
				t.Errorf("Err() = %q, want %q", got, c.err)
			}
			var se *registry.StateError
			if c.err != "" && !errors.As(reg.Err(), &se) {
				t.Errorf("Err() is a %T, want a *StateError", reg.Err())
			}
		})
	}
}

// gto's index_tag looks up (creating, when none is registered there) the
// version at an assignment's commit before add_event drops the copy as an
// equal event: a copied assignment of an unregistered commit leaves one
// more version named by the commit, enriched and shown like the others.
func TestCopiedAssignmentLeavesAVersion(t *testing.T) {
	count := func(r *repo) int {
		vs, err := r.registry().ShowArtifact("m", "", registry.DefaultShowOptions())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range vs {
			if v.Version == c2 {
				n++
			}
		}
		return n
	}
	plain := newRepo().tag("m@v1.0.0", c1).tag("m#prod#1", c2)
	copied := newRepo().tag("m@v1.0.0", c1).tag("m#prod#1", c2).copied("m#prod#2", "m#prod#1")
	if a, b := count(plain), count(copied); a != 2 || b != 3 {
		t.Errorf("versions named by the commit: %d, and %d with the copy; want 2 and 3", a, b)
	}
	if h := copied.registry().History("m", false); len(h) != 2 {
		t.Errorf("history with the copy: %s; want the assignment once", toJSON(t, h))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// gto's find_version(commit_hexsha=...) raises ManyVersions when more than
// one version with registrations or deregistrations is at the commit: when
// an assignment or unassignment points there, and when artifacts.yaml at
// HEAD annotates the artifact and HEAD is that commit. Otherwise two
// versions at one commit are fine.
func TestManyVersions(t *testing.T) {
	many := func(versions string) string {
		return "Multiple versions are not allowed on the same Git commit. Violation detected for artifact 'm', versions '" + versions + "'."
	}
	head := registry.Options{Head: c1, Index: registry.Index{{Name: "m", Virtual: true}}}
	cases := []struct {
		name string
		r    *repo
		opts registry.Options
		err  string
	}{
		{"an assignment at the commit", newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0", c1).tag("m#prod#1", c1), registry.Options{}, many("['v1.0.0', 'v2.0.0']")},
		{"an unassignment at the commit", newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0", c1).tag("m#prod!#1", c1), registry.Options{}, many("['v1.0.0', 'v2.0.0']")},
		{"a deregistered version counts", newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0!", c1).tag("m#prod#1", c1), registry.Options{}, many("['v1.0.0', 'v2.0.0']")},
		{"three, in the order created", newRepo().tag("m@v3.0.0", c1).tag("m@v1.0.0", c1).tag("m@v2.0.0", c1).tag("m#prod", c1), registry.Options{}, many("['v3.0.0', 'v1.0.0', 'v2.0.0']")},
		{"HEAD annotates the artifact", newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0", c1), head, many("['v1.0.0', 'v2.0.0']")},
		{"nothing points there", newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0", c1).tag("m#prod#1", c2), registry.Options{}, ""},
		{"one version, registered twice", newRepo().tag("m@v1.0.0", c1).tag("m@v1.0.0#2", c1).tag("m#prod#3", c1), head, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := c.r.build(c.opts)
			if got := errString(reg.Err()); got != c.err {
				t.Errorf("Err() = %q, want %q", got, c.err)
			}
			// Every write reads the state first, and is refused.
			_, err := reg.PlanDeprecate(registry.DeprecateRequest{Artifact: "m"})
			if c.err != "" && errString(err) != c.err {
				t.Errorf("deprecate: %v, want the refusal", err)
			}
		})
	}
}

// dulwich's Tag cuts the message at the first "-----BEGIN PGP SIGNATURE-----"
// (wherever it is), or if there is none the first SSH one; gto strips what
// is left.
func TestSignedTagMessages(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"Registering m\n-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\n", "Registering m"},
		{"Registering m\n\n-----BEGIN SSH SIGNATURE-----\nU1NI\n-----END SSH SIGNATURE-----\n", "Registering m"},
		{"a\n-----BEGIN SSH SIGNATURE-----\nx\n-----BEGIN PGP SIGNATURE-----\ny\n", "a\n-----BEGIN SSH SIGNATURE-----\nx"},
		{"see -----BEGIN PGP SIGNATURE----- inline", "see"},
		{"-----BEGIN PGP SIGNATURE-----\nonly\n", ""},
		{"no signature\n\n", "no signature"},
		{"-----BEGIN PGP MESSAGE-----\nnot a signature\n", "-----BEGIN PGP MESSAGE-----\nnot a signature"},
	} {
		r := newRepo().tag("m@v1.0.0", c1)
		r.tags[0].Message = c.raw
		reg := r.registry()
		if got := reg.History("", false)[0].Message; got != c.want {
			t.Errorf("message %q read as %q, want %q", c.raw, got, c.want)
		}
		if got := reg.CheckRef("m@v1.0.0")[0].Message; got != c.want {
			t.Errorf("check-ref message %q, want %q", got, c.want)
		}
	}
}

// gto's Index.read_state: pydantic's Dict[str, Artifact] (an entry is a
// mapping; type and path str or None, virtual bool, labels List[str],
// description str, all lax but never a number for a str; other keys are
// ignored), then assert_name_is_valid on each key, which takes no "dir:".
func TestIndexValidation(t *testing.T) {
	const wrong = "artifacts.yaml file doesn't conform to GTO format"
	for _, c := range []struct {
		yaml string
		err  string // prefix; "" when accepted
		want string // the annotations as GTO's JSON, when accepted
	}{
		{"nn: {}\n", "", `[{"source":"gto","artifact":{"type":null,"path":null,"virtual":true,"labels":[],"description":"","custom":null}}]`},
		{"nn:\n  description: 123\n", wrong, ""},
		{"nn:\n", wrong, ""},
		{"nn: 5\n", wrong, ""},
		{"nn: [a]\n", wrong, ""},
		{"", wrong, ""},
		{"- nn\n", wrong, ""},
		{"123: {}\n", wrong, ""},
		{"nn: {description: null}\n", wrong, ""},
		{"nn: {labels: a}\n", wrong, ""},
		{"nn: {labels: [a, 1]}\n", wrong, ""},
		{"nn: {virtual: 2}\n", wrong, ""},
		{"nn: {type: 1.5}\n", wrong, ""},
		{"nn: !thing {}\n", wrong, ""},
		{"nn: [1, 2\n", wrong, ""},
		{"models:nn: {}\n", "Invalid value 'models:nn'. Only letters, numbers, '_', '-', '/' are allowed.", ""},
		{"bad name!: {}\n", "Invalid value 'bad name!'", ""},
		// The shape is checked before the names.
		{"models:nn: {}\nnn: {description: 1}\n", wrong, ""},
		{"nn: {type: null, path: null, virtual: off, labels: [], other: [x]}\n", "",
			`[{"source":"gto","artifact":{"type":null,"path":null,"virtual":false,"labels":[],"description":"","custom":null}}]`},
		{"nn: {virtual: 'Yes', labels: [b, a], type: model, path: m.pkl, description: d}\n", "",
			`[{"source":"gto","artifact":{"type":"model","path":"m.pkl","virtual":true,"labels":["b","a"],"description":"d","custom":null}}]`},
		{"nn: {virtual: 0}\nrf: {virtual: 1.0}\n", "",
			`[{"source":"gto","artifact":{"type":null,"path":null,"virtual":false,"labels":[],"description":"","custom":null}},` +
				`{"source":"gto","artifact":{"type":null,"path":null,"virtual":true,"labels":[],"description":"","custom":null}}]`},
		// custom keeps the file's key order and Python's numbers.
		{"nn:\n  custom:\n    zeta: 1\n    alpha: 1.0\n    mid: [1e3, 0.00001, 1e16, 1e15, 12345678901234567890, -0.0, 0x1F]\n    nested: {b: true, a: ~, 3: x}\n", "",
			`[{"source":"gto","artifact":{"type":null,"path":null,"virtual":true,"labels":[],"description":"",` +
				`"custom":{"zeta":1,"alpha":1.0,"mid":[1000.0,1e-05,1e+16,1000000000000000.0,12345678901234567890,-0.0,31],"nested":{"b":true,"a":null,"3":"x"}}}}]`},
		{"base: &b {custom: {k: [v]}}\nnn:\n  custom: {<<: {z: 1, y: 2}, y: 3, a: *b}\n", "",
			`[{"source":"gto","artifact":{"type":null,"path":null,"virtual":true,"labels":[],"description":"","custom":{"k":["v"]}}},` +
				`{"source":"gto","artifact":{"type":null,"path":null,"virtual":true,"labels":[],"description":"","custom":{"z":1,"y":3,"a":{"custom":{"k":["v"]}}}}}]`},
	} {
		idx, err := registry.ParseIndex([]byte(c.yaml))
		switch {
		case c.err != "":
			if err == nil || !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("artifacts.yaml %q: %v, want an error starting %q", c.yaml, err, c.err)
			}
		case err != nil:
			t.Errorf("artifacts.yaml %q refused: %v", c.yaml, err)
		default:
			if got := toJSON(t, idx); got != c.want {
				t.Errorf("artifacts.yaml %q:\n got %s\nwant %s", c.yaml, got, c.want)
			}
		}
	}
}

// gto's settings model: case-sensitive keys (INDEX, CONFIG_FILE_NAME,
// LOG_LEVEL, DEBUG, EMOJIS; types, stages, enrichments,
// autoload_enrichments), no others, pydantic's lax types, names checked.
func TestConfigKeys(t *testing.T) {
	for _, c := range []struct {
		yaml  string
		err   string // substring; "" when accepted
		index string
	}{
		{"STAGES: [dev]\n", `unknown key "STAGES": GTO's keys are case-sensitive, write "stages"`, ""},
		{"index: other.yaml\n", `unknown key "index": GTO's keys are case-sensitive, write "INDEX"`, ""},
		{"emojis: false\n", `write "EMOJIS"`, ""},
		{"stagez: [dev]\n", `unknown key "stagez"`, ""},
		{"INDEX: other.yaml\n", "", "other.yaml"},
		{"INDEX: 5\n", "want a string", ""},
		{"EMOJIS: maybe\n", "want a boolean", ""},
		{"types: [1]\n", "want a string", ""},
		{"stages: dev\n", "want a list of strings", ""},
		{"stages: [-dev]\n", "stage must start and end", ""},
		{"enrichments: [{config: {}}]\n", "needs a type", ""},
		{"- stages\n", "not a mapping", ""},
		{"stages: !x [dev]\n", "could not determine a constructor", ""},
		{"", "", "artifacts.yaml"},
		{"LOG_LEVEL: DEBUG\nDEBUG: 1\nEMOJIS: off\nCONFIG_FILE_NAME: null\nautoload_enrichments: yes\nenrichments: [{type: x, config: {a: 1}}]\nstages: null\ntypes: []\n", "", "artifacts.yaml"},
	} {
		cfg, err := registry.ParseConfig([]byte(c.yaml))
		switch {
		case c.err != "":
			var se *registry.StateError
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "Wrong config file '.gto': ") || !errors.As(err, &se) {
				t.Errorf(".gto %q: %v, want GTO's WrongConfig with %q", c.yaml, err, c.err)
			}
		case err != nil:
			t.Errorf(".gto %q refused: %v", c.yaml, err)
		case cfg.IndexFile() != c.index:
			t.Errorf(".gto %q: index %q, want %q", c.yaml, cfg.IndexFile(), c.index)
		}
	}
	if cfg, err := registry.ParseConfig([]byte("types: []\nstages: null\n")); err != nil || cfg.Types == nil || len(cfg.Types) != 0 || cfg.Stages != nil {
		t.Errorf("types: [] allows none, stages: null any: %+v %v", cfg, err)
	}
}

// gto prints JSON with json.dumps(indent=4): ensure_ascii escapes every
// character outside printable ASCII (surrogate pairs above U+FFFF, DEL too),
// and "<", ">", "&" are left alone.
func TestJSONBytes(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{map[string]string{"author": "Zoë"}, "{\n    \"author\": \"Zo\\u00eb\"\n}\n"},
		{[]string{"🚀 <a&b>"}, "[\n    \"\\ud83d\\ude80 <a&b>\"\n]\n"},
		{"\x7f\x1f\b\f\n\r\t\"\\", "\"\\u007f\\u001f\\b\\f\\n\\r\\t\\\"\\\\\"\n"},
		{"\u2028 日本", "\"\\u2028 \\u65e5\\u672c\"\n"},
		{map[string]any{"a": []int{}, "b": map[string]int{}, "c": nil}, "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": null\n}\n"},
		{registry.OrderedMap[int]{{Key: "z", Value: 1}, {Key: "é", Value: 2}}, "{\n    \"z\": 1,\n    \"\\u00e9\": 2\n}\n"},
	} {
		var b bytes.Buffer
		if err := registry.WriteJSON(&b, c.v); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("WriteJSON(%#v)\n got %q\nwant %q", c.v, b.String(), c.want)
		}
	}
}

// The tagger and the message reach gto's JSON as they are; only the
// printing escapes them.
func TestShowKeepsTheTaggersName(t *testing.T) {
	r := newRepo().tag("m@v1.0.0", c1)
	r.tags[0].Tagger = registry.Person{Name: "Zoë <z>", Email: "z@example.com"}
	r.tags[0].Message = "Déploiement 🚀"
	evs := r.registry().CheckRef("m@v1.0.0")
	var b bytes.Buffer
	if err := registry.WriteJSON(&b, evs[0]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"author": "Zo\u00eb <z>"`, `"message": "D\u00e9ploiement \ud83d\ude80"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("check-ref JSON lacks %s:\n%s", want, b.String())
		}
	}
}

// tagparse and the registry agree on what a counter is.
func TestCounterTextRoundTrips(t *testing.T) {
	for _, name := range []string{"m#prod#007", "m@v1.0.0#0", "m@deprecated#00"} {
		p, err := tagparse.Parse(name)
		if err != nil || tagparse.Format(p) != name || !p.HasCounter() {
			t.Errorf("Parse(%q) = %+v, %v", name, p, err)
		}
	}
}

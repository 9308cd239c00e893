package tagparse

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
)

func TestParseGrammar(t *testing.T) {
	cases := []struct {
		tag  string
		want Tag
	}{
		{"nn@v0.0.1", Tag{Artifact: "nn", Action: Register, Version: "v0.0.1"}},
		{"nn@v0.0.1#7", Tag{Artifact: "nn", Action: Register, Version: "v0.0.1", Counter: 7, CounterText: "7"}},
		// GTO's counter is [0-9]+: "#0" and leading zeros are counters.
		{"nn@v1.0.0#0", Tag{Artifact: "nn", Action: Register, Version: "v1.0.0", Counter: 0, CounterText: "0"}},
		{"nn#prod#007", Tag{Artifact: "nn", Action: Assign, Stage: "prod", Counter: 7, CounterText: "007"}},
		{"nn#prod!#00", Tag{Artifact: "nn", Action: Unassign, Stage: "prod", Counter: 0, CounterText: "00"}},
		{"nn#prod#1234567890", Tag{Artifact: "nn", Action: Assign, Stage: "prod", Counter: 1234567890, CounterText: "1234567890"}},
		// Python's int has no bound; hookd keeps the digits and saturates the value.
		{"nn#prod#99999999999999999999", Tag{Artifact: "nn", Action: Assign, Stage: "prod", Counter: math.MaxInt, CounterText: "99999999999999999999"}},
		{"nn@v0.0.2!", Tag{Artifact: "nn", Action: Deregister, Version: "v0.0.2"}},
		{"nn@v0.0.2!#12", Tag{Artifact: "nn", Action: Deregister, Version: "v0.0.2", Counter: 12, CounterText: "12"}},
		{"nn#prod", Tag{Artifact: "nn", Action: Assign, Stage: "prod"}},
		{"nn#prod#4", Tag{Artifact: "nn", Action: Assign, Stage: "prod", Counter: 4, CounterText: "4"}},
		{"nn#prod!", Tag{Artifact: "nn", Action: Unassign, Stage: "prod"}},
		{"nn#prod!#3", Tag{Artifact: "nn", Action: Unassign, Stage: "prod", Counter: 3, CounterText: "3"}},
		{"nn@deprecated", Tag{Artifact: "nn", Action: Deprecate}},
		{"nn@deprecated#9", Tag{Artifact: "nn", Action: Deprecate, Counter: 9, CounterText: "9"}},
		{"x@created", Tag{Artifact: "x", Action: Create}},
		{"models/churn=rf@v1.0.0", Tag{Artifact: "models/churn:rf", Action: Register, Version: "v1.0.0"}},
		{"models/churn=rf#prod#1", Tag{Artifact: "models/churn:rf", Action: Assign, Stage: "prod", Counter: 1, CounterText: "1"}},
		{"a.b/c_d-e=My_Model-2@v1.2.3-rc.1+build.5", Tag{Artifact: "a.b/c_d-e:My_Model-2", Action: Register, Version: "v1.2.3-rc.1+build.5"}},
		{"Churn/Model_X#Staging-EU#2", Tag{Artifact: "Churn/Model_X", Action: Assign, Stage: "Staging-EU", Counter: 2, CounterText: "2"}},
		{"a#b", Tag{Artifact: "a", Action: Assign, Stage: "b"}},
		{"a@v10.20.30-0.alpha-1.x+001", Tag{Artifact: "a", Action: Register, Version: "v10.20.30-0.alpha-1.x+001"}},
	}
	for _, c := range cases {
		got, err := Parse(c.tag)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.tag, err)
			continue
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.tag, got, c.want)
		}
		if f := Format(got); f != c.tag {
			t.Errorf("Format(Parse(%q)) = %q", c.tag, f)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("Parse(%q).Validate() = %v", c.tag, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		tag  string
		want error
	}{
		{"release-1", ErrNotGTO},
		{"v1.0", ErrNotGTO},
		{"", ErrNotGTO},
		{"@v1.0.0", ErrEmptyName},
		{"#prod", ErrEmptyName},
		{"=rf@v1.0.0", ErrFolder},
		{"dir=@v1.0.0", ErrEmptyName},
		{"a=b=c@v1.0.0", ErrName},
		{"di r=x@v1.0.0", ErrFolder},
		{"-nn@v1.0.0", ErrName},
		{"nn-@v1.0.0", ErrName},
		{"n.n@v1.0.0", ErrName},
		{"a;rm -rf x@v1.0.0", ErrName},
		{"$(id)#prod", ErrName},
		{"nn@1.0.0", ErrVersion},
		{"nn@v1", ErrVersion},
		{"nn@v1.0", ErrVersion},
		{"nn@V1.0.0", ErrVersion},
		{"nn@v01.0.0", ErrVersion},
		{"nn@v1.0.0-", ErrVersion},
		{"nn@v1.0.0+", ErrVersion},
		{"nn@v1.0.0-01", ErrVersion},
		{"nn@v1.0.0-a..b", ErrVersion},
		{"nn@v1.0.0.0", ErrVersion},
		{"nn@latest", ErrVersion},
		{"nn@", ErrVersion},
		{"nn#", ErrStage},
		{"nn#-prod", ErrStage},
		{"nn#pr od", ErrStage},
		{"nn#prod#x", ErrCounter},
		{"nn#prod#", ErrCounter},
		{"nn#prod#1#2", ErrCounter},
		{"nn#prod#-1", ErrCounter},
		{"nn#prod#+1", ErrCounter},
		{"nn#prod#1 ", ErrCounter},
		{"nn#prod#١", ErrCounter}, // GTO's [0-9] is ASCII only
		{"nn@deprecated!", ErrCancelWhat},
		{"nn#prod!!", ErrCancelWhat},
		{"nn@deprecatedx", ErrVersion},
		{"nn@v1.0.0@v2.0.0", ErrVersion},
	}
	for _, c := range cases {
		got, err := Parse(c.tag)
		if !errors.Is(err, c.want) {
			t.Errorf("Parse(%q) = %+v, %v; want error %v", c.tag, got, err, c.want)
		}
		if err != nil && got != (Tag{}) {
			t.Errorf("Parse(%q) returned a partial tag %+v with its error", c.tag, got)
		}
	}
}

func TestErrorMessagesSayWhy(t *testing.T) {
	_, err := Parse("nn@1.2.3")
	if err == nil || err.Error() != "version must be v-prefixed SemVer like v1.2.3" {
		t.Errorf("version error = %v", err)
	}
	_, err = Parse("nn#prod#x")
	if err == nil || err.Error() != "counter must be digits, as in name#stage#3" {
		t.Errorf("counter error = %v", err)
	}
}

func TestValidate(t *testing.T) {
	bad := []Tag{
		{Artifact: "a=b", Action: Assign, Stage: "p"},
		{Artifact: "a", Action: Register, Version: "1.0.0"},
		{Artifact: "a", Action: Assign},
		{Artifact: "a", Action: Assign, Stage: "p", Counter: -1},
		{Artifact: "a", Action: Assign, Stage: "p", CounterText: "1x"},
		{Artifact: "a"},
		{Artifact: ":a", Action: Deprecate},
	}
	for _, tg := range bad {
		if err := tg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", tg)
		}
	}
	for _, name := range []string{"nn", "models/churn:rf", "a", "A_b/c-9"} {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "a=b", "a:", ":a", "a:b:c", "a b"} {
		if err := ValidateName(name); err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", name)
		}
	}
}

// GTO's name_tag takes the highest counter among an artifact's tags by
// value and writes one more, without leading zeros: after #007 comes 8.
func TestCounterArithmetic(t *testing.T) {
	for _, c := range []struct {
		a, b string
		cmp  int
		next string // NextCounter(a)
	}{
		{"", "", 0, "1"},
		{"0", "", 0, "1"},
		{"007", "7", 0, "8"},
		{"7", "10", -1, "8"},
		{"010", "9", 1, "11"},
		{"9", "8", 1, "10"},
		{"0999", "1000", -1, "1000"},
		{"99999999999999999999", "99999999999999999998", 1, "100000000000000000000"},
	} {
		if got := sign(CompareCounters(c.a, c.b)); got != c.cmp {
			t.Errorf("CompareCounters(%q, %q) = %d, want %d", c.a, c.b, got, c.cmp)
		}
		if got := sign(CompareCounters(c.b, c.a)); got != -c.cmp {
			t.Errorf("CompareCounters(%q, %q) = %d, want %d", c.b, c.a, got, -c.cmp)
		}
		if got := NextCounter(c.a); got != c.next {
			t.Errorf("NextCounter(%q) = %q, want %q", c.a, got, c.next)
		}
	}
	if got := Format(Tag{Artifact: "nn", Action: Assign, Stage: "prod", Counter: 8}); got != "nn#prod#8" {
		t.Errorf("Format with a Counter only = %q", got)
	}
	if !(Tag{CounterText: "0"}).HasCounter() || (Tag{}).HasCounter() || !(Tag{Counter: 3}).HasCounter() {
		t.Error("HasCounter: #0 has a counter, the simple notation none")
	}
}

func TestActionNames(t *testing.T) {
	want := map[Action][2]string{
		Register:   {"register", "registration"},
		Deregister: {"deregister", "deregistration"},
		Assign:     {"assign", "assignment"},
		Unassign:   {"unassign", "unassignment"},
		Deprecate:  {"deprecate", "deprecation"},
		Create:     {"create", ""},
		Action(99): {"unknown", ""},
	}
	for a, w := range want {
		if a.String() != w[0] || a.Event() != w[1] {
			t.Errorf("Action %d = %q/%q, want %q/%q", a, a.String(), a.Event(), w[0], w[1])
		}
	}
}

func TestCompareVersions(t *testing.T) {
	// Each version has lower precedence than the next (SemVer 2.0 §11).
	ordered := []string{
		"v0.0.1", "v0.0.2", "v0.1.0", "v0.9.0", "v0.10.0",
		"v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta",
		"v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.1", "v2.0.0", "v10.0.0",
	}
	for i := range ordered {
		for j := range ordered {
			got := sign(CompareVersions(ordered[i], ordered[j]))
			if want := sign(i - j); got != want {
				t.Errorf("CompareVersions(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	if c := CompareVersions("v1.0.0+a", "v1.0.0+b"); c != 0 {
		t.Errorf("build metadata changed precedence: %d", c)
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestBumpVersion(t *testing.T) {
	cases := []struct {
		v    string
		part Bump
		want string
	}{
		{"v1.2.3", BumpPatch, "v1.2.4"},
		{"v1.2.3", BumpMinor, "v1.3.0"},
		{"v1.2.3", BumpMajor, "v2.0.0"},
		{"v1.2.3-rc.1+b", BumpPatch, "v1.2.4"},
		{"v0.0.9", BumpPatch, "v0.0.10"},
	}
	for _, c := range cases {
		if got := BumpVersion(c.v, c.part); got != c.want {
			t.Errorf("BumpVersion(%s, %d) = %s, want %s", c.v, c.part, got, c.want)
		}
	}
}

func TestParseShortcut(t *testing.T) {
	cases := []struct {
		in     string
		want   Shortcut
		isPart bool
	}{
		{"nn", Shortcut{Artifact: "nn"}, false},
		{"nn@latest", Shortcut{Artifact: "nn", Latest: true}, true},
		{"nn@greatest", Shortcut{Artifact: "nn", Latest: true}, true},
		{"nn@v1.2.3", Shortcut{Artifact: "nn", Version: "v1.2.3"}, true},
		{"nn#prod", Shortcut{Artifact: "nn", Stage: "prod"}, true},
		{"models/churn:rf#prod", Shortcut{Artifact: "models/churn:rf", Stage: "prod"}, true},
	}
	for _, c := range cases {
		got, ok, err := ParseShortcut(c.in)
		if err != nil || got != c.want || ok != c.isPart {
			t.Errorf("ParseShortcut(%q) = %+v, %v, %v", c.in, got, ok, err)
		}
	}
	for _, in := range []string{"nn@1.0", "nn#", "a=b#prod", "nn@v1.0.0!"} {
		if _, _, err := ParseShortcut(in); err == nil {
			t.Errorf("ParseShortcut(%q): want an error", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"nn@v0.0.1", "nn#prod#4", "models/churn=rf#prod!#1", "x@deprecated#2", "x@created", "a@v1.0.0-rc.1+b.2!#3", "release-1", "nn@v1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tag, err := Parse(s)
		if err != nil {
			return
		}
		if out := Format(tag); out != s {
			t.Fatalf("Format(Parse(%q)) = %q", s, out)
		}
		if err := tag.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a tag that Validate rejects: %v", s, err)
		}
	})
}

// gtoTagRE is GTO's tag grammar (constants.py's tag_re) written out in
// RE2 from the pieces the grammar is made of. GTO's \d is Unicode, RE2's
// ASCII; the SemVer part below spells digits [0-9] either way, which is
// what GTO matches for ASCII input.
var gtoTagRE = func() *regexp.Regexp {
	name := `[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?`
	semver := `(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)` +
		`(?:-(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?` +
		`(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?`
	artifact := `(?P<artifact>(?:[a-zA-Z0-9\-_./]+=)?` + name + `)`
	return regexp.MustCompile(`^` + artifact +
		`(?:(?:#(?P<stage>` + name + `)|@(?P<version>v` + semver + `))(?P<cancel>!?)|@(?:(?P<deprecated>deprecated)|(?P<created>created)))` +
		`(?:#(?P<counter>[0-9]+))?$`)
}()

// FuzzParseMatchesGTOGrammar checks that Parse accepts exactly what GTO's
// expression matches, with the same parts.
func FuzzParseMatchesGTOGrammar(f *testing.F) {
	for _, s := range []string{"nn@v0.0.1", "nn@v1.0.0#0", "nn#prod#007", "nn#prod!#00", "a/b=c#d!#1",
		"x@deprecated#0", "x@created", "nn#prod#x", "nn@v1.0.0!!", "=a@v1.0.0", "a.b=c@v1.0.0-rc.1+b#9", "nn#0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		m := gtoTagRE.FindStringSubmatch(s)
		if (err == nil) != (m != nil) {
			t.Fatalf("Parse(%q): err %v, GTO's grammar matches: %v", s, err, m != nil)
		}
		if m == nil {
			return
		}
		part := func(name string) string { return m[gtoTagRE.SubexpIndex(name)] }
		if want := strings.Replace(part("artifact"), "=", ":", 1); got.Artifact != want {
			t.Errorf("Parse(%q).Artifact = %q, GTO's %q", s, got.Artifact, want)
		}
		if got.Version != part("version") || got.Stage != part("stage") || got.CounterText != part("counter") {
			t.Errorf("Parse(%q) = %+v; GTO's version %q stage %q counter %q", s, got, part("version"), part("stage"), part("counter"))
		}
	})
}

var sink Tag

func BenchmarkParseRejected(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse("refs-heads-feature-branch-1")
	}
}

func BenchmarkParseRejectedNearMiss(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse("churn-model@1.2.3")
	}
}

func BenchmarkParseValid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse("churn-model#production#1234")
	}
}

func BenchmarkParseValidMonorepo(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse("models/churn=rf@v1.20.3-rc.1+build.7")
	}
}

// semverRE is the regular expression the SemVer 2.0 spec publishes (and GTO
// uses), with the "v" GTO requires.
var semverRE = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// FuzzIsVersion checks the hand-written scanner against the spec's
// regular expression.
func FuzzIsVersion(f *testing.F) {
	for _, s := range []string{"v1.2.3", "v0.0.0-0", "v1.2.3-rc.01", "v1.2.3+001", "v1.2.3-a..b", "v01.2.3", "v1.2.3-+b", "v1.2.3-x-y.Z9+b-c.d", "v1.2", "v1.2.3."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := IsVersion(v), semverRE.MatchString(v); got != want {
			t.Fatalf("IsVersion(%q) = %v, the SemVer expression says %v", v, got, want)
		}
	})
}

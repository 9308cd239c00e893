package registry_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

// Each row of the grammar produces its event, with the version and stage
// GTO reports for it.
func TestGrammarRowEffects(t *testing.T) {
	base := newRepo().tag("m@v1.0.0", c1).tag("m@v2.0.0", c2)
	cases := []struct {
		tag, commit           string
		event, version, stage string
	}{
		{"m@v3.0.0", c3, "registration", "v3.0.0", ""},
		{"m@v3.0.0#7", c3, "registration", "v3.0.0", ""},
		{"m@v1.0.0!", c1, "deregistration", "v1.0.0", ""},
		{"m@v1.0.0!#8", c1, "deregistration", "v1.0.0", ""},
		{"m#prod", c2, "assignment", "v2.0.0", "prod"},
		{"m#prod#9", c2, "assignment", "v2.0.0", "prod"},
		{"m#prod!", c2, "unassignment", "v2.0.0", "prod"},
		{"m#prod!#10", c2, "unassignment", "v2.0.0", "prod"},
		{"m#prod", c3, "assignment", c3, "prod"}, // no version at c3: named by the commit
		{"m@deprecated", c1, "deprecation", "", ""},
		{"m@deprecated#11", c1, "deprecation", "", ""},
		{"dir/sub=m@v1.0.0", c1, "registration", "v1.0.0", ""},
	}
	for _, c := range cases {
		t.Run(c.tag+"@"+c.commit[:1], func(t *testing.T) {
			r := &repo{tags: slices.Clone(base.tags), next: base.next}
			reg := r.tag(c.tag, c.commit).registry()
			evs := reg.CheckRef(c.tag)
			if len(evs) != 1 {
				t.Fatalf("check-ref %s gave %d events: %s", c.tag, len(evs), toJSON(t, evs))
			}
			e := evs[0]
			if e.Event != c.event || e.Version != c.version || e.Stage != c.stage || e.Commit != c.commit {
				t.Errorf("got event=%s version=%s stage=%s commit=%s; want %s %s %s %s",
					e.Event, e.Version, e.Stage, e.Commit, c.event, c.version, c.stage, c.commit)
			}
			if want := strings.SplitN(c.tag, "@", 2)[0]; strings.Contains(c.tag, "=") && e.Artifact != "dir/sub:m" {
				t.Errorf("artifact %s, want dir/sub:m (tag %s)", e.Artifact, want)
			}
		})
	}
}

func TestIgnoredTags(t *testing.T) {
	reg := newRepo().
		tag("m@v1.0.0", c1).
		lightweight("m@v9.9.9", c3).
		lightweight("m#prod", c3).
		tag("release-1", c2).
		tag("v1.0", c2).
		tag("x@created", c2). // GTO matches it, then crashes indexing it
		tag("m@v1", c2).      // not SemVer
		tag("Bad_@v1.0.0", c2).
		tag("m#prod", c1).
		registry()
	o := show(t, reg, registry.DefaultShowOptions())
	if len(o) != 1 || o[0].Key != "m" {
		t.Fatalf("artifacts shown: %s; want only m", toJSON(t, o))
	}
	if got := stageOf(t, o, "m", "prod"); got != "v1.0.0" {
		t.Errorf("m#prod holds %q, want v1.0.0 (the lightweight m#prod must not count)", got)
	}
	for _, ref := range []string{"m@v9.9.9", "m#prod!", "release-1", "v1.0", "x@created", "nope@v1.0.0"} {
		if evs := reg.CheckRef(ref); len(evs) != 0 {
			t.Errorf("check-ref %s = %s, want []", ref, toJSON(t, evs))
		}
	}
	if h := reg.History("", false); len(h) != 2 {
		t.Errorf("history has %d events, want 2: %s", len(h), toJSON(t, h))
	}
}

// GTO indexes registrations before assignments, so an assignment tagged
// before the registration at the same commit still names the version.
func TestAssignmentResolvesAgainstLaterRegistration(t *testing.T) {
	reg := newRepo().tag("m#prod", c1).tag("m@v1.0.0", c1).registry()
	evs := reg.CheckRef("m#prod")
	if len(evs) != 1 || evs[0].Version != "v1.0.0" {
		t.Fatalf("m#prod: %s; want version v1.0.0", toJSON(t, evs))
	}
}

func TestDiscoveredVersion(t *testing.T) {
	reg := newRepo().tag("m@v1.0.0", c1).tag("m#prod#1", c2).registry()
	vs, err := reg.ShowArtifact("m", "", registry.DefaultShowOptions())
	if err != nil {
		t.Fatal(err)
	}
	// GTO lists the commit-named version twice (see the reference
	// show_models_churn_rf.json): once with the assignment, once from its
	// enrichment alone.
	if len(vs) != 3 || vs[0].Version != "v1.0.0" || vs[1].Version != c2 || vs[2].Version != c2 {
		t.Fatalf("versions %s", toJSON(t, vs))
	}
	if !vs[1].Discovered || vs[0].Discovered || str(vs[1].Ref) != "m#prod#1" || str(vs[2].Ref) != c2 {
		t.Errorf("discovered/ref wrong: %s", toJSON(t, vs))
	}
	o := show(t, reg, registry.DefaultShowOptions())
	if got := stageOf(t, o, "m", "prod"); got != c2 {
		t.Errorf("prod holds %q, want the commit %s", got, c2)
	}
	if v, _ := o.Get("m"); str(v.Version) != "v1.0.0" {
		t.Errorf("latest %s, want v1.0.0 (a discovered version is never the latest)", str(v.Version))
	}
}

func TestDeregistrationDropsVersion(t *testing.T) {
	reg := newRepo().
		tag("m@v1.0.0", c1).tag("m@v2.0.0", c2).tag("m#prod#1", c2).tag("m@v2.0.0!", c2).
		registry()
	o := show(t, reg, registry.DefaultShowOptions())
	a, _ := o.Get("m")
	if str(a.Version) != "v1.0.0" {
		t.Errorf("latest %s, want v1.0.0", str(a.Version))
	}
	if got := stageOf(t, o, "m", "prod"); got != "" {
		t.Errorf("prod holds %q, want nothing: its version was deregistered", got)
	}
	vs, _ := reg.ShowArtifact("m", "", registry.DefaultShowOptions())
	if len(vs) != 1 {
		t.Errorf("show m lists %d versions, want 1 (without -d)", len(vs))
	}
	all, _ := reg.ShowArtifact("m", "", registry.ShowOptions{Deprecated: true, AssignmentsPerVersion: -1, VersionsPerStage: 1})
	if len(all) != 2 || all[0].IsActive {
		t.Errorf("show m -d: %s; want v2.0.0 inactive first", toJSON(t, all))
	}
}

func TestDeprecationHidesUntilLaterEvent(t *testing.T) {
	r := newRepo().tag("m@v1.0.0", c1).tag("m@deprecated", c1)
	o := show(t, r.registry(), registry.DefaultShowOptions())
	if _, ok := o.Get("m"); ok {
		t.Fatalf("deprecated artifact shown: %s", toJSON(t, o))
	}
	o = show(t, r.registry(), registry.ShowOptions{Deprecated: true, AssignmentsPerVersion: -1, VersionsPerStage: 1})
	if a, ok := o.Get("m"); !ok || a.Active {
		t.Fatalf("show -d: %s; want m inactive", toJSON(t, o))
	}
	vs, err := r.registry().ShowArtifact("m", "", registry.DefaultShowOptions())
	if err != nil || len(vs) != 0 {
		t.Errorf("show m of a deprecated artifact = %v, %v; want []", toJSON(t, vs), err)
	}
	o = show(t, r.tag("m@v2.0.0", c2).registry(), registry.DefaultShowOptions())
	if a, ok := o.Get("m"); !ok || !a.Active || str(a.Version) != "v2.0.0" {
		t.Errorf("after a later registration: %s; want m active at v2.0.0", toJSON(t, o))
	}
}

func TestAnnotations(t *testing.T) {
	idx, err := registry.ParseIndex([]byte("only:\n  type: model\n  path: m.pkl\n  labels: [a, b]\nold: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	head := c3
	commits := commitsFor(c1, c2)
	commits[head] = registry.Commit{Hash: head, CommitDate: t0.Add(100 * time.Hour), Message: "annotate\n"}
	reg := newRepo().tag("old@v1.0.0", c1).tag("old@deprecated", c1).tag("gone@v1.0.0", c1).tag("gone@deprecated", c1).
		build(registry.Options{Head: head, Index: idx, Commits: commits.Get})
	o := show(t, reg, registry.DefaultShowOptions())
	if got := strings.Join(keys(o), ","); got != "old,only" {
		t.Fatalf("shown %s, want old,only (old is annotated at HEAD after its deprecation)", got)
	}
	if a, _ := o.Get("only"); a.Registered || !a.Active || a.Version != nil {
		t.Errorf("only: %s; want registered false, active, no version", toJSON(t, a))
	}
	vs, err := reg.ShowArtifact("only", "", registry.DefaultShowOptions())
	if err != nil || len(vs) != 1 {
		t.Fatalf("show only: %s %v", toJSON(t, vs), err)
	}
	want := `[{"source":"gto","artifact":{"type":"model","path":"m.pkl","virtual":true,"labels":["a","b"],"description":"","custom":null}}]`
	if got := toJSON(t, vs[0].Enrichments[0].Enrichments); got != want {
		t.Errorf("enrichment annotations\n got %s\nwant %s", got, want)
	}
}

func keys[V any](m registry.OrderedMap[V]) []string {
	var out []string
	for _, kv := range m {
		out = append(out, kv.Key)
	}
	return out
}

func TestStageHoldersBySortAndLimits(t *testing.T) {
	// v2 is assigned to prod first, then v1: the most recent assignment
	// wins by timestamp, the greatest version by semver.
	reg := newRepo().
		tag("m@v1.0.0", c1).tag("m@v2.0.0", c2).
		tag("m#prod#1", c2).tag("m#dev#2", c2).tag("m#prod#3", c1).
		registry()
	def := registry.DefaultShowOptions()
	if got := stageOf(t, show(t, reg, def), "m", "prod"); got != "v1.0.0" {
		t.Errorf("timestamp: prod holds %q, want v1.0.0", got)
	}
	semver := def
	semver.Sort = registry.SortSemVer
	if got := stageOf(t, show(t, reg, semver), "m", "prod"); got != "v2.0.0" {
		t.Errorf("semver: prod holds %q, want v2.0.0", got)
	}
	all := def
	all.VersionsPerStage = -1
	if got := stageOf(t, show(t, reg, all), "m", "prod"); got != "v1.0.0, v2.0.0" {
		t.Errorf("--vs -1: prod holds %q, want \"v1.0.0, v2.0.0\"", got)
	}
	none := def
	none.AssignmentsPerVersion = 0
	if got := stageOf(t, show(t, reg, none), "m", "dev"); got != "" {
		t.Errorf("--av 0: dev holds %q, want nothing", got)
	}
	first := def
	first.AssignmentsPerVersion = 1 // v2's oldest stage is prod, so its dev goes
	if got := stageOf(t, show(t, reg, first), "m", "dev"); got != "" {
		t.Errorf("--av 1: dev holds %q, want nothing", got)
	}
	if _, err := reg.Show(registry.ShowOptions{AssignmentsPerVersion: -2}); err == nil {
		t.Error("--av -2 accepted")
	}
	which, err := reg.Which("m", "prod", def)
	if err != nil || len(which) != 1 || which[0].Version != "v1.0.0" {
		t.Errorf("which m prod = %v, %v", which, err)
	}
	latest, err := reg.Latest("m", false)
	if err != nil || latest == nil || latest.Name != "v2.0.0" {
		t.Errorf("latest m = %v, %v", latest, err)
	}
}

func TestShowArtifactShortcuts(t *testing.T) {
	reg := newRepo().tag("m@v1.0.0", c1).tag("m@v1.1.0", c2).tag("m#prod#1", c1).registry()
	def := registry.DefaultShowOptions()
	cases := []struct {
		name, commit string
		want         []string
	}{
		{"m", "", []string{"v1.1.0", "v1.0.0"}},
		{"m@latest", "", []string{"v1.1.0"}},
		{"m@greatest", "", []string{"v1.1.0"}},
		{"m@v1.0.0", "", []string{"v1.0.0"}},
		{"m@v3.0.0", "", nil},
		{"m#prod", "", []string{"v1.0.0"}},
		{"m#dev", "", nil},
		{"m", c2, []string{"v1.1.0"}},
	}
	for _, c := range cases {
		vs, err := reg.ShowArtifact(c.name, c.commit, def)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []string
		for _, v := range vs {
			got = append(got, v.Version)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("show %s (ref %q) = %v, want %v", c.name, c.commit, got, c.want)
		}
		if vs == nil {
			t.Errorf("show %s returned nil; GTO prints []", c.name)
		}
	}
	if _, err := reg.ShowArtifact("m@latest", c1, def); err == nil {
		t.Error("shortcut with ref accepted")
	}
	_, err := reg.ShowArtifact("nope", "", def)
	if nf, ok := err.(*registry.NotFoundError); !ok || nf.Msg != "Cannot find artifact 'nope'" {
		t.Errorf("unknown artifact: %v", err)
	}
}

func TestHistoryOrder(t *testing.T) {
	at := t0.Add(10 * time.Hour)
	reg := newRepo().
		tagAt("m#prod", c1, at).
		tagAt("m@v1.0.0", c1, at).
		tagAt("m@deprecated#2", c1, at).
		tagAt("n@v1.0.0", c2, at.Add(-time.Hour)).
		registry()
	var got []string
	for _, h := range reg.History("", false) {
		got = append(got, h.Event)
	}
	want := []string{"assignment", "registration", "deprecation", "registration"}
	if !slices.Equal(got, want) {
		t.Errorf("history %v, want %v (same second: by priority, highest first)", got, want)
	}
	got = got[:0]
	for _, h := range reg.History("", true) {
		got = append(got, h.Event)
	}
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("history --asc %v, want %v", got, want)
	}
	if h := reg.History("n", false); len(h) != 1 || h[0].Artifact != "n" {
		t.Errorf("history n: %s", toJSON(t, h))
	}
	if h := reg.History("nope", false); h == nil || len(h) != 0 {
		t.Errorf("history of an unknown artifact: %v; want []", h)
	}
}

// Offsets are kept in output but do not change the order: 10:00-05:00 is
// after 12:00+00:00.
func TestTimesKeepOffsetsAndCompareAsInstants(t *testing.T) {
	est := time.FixedZone("", -5*3600)
	reg := newRepo().
		tagAt("m@v1.0.0", c1, t0).
		tagAt("m#dev", c1, time.Date(2023, 2, 9, 10, 0, 0, 0, est)).
		tagAt("m#prod#1", c1, time.Date(2023, 2, 9, 12, 0, 0, 0, time.UTC)).
		registry()
	h := reg.History("", false)
	if h[0].Ref != "m#dev" || h[0].Timestamp != "2023-02-09T10:00:00-05:00" || h[1].Timestamp != "2023-02-09T12:00:00+00:00" {
		t.Errorf("history: %s", toJSON(t, h))
	}
}

func TestStages(t *testing.T) {
	r := newRepo().tag("m@v1.0.0", c1).tag("m#staging#1", c1).tag("m#prod#2", c1).tag("m#prod!#3", c1)
	if got := r.registry().Stages(false, false); !slices.Equal(got, []string{"staging"}) {
		t.Errorf("used stages %v, want [staging]", got)
	}
	cfg, err := registry.ParseConfig([]byte("stages: [dev, prod]\n"))
	if err != nil {
		t.Fatal(err)
	}
	reg := r.build(registry.Options{Config: cfg})
	if got := reg.Stages(false, false); !slices.Equal(got, []string{"dev", "prod"}) {
		t.Errorf("stages with .gto %v, want [dev prod]", got)
	}
	if got := reg.Stages(false, true); !slices.Equal(got, []string{"staging"}) {
		t.Errorf("--used %v, want [staging]", got)
	}
	if got := r.registry().Stages(true, false); got != nil {
		t.Errorf("--allowed without .gto stages = %v, want nil", got)
	}
	o := show(t, reg, registry.DefaultShowOptions())
	if a, _ := o.Get("m"); strings.Join(keys(a.Stage), ",") != "dev,prod" {
		t.Errorf("show columns %v, want the configured stages", keys(a.Stage))
	}
}

func TestNextCounter(t *testing.T) {
	reg := newRepo().
		tag("m@v1.0.0#4", c1).tag("m#prod#2", c1).tag("m@deprecated#3", c1).
		lightweight("m#dev#9", c2).
		tag("other#prod#50", c1).
		registry()
	if got := reg.NextCounter("m"); got != "10" {
		t.Errorf("next counter %s, want 10 (lightweight tags count too)", got)
	}
	if got := reg.NextCounter("fresh"); got != "1" {
		t.Errorf("next counter of a new artifact %s, want 1", got)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := registry.ParseConfig([]byte("stages: [dev]\ntypes: [model]\nEMOJIS: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Stages, []string{"dev"}) || !slices.Equal(cfg.Types, []string{"model"}) {
		t.Errorf("config %+v", cfg)
	}
	if err := cfg.CheckType("dataset"); err == nil || err.Error() != "Allowed types are: '['model']'" {
		t.Errorf("CheckType: %v", err)
	}
	for _, bad := range []string{"stagez: [dev]\n", "stages: [-bad]\n", "stages: dev\n"} {
		if _, err := registry.ParseConfig([]byte(bad)); err == nil {
			t.Errorf("config %q accepted", bad)
		}
	}
	if cfg, err := registry.ParseConfig(nil); err != nil || cfg.Stages != nil || cfg.IndexFile() != "artifacts.yaml" {
		t.Errorf("empty config: %+v %v", cfg, err)
	}
	if _, err := registry.ParseIndex([]byte("- a\n- b\n")); err == nil {
		t.Error("a list accepted as artifacts.yaml")
	}
	if _, err := registry.ParseIndex([]byte("bad name!: {}\n")); err == nil {
		t.Error("an invalid artifact name accepted in artifacts.yaml")
	}
}

// GTO strips tag messages of surrounding white space.
func TestTagMessageIsStripped(t *testing.T) {
	r := newRepo().tag("m@v1.0.0", c1)
	r.tags[0].Message = "\n  Registering m\n\nwith a body \x1f\n\n"
	h := r.registry().History("", false)
	if h[0].Message != "Registering m\n\nwith a body" {
		t.Errorf("message %q", h[0].Message)
	}
}

// Two versions registered at one commit that an assignment points to make
// GTO stop with ManyVersions on every command: Err says so in GTO's words.
// The registry still files the commit's assignments under the most
// recently registered version, for the daemon, which must go on.
func TestTwoVersionsAtOneCommit(t *testing.T) {
	reg := newRepo().tag("m@v1.0.0", c1).tag("m@v1.0.0!", c1).tag("m@v2.0.0", c1).tag("m#prod#1", c1).registry()
	if got := stageOf(t, show(t, reg, registry.DefaultShowOptions()), "m", "prod"); got != "v2.0.0" {
		t.Errorf("prod holds %q, want v2.0.0", got)
	}
	many := "Multiple versions are not allowed on the same Git commit. Violation detected for artifact 'm', versions '['v1.0.0', 'v2.0.0']'."
	_, err := reg.PlanRegister(registry.RegisterRequest{Artifact: "m", Commit: c1})
	if errKind(err) != "rule" || err.Error() != many {
		t.Errorf("register at the commit: %v", err)
	}
	var se *registry.StateError
	if err := reg.Err(); !errors.As(err, &se) || err.Error() != many {
		t.Errorf("Err() = %v, want GTO's ManyVersions", err)
	}
}

// Events of the same second and priority come out as GTO's sort and
// reverse leave them: tags are indexed by name within a second, each list
// is sorted stably and reversed, and history sorts that again and reverses.
func TestSameSecondSamePriority(t *testing.T) {
	at := t0.Add(5 * time.Hour)
	reg := newRepo().tag("m@v1.0.0", c1).tagAt("m#prod#1", c1, at).tagAt("m#dev#2", c1, at).registry()
	var got []string
	for _, h := range reg.History("m", false) {
		got = append(got, h.Ref)
	}
	if want := []string{"m#prod#1", "m#dev#2", "m@v1.0.0"}; !slices.Equal(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
}

package registry_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/hookd-dev/hookd/registry"
)

// planCase is one request and what GTO answers: an error of a kind with
// its message, or the tags created (name@commit) and the lines printed.
type planCase struct {
	name    string
	plan    func(*registry.Registry) (registry.Plan, error)
	errKind string // "rule", "input", "notfound" or "" for success
	errMsg  string
	create  []string
	delete  []string
	output  []string
}

func errKind(err error) string {
	var (
		rule  *registry.RuleError
		input *registry.InputError
		nf    *registry.NotFoundError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &rule):
		return "rule"
	case errors.As(err, &input):
		return "input"
	case errors.As(err, &nf):
		return "notfound"
	}
	return "untyped"
}

func runPlans(t *testing.T, reg *registry.Registry, cases []planCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.plan(reg)
			if kind := errKind(err); kind != c.errKind {
				t.Fatalf("error %v (kind %q), want kind %q %q", err, kind, c.errKind, c.errMsg)
			}
			if err != nil {
				if err.Error() != c.errMsg {
					t.Errorf("message\n got %q\nwant %q", err.Error(), c.errMsg)
				}
				return
			}
			var created []string
			for _, tg := range p.Create {
				created = append(created, tg.Name+"@"+tg.Commit[:1])
			}
			if !slices.Equal(created, c.create) {
				t.Errorf("creates %v, want %v", created, c.create)
			}
			if !slices.Equal(p.Delete, c.delete) {
				t.Errorf("deletes %v, want %v", p.Delete, c.delete)
			}
			if !slices.Equal(p.Output, c.output) {
				t.Errorf("prints %q, want %q", p.Output, c.output)
			}
		})
	}
}

// The registry the planning tests run against: nn has v0.0.1 at c1 (in
// prod), v0.0.2 at c2 (deregistered); x has a deregistration only; dep is
// deprecated.
func planRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	cfg, err := registry.ParseConfig([]byte("stages: [dev, staging, prod]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return newRepo().
		tag("nn@v0.0.1", c1).
		tag("nn#prod#1", c1).
		tag("nn@v0.0.2", c2).
		tag("nn@v0.0.2!", c2).
		tag("x@v1.0.0!", c1).
		tag("dep@v1.0.0", c2).
		tag("dep@deprecated", c2).
		build(registry.Options{Config: cfg, Head: c3})
}

func TestPlanRegister(t *testing.T) {
	reg := planRegistry(t)
	r := func(req registry.RegisterRequest) func(*registry.Registry) (registry.Plan, error) {
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanRegister(req) }
	}
	runPlans(t, reg, []planCase{
		// The greatest active version is v0.0.1; its bump v0.0.2 was
		// deregistered, and GTO then fails on the existing tag.
		{name: "next patch by default", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3}),
			errKind: "rule", errMsg: "tag 'nn@v0.0.2' already exists"},
		{name: "next patch, counter", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, Simple: registry.SimpleFalse}),
			create: []string{"nn@v0.0.2#2@3"}, output: []string{"Created git tag 'nn@v0.0.2#2' that registers version"}},
		{name: "bump minor", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, BumpMinor: true, Simple: registry.SimpleFalse}),
			create: []string{"nn@v0.1.0#2@3"}, output: []string{"Created git tag 'nn@v0.1.0#2' that registers version"}},
		{name: "bump major", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, BumpMajor: true}),
			create: []string{"nn@v1.0.0@3"}, output: []string{"Created git tag 'nn@v1.0.0' that registers version"}},
		{name: "first version", plan: r(registry.RegisterRequest{Artifact: "new", Commit: c1}),
			create: []string{"new@v0.0.1@1"}, output: []string{"Created git tag 'new@v0.0.1' that registers version"}},
		{name: "named version", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, Version: "v1.2.3-rc.1"}),
			create: []string{"nn@v1.2.3-rc.1@3"}, output: []string{"Created git tag 'nn@v1.2.3-rc.1' that registers version"}},
		{name: "bump of a first version", plan: r(registry.RegisterRequest{Artifact: "new", Commit: c1, BumpPatch: true}),
			errKind: "rule", errMsg: "Can't apply bump, because this is the first version being registered"},
		{name: "version and bump", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, Version: "v1.0.0", BumpMajor: true}),
			errKind: "input", errMsg: "Need to specify either version or single bump argument"},
		{name: "no commit", plan: r(registry.RegisterRequest{Artifact: "nn"}),
			errKind: "input", errMsg: "The commit to register is required"},
		{name: "two bumps", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, BumpMinor: true, BumpMajor: true}),
			errKind: "input", errMsg: "Need to specify either version or single bump argument"},
		{name: "commit already registered", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c1}),
			errKind: "rule", errMsg: "'nn' is already registered in this commit with version 'v0.0.1'"},
		{name: "forced, other version at the commit", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c1, Version: "v5.0.0", Force: true}),
			errKind: "rule", errMsg: "For this REF you can only register v0.0.1"},
		{name: "deregistered version again, simple tag taken", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c2}),
			errKind: "rule", errMsg: "tag 'nn@v0.0.2' already exists"},
		{name: "deregistered version again, counter", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c2, Simple: registry.SimpleFalse}),
			create: []string{"nn@v0.0.2#2@2"}, output: []string{"Created git tag 'nn@v0.0.2#2' that registers version"}},
		{name: "version registered elsewhere", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, Version: "v0.0.1"}),
			errKind: "rule", errMsg: "Version 'v0.0.1' already was registered.\n"},
		{name: "invalid version", plan: r(registry.RegisterRequest{Artifact: "nn", Commit: c3, Version: "1.0"}),
			errKind: "input", errMsg: "Supplied version '1.0' cannot be parsed"},
		{name: "invalid name", plan: r(registry.RegisterRequest{Artifact: "-nn", Commit: c3}),
			errKind: "input", errMsg: "Invalid value '-nn'. Only letters, numbers, '_', '-', '/' are allowed. Value must be of len >= 2 and must start and end with a letter or a number."},
		{name: "custom message", plan: func(reg *registry.Registry) (registry.Plan, error) {
			p, err := reg.PlanRegister(registry.RegisterRequest{Artifact: "new", Commit: c1})
			if err == nil && p.Create[0].Message != "Registering artifact new version v0.0.1" {
				t.Errorf("default message %q", p.Create[0].Message)
			}
			return p, err
		}, create: []string{"new@v0.0.1@1"}, output: []string{"Created git tag 'new@v0.0.1' that registers version"}},
	})
}

func TestPlanAssign(t *testing.T) {
	reg := planRegistry(t)
	a := func(req registry.AssignRequest) func(*registry.Registry) (registry.Plan, error) {
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanAssign(req) }
	}
	runPlans(t, reg, []planCase{
		{name: "by version", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Version: "v0.0.1"}),
			create: []string{"nn#dev#2@1"}, output: []string{"Created git tag 'nn#dev#2' that assigns stage to version 'v0.0.1'"}},
		{name: "simple", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Version: "v0.0.1", Simple: registry.SimpleTrue}),
			create: []string{"nn#dev@1"}, output: []string{"Created git tag 'nn#dev' that assigns stage to version 'v0.0.1'"}},
		{name: "by commit with a version", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Commit: c1}),
			create: []string{"nn#dev#2@1"}, output: []string{"Created git tag 'nn#dev#2' that assigns stage to version 'v0.0.1'"}},
		// Registering first bumps to v0.0.2, whose simple tag exists.
		{name: "registers first", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Commit: c3}),
			errKind: "rule", errMsg: "tag 'nn@v0.0.2' already exists"},
		{name: "registers first, named", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Commit: c3, NameVersion: "v1.0.0"}),
			create: []string{"nn@v1.0.0@3", "nn#dev#2@3"},
			output: []string{"Created git tag 'nn@v1.0.0' that registers version", "Created git tag 'nn#dev#2' that assigns stage to version 'v1.0.0'"}},
		{name: "new artifact registers v0.0.1", plan: a(registry.AssignRequest{Artifact: "new", Stage: "prod", Commit: c3}),
			create: []string{"new@v0.0.1@3", "new#prod#1@3"},
			output: []string{"Created git tag 'new@v0.0.1' that registers version", "Created git tag 'new#prod#1' that assigns stage to version 'v0.0.1'"}},
		{name: "skip registration", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Commit: c3, SkipRegistration: true}),
			create: []string{"nn#dev#2@3"}, output: []string{"Created git tag 'nn#dev#2' that assigns stage to version '" + c3 + "'"}},
		{name: "already in stage", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "prod", Version: "v0.0.1"}),
			errKind: "rule", errMsg: "Version 'v0.0.1' is already in stage 'prod'. Use the '--force' flag to create a new Git tag nevertheless."},
		{name: "already in stage, forced", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "prod", Version: "v0.0.1", Force: true}),
			create: []string{"nn#prod#2@1"}, output: []string{"Created git tag 'nn#prod#2' that assigns stage to version 'v0.0.1'"}},
		{name: "stage not allowed", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "qa", Version: "v0.0.1"}),
			errKind: "input", errMsg: "Allowed stages are: '['dev', 'staging', 'prod']'"},
		{name: "invalid stage", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "pr od", Version: "v0.0.1"}),
			errKind: "input", errMsg: "Invalid value 'pr od'. Only letters, numbers, '_', '-', '/' are allowed. Value must be of len >= 2 and must start and end with a letter or a number."},
		{name: "neither version nor commit", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev"}),
			errKind: "input", errMsg: "One and only one of (version, rev) must be specified."},
		{name: "both version and commit", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Version: "v0.0.1", Commit: c1}),
			errKind: "input", errMsg: "One and only one of (version, rev) must be specified."},
		{name: "unknown version", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Version: "v9.9.9"}),
			errKind: "notfound", errMsg: "Version 'v9.9.9' is not registered"},
		{name: "name version and skip", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Commit: c3, NameVersion: "v1.0.0", SkipRegistration: true}),
			errKind: "input", errMsg: "You either need to supply version name or skip registration"},
		{name: "name version at a registered commit", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Commit: c1, NameVersion: "v1.0.0"}),
			errKind: "rule", errMsg: "Can't register 'v1.0.0', since 'v0.0.1' is registered already at this ref"},
		{name: "invalid name version", plan: a(registry.AssignRequest{Artifact: "nn", Stage: "dev", Commit: c3, NameVersion: "v1"}),
			errKind: "input", errMsg: "Version 'v1' is not valid. Example of valid version: 'v1.0.0'"},
	})
}

func TestPlanUnassign(t *testing.T) {
	reg := planRegistry(t)
	u := func(req registry.UnassignRequest) func(*registry.Registry) (registry.Plan, error) {
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanUnassign(req) }
	}
	runPlans(t, reg, []planCase{
		{name: "by version", plan: u(registry.UnassignRequest{Artifact: "nn", Stage: "prod", Version: "v0.0.1"}),
			create: []string{"nn#prod!#2@1"}, output: []string{"Created git tag 'nn#prod!#2' that unassigns stage from version 'v0.0.1'"}},
		{name: "by commit, simple", plan: u(registry.UnassignRequest{Artifact: "nn", Stage: "prod", Commit: c1, Simple: registry.SimpleTrue}),
			create: []string{"nn#prod!@1"}, output: []string{"Created git tag 'nn#prod!' that unassigns stage from version 'v0.0.1'"}},
		{name: "delete", plan: u(registry.UnassignRequest{Artifact: "nn", Stage: "prod", Version: "v0.0.1", Delete: true}),
			delete: []string{"nn#prod#1"}, output: []string{"Deleted git tag 'nn#prod#1'"}},
		{name: "stage not assigned", plan: u(registry.UnassignRequest{Artifact: "nn", Stage: "dev", Version: "v0.0.1"}),
			errKind: "rule", errMsg: "Stage 'dev' is not assigned to a version 'v0.0.1'"},
		{name: "unknown artifact", plan: u(registry.UnassignRequest{Artifact: "nope", Stage: "dev", Version: "v0.0.1"}),
			errKind: "notfound", errMsg: "Cannot find artifact 'nope'"},
		{name: "unknown version", plan: u(registry.UnassignRequest{Artifact: "nn", Stage: "prod", Version: "v7.0.0"}),
			errKind: "notfound", errMsg: "No versions found for 'nn'"},
		{name: "stage not allowed", plan: u(registry.UnassignRequest{Artifact: "nn", Stage: "qa", Version: "v0.0.1"}),
			errKind: "input", errMsg: "Allowed stages are: '['dev', 'staging', 'prod']'"},
	})
}

func TestPlanDeregister(t *testing.T) {
	reg := planRegistry(t)
	d := func(req registry.DeregisterRequest) func(*registry.Registry) (registry.Plan, error) {
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanDeregister(req) }
	}
	runPlans(t, reg, []planCase{
		{name: "by version", plan: d(registry.DeregisterRequest{Artifact: "nn", Version: "v0.0.1"}),
			create: []string{"nn@v0.0.1!@1"}, output: []string{"Created git tag 'nn@v0.0.1!' that deregisters version"}},
		{name: "by commit, counter", plan: d(registry.DeregisterRequest{Artifact: "nn", Commit: c1, Simple: registry.SimpleFalse}),
			create: []string{"nn@v0.0.1!#2@1"}, output: []string{"Created git tag 'nn@v0.0.1!#2' that deregisters version"}},
		{name: "delete", plan: d(registry.DeregisterRequest{Artifact: "nn", Version: "v0.0.1", Delete: true}),
			delete: []string{"nn@v0.0.1", "nn#prod#1"}, output: []string{"Deleted git tag 'nn@v0.0.1'", "Deleted git tag 'nn#prod#1'"}},
		{name: "deregistered already", plan: d(registry.DeregisterRequest{Artifact: "nn", Version: "v0.0.2"}),
			errKind: "rule", errMsg: "The version at ref '" + c2 + "' was deregistered already"},
		{name: "not registered", plan: d(registry.DeregisterRequest{Artifact: "x", Version: "v1.0.0"}),
			errKind: "rule", errMsg: "The version at ref '" + c1 + "' is not registered"},
		{name: "unknown version", plan: d(registry.DeregisterRequest{Artifact: "nn", Version: "v3.0.0"}),
			errKind: "notfound", errMsg: "No versions found for 'nn'"},
		{name: "forced, no tags", plan: d(registry.DeregisterRequest{Artifact: "nn", Version: "v3.0.0", Force: true}),
			errKind: "rule", errMsg: "Can't deregister a version that have no git tags"},
		{name: "version and commit", plan: d(registry.DeregisterRequest{Artifact: "nn", Version: "v0.0.1", Commit: c1}),
			errKind: "input", errMsg: "One and only one of (version, rev) must be specified."},
	})
}

func TestPlanDeprecate(t *testing.T) {
	reg := planRegistry(t)
	d := func(req registry.DeprecateRequest) func(*registry.Registry) (registry.Plan, error) {
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanDeprecate(req) }
	}
	runPlans(t, reg, []planCase{
		// nn's newest event is the deregistration at c2.
		{name: "simple, at the newest event's commit", plan: d(registry.DeprecateRequest{Artifact: "nn"}),
			create: []string{"nn@deprecated@2"}, output: []string{"Created git tag 'nn@deprecated' that deprecates artifact"}},
		{name: "at a commit", plan: d(registry.DeprecateRequest{Artifact: "nn", Commit: c3}),
			create: []string{"nn@deprecated@3"}, output: []string{"Created git tag 'nn@deprecated' that deprecates artifact"}},
		{name: "forced uses a counter", plan: d(registry.DeprecateRequest{Artifact: "dep", Force: true}),
			create: []string{"dep@deprecated#1@2"}, output: []string{"Created git tag 'dep@deprecated#1' that deprecates artifact"}},
		{name: "forced, unknown artifact at HEAD", plan: d(registry.DeprecateRequest{Artifact: "nope", Force: true}),
			create: []string{"nope@deprecated#1@3"}, output: []string{"Created git tag 'nope@deprecated#1' that deprecates artifact"}},
		{name: "forced, unknown artifact, no HEAD", plan: func(*registry.Registry) (registry.Plan, error) {
			return newRepo().registry().PlanDeprecate(registry.DeprecateRequest{Artifact: "nope", Force: true})
		}, errKind: "notfound", errMsg: "Ref 'HEAD' was not found in the repository history"},
		{name: "force and simple", plan: d(registry.DeprecateRequest{Artifact: "nn", Force: true, Simple: registry.SimpleTrue}),
			errKind: "input", errMsg: "Can't use 'force' with 'simple=True'"},
		{name: "deprecated already", plan: d(registry.DeprecateRequest{Artifact: "dep"}),
			errKind: "rule", errMsg: "Artifact was deprecated already"},
		{name: "unknown artifact", plan: d(registry.DeprecateRequest{Artifact: "nope"}),
			errKind: "notfound", errMsg: "Cannot find artifact 'nope'"},
		{name: "delete", plan: d(registry.DeprecateRequest{Artifact: "nn", Delete: true}),
			delete: []string{"nn@v0.0.1", "nn#prod#1", "nn@v0.0.2", "nn@v0.0.2!"},
			output: []string{"Deleted git tag 'nn@v0.0.1'", "Deleted git tag 'nn#prod#1'", "Deleted git tag 'nn@v0.0.2'", "Deleted git tag 'nn@v0.0.2!'"}},
	})
}

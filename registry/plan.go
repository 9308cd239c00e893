package registry

import (
	"cmp"
	"fmt"

	"github.com/hookd-dev/hookd/tagparse"
)

// Simple is the `--simple` option: whether a new tag carries a "#N" counter.
type Simple uint8

// The values of `--simple`. With SimpleAuto each action does what GTO does
// by default: register, deregister and deprecate write simple tags,
// assign and unassign write counters (deprecate too with Force).
const (
	SimpleAuto Simple = iota
	SimpleTrue
	SimpleFalse
)

func (s Simple) or(auto bool) bool {
	switch s {
	case SimpleTrue:
		return true
	case SimpleFalse:
		return false
	}
	return auto
}

// PlannedTag is an annotated tag to create.
type PlannedTag struct {
	Name    string
	Action  tagparse.Action
	Commit  string // full sha
	Message string
}

// Plan is what an action does to the repository: the tags to create, in
// order, or (for a delete request) the tags to delete, and the lines GTO
// prints on success, in order.
type Plan struct {
	Create []PlannedTag
	Delete []string
	Output []string
}

// RegisterRequest is `gto register NAME REF`.
type RegisterRequest struct {
	Artifact string
	Commit   string // the full sha REF resolves to
	// UnknownRef is REF when it names no commit (Commit is then ""):
	// GTO's checks that come before it resolves REF refuse the request
	// with their words, and otherwise it is "unknown Git revision". The
	// other requests have it too.
	UnknownRef string
	// Version names the version; "" picks the next one (a patch bump of
	// the greatest registered version, or v0.0.1).
	Version                         string
	BumpMajor, BumpMinor, BumpPatch bool
	Message                         string
	Simple                          Simple
	Force                           bool
}

// AssignRequest is `gto assign NAME [REF] --stage STAGE`. Exactly one of
// Version and Commit is set.
type AssignRequest struct {
	Artifact string
	Stage    string
	// Version assigns an existing version.
	Version string
	// Commit assigns the version at that commit, registering one first
	// (named NameVersion, or the next version) unless SkipRegistration.
	Commit           string
	UnknownRef       string
	NameVersion      string
	SkipRegistration bool
	Message          string
	Simple           Simple
	Force            bool
}

// UnassignRequest is `gto deprecate NAME VERSION STAGE` (GTO's unassign).
// Exactly one of Version and Commit is set.
type UnassignRequest struct {
	Artifact   string
	Stage      string
	Version    string
	Commit     string
	UnknownRef string
	Message    string
	Simple     Simple
	Force      bool
	// Delete removes the stage's tags of the version instead.
	Delete bool
}

// DeregisterRequest is `gto deprecate NAME VERSION` (GTO's deregister).
// Exactly one of Version and Commit is set.
type DeregisterRequest struct {
	Artifact   string
	Version    string
	Commit     string
	UnknownRef string
	Message    string
	Simple     Simple
	Force      bool
	// Delete removes the version's tags instead.
	Delete bool
}

// DeprecateRequest is `gto deprecate NAME`.
type DeprecateRequest struct {
	Artifact string
	// Commit is where the tag goes; "" means the commit of the artifact's
	// newest event (HEAD for an artifact with none), as in GTO.
	Commit     string
	UnknownRef string
	Message    string
	Simple     Simple
	Force      bool
	// Delete removes all the artifact's tags instead.
	Delete bool
}

func checkName(name string) error {
	if tagparse.ValidateName(name) != nil {
		return errInvalidValue(name)
	}
	return nil
}

func checkVersion(v string) error {
	if !tagparse.IsVersion(v) {
		return inputErrorf("Version '%s' is not valid. Example of valid version: 'v1.0.0'", v)
	}
	return nil
}

// errUnknownRevision is how GTO (scmrepo) refuses a REF that names no
// commit where a command resolves it first.
func errUnknownRevision(ref string) error {
	return notFoundf("unknown Git revision '%s'", ref)
}

// checkArgs is GTO's _check_args.
func (r *Registry) checkArgs(name, version, commit string, stage *string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if stage != nil {
		if err := r.config.CheckStage(*stage); err != nil {
			return err
		}
	}
	if version != "" {
		if err := checkVersion(version); err != nil {
			return err
		}
	}
	if (version == "") == (commit == "") {
		return inputErrorf("One and only one of (version, rev) must be specified.")
	}
	return nil
}

// orNew returns the artifact, or an empty one (GTO's create_new=True).
func (r *Registry) orNew(name string) *Artifact {
	if a, ok := r.byName[name]; ok {
		return a
	}
	return &Artifact{Name: name}
}

// one is GTO's find_version with raise_if_not_found=False: nil, the only
// match, or GTO's "many versions" refusal.
func (a *Artifact) one(name, commit string) (*Version, error) {
	vs := a.find(name, commit, false)
	switch len(vs) {
	case 0:
		return nil, nil
	case 1:
		return vs[0], nil
	}
	return nil, errManyVersions(a.Name, vs)
}

// required is find_version with raise_if_not_found=True.
func (a *Artifact) required(name, commit string) (*Version, error) {
	v, err := a.one(name, commit)
	if err == nil && v == nil {
		err = notFoundf("No versions found for '%s'", a.Name)
	}
	return v, err
}

// tagName names a new tag, with the next counter unless simple. A name
// that exists is GTO's TagExists.
func (r *Registry) tagName(t tagparse.Tag, simple bool) (string, error) {
	if !simple {
		t.Counter, t.CounterText = 0, r.NextCounter(t.Artifact)
	}
	name := tagparse.Format(t)
	if r.HasTag(name) {
		return "", ruleErrorf("tag '%s' already exists", name)
	}
	return name, nil
}

// CheckRegisterArgs is what `gto register` checks before anything else:
// the artifact's name, and that versionArgs (how many of --version,
// --bump-major, --bump-minor and --bump-patch are given) is at most one.
func CheckRegisterArgs(name string, versionArgs int) error {
	if err := checkName(name); err != nil {
		return err
	}
	if versionArgs > 1 {
		return inputErrorf("Need to specify either version or single bump argument")
	}
	return nil
}

// PlanRegister applies `gto register`.
func (r *Registry) PlanRegister(req RegisterRequest) (Plan, error) {
	t, _, err := r.planRegister(req)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Create: []PlannedTag{t}, Output: []string{fmt.Sprintf("Created git tag '%s' that registers version", t.Name)}}, nil
}

// planRegister returns the registration's tag and the version it names.
func (r *Registry) planRegister(req RegisterRequest) (PlannedTag, string, error) {
	name, version := req.Artifact, req.Version
	bumps := 0
	for _, b := range []bool{version != "", req.BumpMajor, req.BumpMinor, req.BumpPatch} {
		if b {
			bumps++
		}
	}
	if err := CheckRegisterArgs(name, bumps); err != nil {
		return PlannedTag{}, "", err
	}
	if req.UnknownRef != "" {
		return PlannedTag{}, "", errUnknownRevision(req.UnknownRef)
	}
	if r.err != nil {
		return PlannedTag{}, "", r.err
	}
	if req.Commit == "" {
		// GTO registers HEAD by default; the caller resolves it.
		return PlannedTag{}, "", inputErrorf("The commit to register is required")
	}
	a := r.orNew(name)
	found, err := a.one("", req.Commit)
	if err != nil {
		return PlannedTag{}, "", err
	}
	if found != nil {
		if !req.Force && found.Registered() && found.Active() {
			return PlannedTag{}, "", ruleErrorf("'%s' is already registered in this commit with version '%s'", name, found.Name)
		}
		if version == "" {
			version = found.Name
		} else if found.Name != version {
			return PlannedTag{}, "", ruleErrorf("For this REF you can only register %s", found.Name)
		}
	}
	if version != "" {
		if !tagparse.IsVersion(version) {
			// register reports GTO's InvalidVersion, not the message of
			// the other commands' argument check.
			return PlannedTag{}, "", inputErrorf("Supplied version '%s' cannot be parsed", version)
		}
		same, err := a.one(version, "")
		if err != nil {
			return PlannedTag{}, "", err
		}
		if same != found {
			return PlannedTag{}, "", ruleErrorf("Version '%s' already was registered.\n", version)
		}
	} else if last := a.latest(true); last != nil {
		part := tagparse.BumpPatch
		if req.BumpMajor {
			part = tagparse.BumpMajor
		} else if req.BumpMinor {
			part = tagparse.BumpMinor
		}
		version = tagparse.BumpVersion(last.Name, part)
	} else if bumps > 0 {
		return PlannedTag{}, "", ruleErrorf("Can't apply bump, because this is the first version being registered")
	} else {
		version = "v0.0.1"
	}
	tag, err := r.tagName(tagparse.Tag{Artifact: name, Action: tagparse.Register, Version: version}, req.Simple.or(true))
	if err != nil {
		return PlannedTag{}, "", err
	}
	msg := req.Message
	if msg == "" {
		msg = fmt.Sprintf("Registering artifact %s version %s", name, version)
	}
	return PlannedTag{Name: tag, Action: tagparse.Register, Commit: req.Commit, Message: msg}, version, nil
}

// PlanAssign applies `gto assign`. When the commit has no registered
// version and SkipRegistration is false, the plan registers one first (a
// simple tag), then assigns it.
func (r *Registry) PlanAssign(req AssignRequest) (Plan, error) {
	name, stage := req.Artifact, req.Stage
	if err := r.checkArgs(name, req.Version, cmp.Or(req.Commit, req.UnknownRef), &stage); err != nil {
		return Plan{}, err
	}
	if req.NameVersion != "" {
		if err := checkVersion(req.NameVersion); err != nil {
			return Plan{}, err
		}
		if req.SkipRegistration {
			return Plan{}, inputErrorf("You either need to supply version name or skip registration")
		}
	}
	if req.UnknownRef != "" {
		return Plan{}, errUnknownRevision(req.UnknownRef)
	}
	if r.err != nil {
		return Plan{}, r.err
	}
	var plan Plan
	a := r.orNew(name)
	commit := req.Commit
	var version string
	var found *Version
	if req.Version != "" {
		v, err := a.one(req.Version, "")
		if err != nil {
			return Plan{}, err
		}
		if v == nil {
			return Plan{}, notFoundf("Version '%s' is not registered", req.Version)
		}
		found, version, commit = v, v.Name, v.Commit
	} else {
		v, err := a.one("", commit)
		if err != nil {
			return Plan{}, err
		}
		switch {
		case v != nil && req.NameVersion != "":
			return Plan{}, ruleErrorf("Can't register '%s', since '%s' is registered already at this ref", req.NameVersion, v.Name)
		case v != nil:
			found, version = v, v.Name
		case req.SkipRegistration:
			// GTO files the assignment under a new version named by the
			// commit, which has no stages yet.
			version = commit
		default:
			reg, v, err := r.planRegister(RegisterRequest{Artifact: name, Commit: commit, Version: req.NameVersion, Simple: SimpleTrue})
			if err != nil {
				return Plan{}, err
			}
			plan.Create = append(plan.Create, reg)
			plan.Output = append(plan.Output, fmt.Sprintf("Created git tag '%s' that registers version", reg.Name))
			version = v
		}
	}
	if !req.Force && found != nil {
		for _, s := range found.activeStages() {
			if s.Stage == stage {
				return Plan{}, ruleErrorf("Version '%s' is already in stage '%s'. Use the '--force' flag to create a new Git tag nevertheless.", found.Name, stage)
			}
		}
	}
	tag, err := r.tagName(tagparse.Tag{Artifact: name, Action: tagparse.Assign, Stage: stage}, req.Simple.or(false))
	if err != nil {
		return Plan{}, err
	}
	msg := req.Message
	if msg == "" {
		msg = fmt.Sprintf("Assigning stage %s to artifact %s version %s", stage, name, version)
	}
	plan.Create = append(plan.Create, PlannedTag{Name: tag, Action: tagparse.Assign, Commit: commit, Message: msg})
	plan.Output = append(plan.Output, fmt.Sprintf("Created git tag '%s' that assigns stage to version '%s'", tag, version))
	return plan, nil
}

// PlanUnassign applies GTO's unassign (`gto deprecate NAME VERSION STAGE`).
func (r *Registry) PlanUnassign(req UnassignRequest) (Plan, error) {
	name, stage := req.Artifact, req.Stage
	if err := r.checkArgs(name, req.Version, cmp.Or(req.Commit, req.UnknownRef), &stage); err != nil {
		return Plan{}, err
	}
	if req.UnknownRef != "" {
		return Plan{}, errUnknownRevision(req.UnknownRef)
	}
	if r.err != nil {
		return Plan{}, r.err
	}
	a, err := r.find(name)
	if err != nil {
		return Plan{}, err
	}
	v, err := a.required(req.Version, req.Commit)
	if err != nil {
		return Plan{}, err
	}
	var vs *VersionStage
	for _, s := range v.Stages {
		if s.Stage == stage {
			vs = s
		}
	}
	if !req.Force && vs == nil {
		return Plan{}, ruleErrorf("Stage '%s' is not assigned to a version '%s'", stage, v.Name)
	}
	if req.Delete {
		var evs []*Event
		if vs != nil {
			evs = vs.events
		}
		return deletePlan(evs), nil
	}
	return r.onlyTag(tagparse.Tag{Artifact: name, Action: tagparse.Unassign, Stage: stage}, req.Simple.or(false), v.Commit,
		cmp.Or(req.Message, fmt.Sprintf("Unassigning stage '%s' to artifact '%s' version '%s'", stage, name, v.Name)),
		func(tag string) string {
			return fmt.Sprintf("Created git tag '%s' that unassigns stage from version '%s'", tag, v.Name)
		})
}

// PlanDeregister applies GTO's deregister (`gto deprecate NAME VERSION`).
func (r *Registry) PlanDeregister(req DeregisterRequest) (Plan, error) {
	name := req.Artifact
	if err := r.checkArgs(name, req.Version, cmp.Or(req.Commit, req.UnknownRef), nil); err != nil {
		return Plan{}, err
	}
	if req.UnknownRef != "" {
		return Plan{}, errUnknownRevision(req.UnknownRef)
	}
	if r.err != nil {
		return Plan{}, r.err
	}
	a := r.orNew(name)
	if !req.Force {
		v, err := a.required(req.Version, req.Commit)
		if err != nil {
			return Plan{}, err
		}
		if !v.Registered() {
			return Plan{}, ruleErrorf("The version at ref '%s' is not registered", v.Commit)
		}
		if !v.Active() {
			return Plan{}, ruleErrorf("The version at ref '%s' was deregistered already", v.Commit)
		}
	}
	v, err := a.one(req.Version, req.Commit)
	if err != nil {
		return Plan{}, err
	}
	version, commit := req.Version, req.Commit
	if v != nil {
		version, commit = v.Name, v.Commit
	}
	if version == "" || commit == "" {
		return Plan{}, ruleErrorf("Can't deregister a version that have no git tags")
	}
	if req.Delete {
		var evs []*Event
		if v != nil {
			evs = v.all
		}
		return deletePlan(evs), nil
	}
	return r.onlyTag(tagparse.Tag{Artifact: name, Action: tagparse.Deregister, Version: version}, req.Simple.or(true), commit,
		cmp.Or(req.Message, fmt.Sprintf("Deregistering artifact %s version %s", name, version)),
		func(tag string) string { return fmt.Sprintf("Created git tag '%s' that deregisters version", tag) })
}

// PlanDeprecate applies `gto deprecate NAME`.
func (r *Registry) PlanDeprecate(req DeprecateRequest) (Plan, error) {
	name := req.Artifact
	if err := checkName(name); err != nil {
		return Plan{}, err
	}
	simple := req.Simple.or(true)
	if req.Force {
		if req.Simple == SimpleTrue {
			return Plan{}, inputErrorf("Can't use 'force' with 'simple=True'")
		}
		simple = false
	} else {
		if r.err != nil {
			return Plan{}, r.err
		}
		a, err := r.find(name)
		if err != nil {
			return Plan{}, err
		}
		if !a.Active() {
			return Plan{}, ruleErrorf("Artifact was deprecated already")
		}
	}
	a, known := r.byName[name]
	if req.Delete {
		if r.err != nil {
			return Plan{}, r.err
		}
		if !known {
			return Plan{}, errArtifactNotFound(name)
		}
		return deletePlan(a.events), nil
	}
	// GTO's deprecate resolves --ref only when it creates the tag, and
	// says so with RefNotFound. A forced deprecation at a given ref is
	// the one write GTO carries out without reading the state.
	if req.UnknownRef != "" {
		return Plan{}, RefNotFound(req.UnknownRef)
	}
	commit := req.Commit
	if commit == "" && r.err != nil {
		return Plan{}, r.err
	}
	if commit == "" {
		commit = r.head
		if known && len(a.events) > 0 {
			commit = a.events[0].Commit
		}
	}
	if commit == "" {
		return Plan{}, RefNotFound("HEAD")
	}
	return r.onlyTag(tagparse.Tag{Artifact: name, Action: tagparse.Deprecate}, simple, commit,
		cmp.Or(req.Message, fmt.Sprintf("Deprecating artifact '%s'", name)),
		func(tag string) string { return fmt.Sprintf("Created git tag '%s' that deprecates artifact", tag) })
}

// onlyTag plans the one tag t at commit with message, and GTO's line that
// reports it, which output writes for the tag's name.
func (r *Registry) onlyTag(t tagparse.Tag, simple bool, commit, message string, output func(tag string) string) (Plan, error) {
	tag, err := r.tagName(t, simple)
	if err != nil {
		return Plan{}, err
	}
	return Plan{
		Create: []PlannedTag{{Name: tag, Action: t.Action, Commit: commit, Message: message}},
		Output: []string{output(tag)},
	}, nil
}

// deletePlan lists the distinct tags of events (given newest first), oldest
// first, as GTO deletes them.
func deletePlan(newest []*Event) Plan {
	var p Plan
	seen := make(map[string]bool)
	for i := len(newest) - 1; i >= 0; i-- {
		t := newest[i].Tag
		if t != "" && !seen[t] {
			seen[t] = true
			p.Delete = append(p.Delete, t)
			p.Output = append(p.Output, fmt.Sprintf("Deleted git tag '%s'", t))
		}
	}
	return p
}

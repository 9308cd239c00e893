package registry

import (
	"cmp"
	"slices"
	"strings"

	"github.com/hookd-dev/hookd/tagparse"
)

// Sort is how `gto show` orders versions when choosing what a stage holds.
type Sort uint8

// The orders of `--sort`. The zero value is GTO's default.
const (
	// SortTimestamp: the most recent assignment wins.
	SortTimestamp Sort = iota
	// SortSemVer: the greatest version wins.
	SortSemVer
)

// ParseSort reads a value of `--sort`: "timestamp" or "semver".
func ParseSort(s string) (Sort, error) {
	switch s {
	case "timestamp":
		return SortTimestamp, nil
	case "semver":
		return SortSemVer, nil
	}
	return 0, inputErrorf("invalid value '%s' for sort: want timestamp or semver", s)
}

// ShowOptions are the flags of `gto show`. Start from DefaultShowOptions:
// the zero value asks for no version per stage.
type ShowOptions struct {
	// RegisteredOnly (--ro) leaves out versions never registered.
	RegisteredOnly bool
	// Deprecated (-d) includes deprecated artifacts and inactive versions.
	Deprecated bool
	// AssignmentsPerVersion (--av) keeps the N oldest stages of each
	// version; -1 keeps all.
	AssignmentsPerVersion int
	// VersionsPerStage (--vs) keeps N versions in each stage; -1 keeps all.
	VersionsPerStage int
	// Sort (--sort) decides which versions a stage keeps.
	Sort Sort
}

// DefaultShowOptions are GTO's defaults: every stage of each version, one
// version per stage, most recent assignment first.
func DefaultShowOptions() ShowOptions {
	return ShowOptions{AssignmentsPerVersion: -1, VersionsPerStage: 1}
}

func (o ShowOptions) check() error {
	if o.AssignmentsPerVersion < -1 {
		return inputErrorf("'assignments_per_version' must be >= -1")
	}
	if o.VersionsPerStage < -1 {
		return inputErrorf("'versions_per_stage' must be >=-1")
	}
	return nil
}

// Artifacts returns every artifact in GTO's order.
func (r *Registry) Artifacts() []*Artifact { return r.artifacts }

// Artifact returns the named artifact ("dir:name" for a monorepo one).
func (r *Registry) Artifact(name string) (*Artifact, bool) {
	a, ok := r.byName[name]
	return a, ok
}

func (r *Registry) find(name string) (*Artifact, error) {
	if a, ok := r.byName[name]; ok {
		return a, nil
	}
	return nil, errArtifactNotFound(name)
}

// versions is GTO's get_versions: the artifact's versions, filtered and
// ordered.
func (a *Artifact) versions(activeOnly, nonExplicit, discovered bool, sort Sort) []*Version {
	var out []*Version
	for _, v := range a.Versions {
		if !activeOnly || v.Active() && (v.Registered() && !v.Discovered() ||
			discovered && v.Discovered() || nonExplicit && !v.Registered()) {
			out = append(out, v)
		}
	}
	return sortVersions(out, sort)
}

// sortVersions orders versions newest first: by SemVer precedence, with
// versions named by a commit after them in reverse alphabetical order; or by
// creation time. Ties keep GTO's order (reversed input order).
func sortVersions(vs []*Version, sort Sort) []*Version {
	desc := func(s []*Version, cmp func(a, b *Version) int) []*Version {
		slices.SortStableFunc(s, cmp)
		slices.Reverse(s)
		return s
	}
	if sort == SortTimestamp {
		return desc(vs, func(a, b *Version) int { return a.CreatedAt().Compare(b.CreatedAt()) })
	}
	var semver, other []*Version
	for _, v := range vs {
		if tagparse.IsVersion(v.Name) {
			semver = append(semver, v)
		} else {
			other = append(other, v)
		}
	}
	desc(semver, func(a, b *Version) int { return tagparse.CompareVersions(a.Name, b.Name) })
	desc(other, func(a, b *Version) int { return strings.Compare(a.Name, b.Name) })
	return append(semver, other...)
}

// latest is GTO's get_latest_version.
func (a *Artifact) latest(registeredOnly bool) *Version {
	if vs := a.versions(true, !registeredOnly, false, SortSemVer); len(vs) > 0 {
		return vs[0]
	}
	return nil
}

// stages is GTO's Artifact.get_vstages: for each stage, in the order stages
// are met, the version stages kept by the options.
func (a *Artifact) stages(registeredOnly bool, perVersion, perStage int, sort Sort) OrderedMap[[]*VersionStage] {
	var assigned []*VersionStage
	for _, v := range a.versions(true, !registeredOnly, false, sort) {
		vs := v.activeStages()
		if perVersion > -1 && perVersion < len(vs) {
			vs = vs[:perVersion]
		}
		assigned = append(assigned, vs...)
	}
	if sort == SortTimestamp {
		slices.SortStableFunc(assigned, func(x, y *VersionStage) int { return x.CreatedAt().Compare(y.CreatedAt()) })
		slices.Reverse(assigned)
	}
	var out OrderedMap[[]*VersionStage]
	at := make(map[string]int)
	for _, s := range assigned {
		i, ok := at[s.Stage]
		if !ok {
			i = len(out)
			at[s.Stage] = i
			out = append(out, KeyValue[[]*VersionStage]{Key: s.Stage})
		}
		kept := out[i].Value
		if perStage > -1 && len(kept) >= perStage {
			continue
		}
		if !slices.ContainsFunc(kept, func(k *VersionStage) bool { return k.Version == s.Version }) {
			out[i].Value = append(kept, s)
		}
	}
	return out
}

// Show is `gto show`: the greatest registered version of each artifact and
// what each stage holds. Deprecated artifacts are left out unless
// opts.Deprecated.
func (r *Registry) Show(opts ShowOptions) (Overview, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	stageNames := r.Stages(false, false)
	out := Overview{}
	for _, a := range r.artifacts {
		active := a.Active()
		if !active && !opts.Deprecated {
			continue
		}
		s := ArtifactSummary{Registered: a.Registered(), Active: active, Stage: OrderedMap[*string]{}}
		if v := a.latest(true); v != nil {
			s.Version = &v.Name
		}
		held := a.stages(opts.RegisteredOnly, opts.AssignmentsPerVersion, opts.VersionsPerStage, opts.Sort)
		for _, name := range stageNames {
			var cell *string
			if vs, _ := held.Get(name); len(vs) > 0 {
				names := make([]string, len(vs))
				for i, v := range vs {
					names[i] = v.Version
				}
				joined := strings.Join(names, ", ")
				cell = &joined
			}
			s.Stage = append(s.Stage, KeyValue[*string]{name, cell})
		}
		out = append(out, KeyValue[ArtifactSummary]{a.Name, s})
	}
	return out, nil
}

// ShowArtifact is `gto show NAME`: the artifact's versions, greatest first.
// name may be a shortcut: NAME@latest (or @greatest), NAME@vX.Y.Z or
// NAME#stage. commit, when not "", keeps the versions at that commit (the
// caller resolves `--ref`); it cannot be combined with a shortcut.
func (r *Registry) ShowArtifact(name, commit string, opts ShowOptions) ([]VersionState, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	sc, isShortcut, err := tagparse.ParseShortcut(name)
	if err != nil {
		// GTO treats what its shortcut pattern rejects as a plain name.
		sc, isShortcut = tagparse.Shortcut{Artifact: name}, false
	}
	if isShortcut && commit != "" {
		return nil, inputErrorf("Cannot specify both shortcut and ref")
	}
	a, err := r.find(sc.Artifact)
	if err != nil {
		return nil, err
	}
	held := a.stages(opts.RegisteredOnly, opts.AssignmentsPerVersion, opts.VersionsPerStage, opts.Sort)
	out := []VersionState{}
	if !a.Active() && !opts.Deprecated {
		return out, nil
	}
	for _, v := range a.versions(!opts.Deprecated, !opts.RegisteredOnly, true, SortSemVer) {
		stages := []StageState{}
		for _, kv := range held {
			for _, s := range kv.Value {
				if s.Version == v.Name {
					stages = append(stages, s.state())
				}
			}
		}
		out = append(out, v.state(stages))
	}
	switch {
	case commit != "":
		out = slices.DeleteFunc(out, func(v VersionState) bool { return v.Commit != commit })
	case sc.Latest:
		out = out[:min(1, len(out))]
	case sc.Version != "":
		out = slices.DeleteFunc(out, func(v VersionState) bool { return v.Version != sc.Version })
	case sc.Stage != "":
		var inStage []VersionState
		for _, v := range out {
			for _, s := range v.Stages {
				if s.Stage == sc.Stage {
					inStage = append(inStage, v)
				}
			}
		}
		out = append([]VersionState{}, inStage...)
	}
	return out, nil
}

// History is `gto history [NAME]`: every event but enrichments, newest
// first (ascending: oldest first), events of the same second ordered by
// priority. An artifact that does not exist has no history.
func (r *Registry) History(artifact string, ascending bool) []HistoryEntry {
	var evs []*Event
	for _, a := range r.artifacts {
		for _, e := range a.events {
			if e.Kind != Enrichment {
				evs = append(evs, e)
			}
		}
	}
	slices.SortStableFunc(evs, func(a, b *Event) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return a.Kind.Priority() - b.Kind.Priority()
	})
	if !ascending {
		slices.Reverse(evs)
	}
	out := []HistoryEntry{}
	for _, e := range evs {
		if artifact != "" && e.Artifact != artifact {
			continue
		}
		h := HistoryEntry{
			Timestamp:   FormatTime(e.Time),
			Artifact:    e.Artifact,
			Event:       e.Kind.String(),
			Priority:    e.Kind.Priority(),
			Commit:      e.Commit,
			Author:      e.Author.Name,
			AuthorEmail: e.Author.Email,
			Message:     e.Message,
			Ref:         e.Ref(),
		}
		if e.Kind != Deprecation {
			h.Version = &e.Version
		}
		if e.Stage != "" {
			h.Stage = &e.Stage
		}
		out = append(out, h)
	}
	return out
}

// Stages is `gto stages`: with allowed, the stages `.gto` allows (nil when
// it does not restrict them); with used, the stages some active version is
// in, sorted; with neither, the allowed ones if `.gto` lists them, else the
// used ones.
func (r *Registry) Stages(allowed, used bool) []string {
	if allowed || !used && r.config.Stages != nil {
		return r.config.Stages
	}
	set := make(map[string]bool)
	for _, a := range r.artifacts {
		for _, kv := range a.stages(false, -1, 1, SortSemVer) {
			set[kv.Key] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// CheckRef is `gto check-ref REF`: the events the tag REF (a tag name,
// optionally "refs/tags/"-prefixed) created. A tag that does not exist, is
// lightweight or is not a GTO tag created none; nor does a ref whose tag
// object carries another name (GTO looks for events named as the ref).
func (r *Registry) CheckRef(ref string) []EventState {
	name := strings.TrimPrefix(ref, "refs/tags/")
	out := []EventState{}
	if !r.HasGTOTag(name) {
		return out
	}
	p, _ := tagparse.Parse(name)
	a, ok := r.byName[p.Artifact]
	if !ok {
		return out
	}
	for _, e := range a.events {
		if e.Ref() == name {
			out = append(out, eventState(e, false, true))
		}
	}
	return out
}

// Latest is `gto latest NAME`: the greatest active version, registered
// ones only unless includeUnregistered. It is nil when there is none.
func (r *Registry) Latest(name string, includeUnregistered bool) (*Version, error) {
	a, err := r.find(name)
	if err != nil {
		return nil, err
	}
	return a.latest(!includeUnregistered), nil
}

// Which is `gto which NAME STAGE`: the versions the stage holds, as `gto
// show` would list them.
func (r *Registry) Which(name, stage string, opts ShowOptions) ([]*VersionStage, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	a, err := r.find(name)
	if err != nil {
		return nil, err
	}
	vs, _ := a.stages(opts.RegisteredOnly, opts.AssignmentsPerVersion, opts.VersionsPerStage, opts.Sort).Get(stage)
	return vs, nil
}

// StageVersions is what `gto show NAME` lists for each stage: every stage
// an active version of the artifact is in, with the versions it holds, as
// Which gives them one stage at a time.
func (r *Registry) StageVersions(name string, opts ShowOptions) (OrderedMap[[]*VersionStage], error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	a, err := r.find(name)
	if err != nil {
		return nil, err
	}
	return a.stages(opts.RegisteredOnly, opts.AssignmentsPerVersion, opts.VersionsPerStage, opts.Sort), nil
}

// NextCounter is the "#N" GTO gives the next tag of the artifact it writes
// in counter notation, in digits: one more than the highest counter among
// all the artifact's tags, whatever their action, lightweight ones included
// ("#007" counts as 7, so the next is "8"), exact at any size.
func (r *Registry) NextCounter(artifact string) string {
	var highest string
	if info := r.names[artifact]; info != nil {
		highest = info.counter
	}
	return tagparse.NextCounter(highest)
}

// HasGTOTag reports whether REF (optionally "refs/tags/"-prefixed) names
// a tag, annotated or not, whose name is a GTO tag: the only refs for which
// `gto check-ref` reads the registry's state.
func (r *Registry) HasGTOTag(ref string) bool {
	return r.tags()[strings.TrimPrefix(ref, "refs/tags/")]
}

// HasTag reports whether a tag (GTO or not, annotated or not) of that name
// exists.
func (r *Registry) HasTag(name string) bool {
	_, ok := r.tags()[name]
	return ok
}

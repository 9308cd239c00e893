// Package registry gives a set of git tags GTO's meaning: which artifacts
// exist, which versions are registered, which versions are in which stage,
// and what happened when. It does no I/O: callers hand it tags, commits and
// file contents, and it answers exactly as GTO (the Python `gto` tool) would,
// down to the bytes `gto show --json` prints ([WriteJSON]).
//
// # Building the state
//
// [New] takes every tag of a repository (lightweight and non-GTO tags are
// ignored) plus [Options]: the `.gto` [Config], the HEAD commit and its
// `artifacts.yaml` [Index], and a lookup of commit data. GTO enriches every
// version with the commit behind it, and those enrichments change answers
// (an artifact deprecated before the HEAD commit that annotates it is active
// again), so give New the commits named by [CommitsToLookUp]:
//
//	reg := registry.New(tags, registry.Options{
//		Config:  cfg,          // registry.ParseConfig(dotGTO)
//		Head:    headSHA,
//		Index:   index,        // registry.ParseIndex(artifactsYAML)
//		Commits: commits.Get,  // e.g. a registry.CommitMap
//	})
//
// GTO also attaches each version's artifacts.yaml annotation (read at the
// version's commit) to its enrichment; give [Options.IndexAt] to have them
// too, or only the HEAD index is used.
//
// A tag means what the name inside its tag object says ([Tag.ObjectName]);
// its ref's name decides only whether GTO reads it. Some registries GTO
// refuses to read at all (a malformed artifacts.yaml, two versions
// registered at the commit an assignment points to): New builds them
// anyway, for callers that must go on, and [Registry.Err] says why GTO
// refuses them, in GTO's words.
//
// # Reading it
//
// Each query returns a value whose encoding/json encoding is GTO's JSON:
//
//   - [Registry.Show]: `gto show` (an [Overview], ordered like GTO's dict);
//   - [Registry.ShowArtifact]: `gto show NAME`, NAME@latest, NAME@vX, NAME#stage;
//   - [Registry.History]: `gto history [NAME]`;
//   - [Registry.Stages]: `gto stages`;
//   - [Registry.CheckRef]: `gto check-ref TAG`;
//   - [Registry.Latest] and [Registry.Which]: `gto latest` and `gto which`.
//
// # Changing it
//
// Creating tags is planned here and carried out by a source: the Plan
// methods ([Registry.PlanRegister], [Registry.PlanAssign],
// [Registry.PlanUnassign], [Registry.PlanDeregister],
// [Registry.PlanDeprecate]) apply GTO's rules to a request and return the
// tags to create (an assignment may first register a version) or to delete,
// with GTO's success messages. A refusal is a *[RuleError] (the request
// conflicts with the registry: HTTP 409), an *[InputError] (the request is
// malformed: 422) or a *[NotFoundError] (it names something that does not
// exist: 404); each carries GTO's own message.
package registry

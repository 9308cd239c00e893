package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/internal/gtotable"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

func (a *app) addReadCommands(root *cobra.Command) {
	root.AddCommand(a.checkRefCmd(), a.showCmd(), a.historyCmd(), a.stagesCmd(), a.doctorCmd())
}

// reader answers the read commands: from the repository's tags
// (localReader) or from a hookd server (remoteReader). The commands print
// its answers the same way whichever it is.
type reader interface {
	show(ctx context.Context, opts registry.ShowOptions) (answer[registry.Overview], error)
	// showArtifact is show NAME; ref, when not "", keeps the versions at
	// that git reference.
	showArtifact(ctx context.Context, name, ref string, opts registry.ShowOptions) (answer[[]registry.VersionState], error)
	// registered reports whether the artifact has an event other than an
	// annotation (an artifact it does not know counts as registered).
	registered(ctx context.Context, artifact string) (bool, error)
	history(ctx context.Context, name string, ascending bool) (answer[[]registry.HistoryEntry], error)
	stages(ctx context.Context, allowed, used bool) (answer[[]string], error)
	checkRef(ctx context.Context, tag string) (answer[[]registry.EventState], error)
}

// answer is what a read returns: the data tables are drawn from and, from
// a server, the JSON it was read from.
type answer[T any] struct {
	data T
	raw  []byte
}

// first is the first event of a check-ref answer, with its part of the
// server's JSON.
func (an answer[T]) first() (answer[registry.EventState], error) {
	events, ok := any(an.data).([]registry.EventState)
	if !ok || len(events) == 0 {
		return answer[registry.EventState]{}, errors.New("no event")
	}
	one := answer[registry.EventState]{data: events[0]}
	if an.raw != nil {
		var items []json.RawMessage
		if err := json.Unmarshal(an.raw, &items); err != nil || len(items) == 0 {
			return one, fmt.Errorf("the server's check-ref answer is not a list of events: %v", err)
		}
		one.raw = items[0]
	}
	return one, nil
}

// writeJSON prints the answer as gto's --json does. A server's JSON is
// printed as received, re-indented: it holds what the data's types would
// not round-trip (annotations' custom values, in their order).
func (an answer[T]) writeJSON(w io.Writer) error {
	if an.raw != nil {
		return writeRawJSON(w, an.raw)
	}
	return writeJSON(w, an.data)
}

// reader returns what answers cmd's reads: the server given with --server,
// or the repository repo names.
func (a *app) reader(cmd *cobra.Command, repo string) (reader, error) {
	s, err := a.server(cmd, repo)
	if err != nil || s != nil {
		return remoteReader{s}, err
	}
	return &localReader{spec: repo}, nil
}

// localReader reads the registry from the repository's tags, once.
type localReader struct {
	spec string
	src  source.Source
	reg  *registry.Registry
	// refusal is why GTO refuses to read the registry's state: the
	// answers that need it fail with it, as gto's do.
	refusal error
}

// load returns the registry, for the answers that need its state.
func (l *localReader) load(ctx context.Context) (*registry.Registry, error) {
	reg, err := l.read(ctx)
	if err == nil {
		err = l.refusal
	}
	return reg, err
}

// read returns the registry, even one whose state GTO refuses to read.
func (l *localReader) read(ctx context.Context) (*registry.Registry, error) {
	if l.reg == nil {
		src, reg, err := loadRegistry(ctx, l.spec)
		if err != nil && !refused(reg, err) {
			return nil, err
		}
		l.src, l.reg, l.refusal = src, reg, err
	}
	return l.reg, nil
}

func (l *localReader) show(ctx context.Context, opts registry.ShowOptions) (answer[registry.Overview], error) {
	reg, err := l.load(ctx)
	if err != nil {
		return answer[registry.Overview]{}, err
	}
	o, err := reg.Show(opts)
	return answer[registry.Overview]{data: o}, err
}

func (l *localReader) showArtifact(ctx context.Context, name, ref string, opts registry.ShowOptions) (answer[[]registry.VersionState], error) {
	reg, err := l.load(ctx)
	if err != nil {
		return answer[[]registry.VersionState]{}, err
	}
	var commit string
	if ref != "" {
		if commit, err = resolveRef(ctx, l.src, ref); err != nil {
			return answer[[]registry.VersionState]{}, err
		}
	}
	vs, err := reg.ShowArtifact(name, commit, opts)
	return answer[[]registry.VersionState]{data: vs}, err
}

func (l *localReader) registered(ctx context.Context, artifact string) (bool, error) {
	reg, err := l.load(ctx)
	if err != nil {
		return false, err
	}
	a, ok := reg.Artifact(artifact)
	return !ok || a.Registered(), nil
}

func (l *localReader) history(ctx context.Context, name string, ascending bool) (answer[[]registry.HistoryEntry], error) {
	reg, err := l.load(ctx)
	if err != nil {
		return answer[[]registry.HistoryEntry]{}, err
	}
	return answer[[]registry.HistoryEntry]{data: reg.History(name, ascending)}, nil
}

func (l *localReader) stages(ctx context.Context, allowed, used bool) (answer[[]string], error) {
	reg, err := l.read(ctx)
	if err != nil {
		return answer[[]string]{}, err
	}
	// The stages .gto lists need no state; those in use do.
	if used || !allowed && reg.Stages(true, false) == nil {
		if _, err := l.load(ctx); err != nil {
			return answer[[]string]{}, err
		}
	}
	return answer[[]string]{data: reg.Stages(allowed, used)}, nil
}

func (l *localReader) checkRef(ctx context.Context, tag string) (answer[[]registry.EventState], error) {
	reg, err := l.read(ctx)
	if err != nil {
		return answer[[]registry.EventState]{}, err
	}
	// gto reads the state only for a tag that exists and has a GTO name.
	if reg.HasGTOTag(tag) {
		if _, err := l.load(ctx); err != nil {
			return answer[[]registry.EventState]{}, err
		}
	}
	return answer[[]registry.EventState]{data: reg.CheckRef(tag)}, nil
}

func (a *app) checkRefCmd() *cobra.Command {
	var repo string
	var asJSON, name, version, event, stage, githubOutput bool
	cmd := &cobra.Command{
		Use:   "check-ref TAG",
		Short: "Find out the artifact version registered/assigned with a tag",
		Long: `Print the event a tag created: a registration, deregistration, assignment,
unassignment or deprecation; --json prints it as one JSON object, exactly as
"gto check-ref --json" does. A tag that does not exist, is lightweight or is
not a GTO tag created none, and nothing is printed. A tag that created more
than one event (two tag objects of one name) is refused, as gto refuses it.

--github-output writes what iterative/gto-action outputs, for the tag a
workflow runs for: event, name, version, stage (for an assignment), and
the artifact's type, path and description from the artifacts index; to
$GITHUB_OUTPUT in GitHub Actions, else to stdout.`,
		Example: `  hookd check-ref nn@v1.0.0
  hookd check-ref 'nn#prod#3' --json
  hookd check-ref refs/tags/nn@v1.0.0 --version
  hookd check-ref "$GITHUB_REF" --github-output`,
		GroupID: groupRead,
		Args:    cobra.ExactArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if count(asJSON, name, version, event, stage, githubOutput) > 1 {
				return gtoWords("Only one output formatting flags is allowed")
			}
			rd, err := a.reader(cmd, repo)
			if err != nil {
				return err
			}
			events, err := rd.checkRef(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if githubOutput {
				local, ok := rd.(*localReader)
				if !ok {
					return usagef("--github-output reads the artifacts index of a checkout: run it without --server")
				}
				return a.writeGitHubOutput(cmd.Context(), local, events.data)
			}
			switch {
			case len(events.data) > 1:
				return gtoWords("Checking refs that created 1+ events is not supported")
			case len(events.data) == 0:
				return nil
			case asJSON:
				one, err := events.first()
				if err != nil {
					return err
				}
				return one.writeJSON(a.stdout)
			}
			for _, e := range events.data {
				switch {
				case name:
					fmt.Fprintln(a.stdout, e.Artifact)
				case version:
					if e.Version != "" {
						fmt.Fprintln(a.stdout, e.Version)
					}
				case stage:
					if e.Stage != "" {
						fmt.Fprintln(a.stdout, e.Stage)
					}
				case event:
					fmt.Fprintln(a.stdout, e.Event)
				default:
					fmt.Fprintln(a.stdout, "✅ "+describeEvent(e))
				}
			}
			return nil
		}),
	}
	a.repoFlag(cmd, &repo)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the event as a JSON object")
	f.BoolVar(&name, "name", false, "print the artifact name")
	f.BoolVar(&version, "version", false, "print the version")
	f.BoolVar(&event, "event", false, "print the event")
	f.BoolVar(&stage, "stage", false, "print the stage")
	f.BoolVar(&githubOutput, "github-output", false, "write gto-action's outputs (to $GITHUB_OUTPUT in GitHub Actions)")
	return cmd
}

// count is how many of the flags are set. gto refuses more than one output
// format with exit status 1, after its command has started, so hookd checks
// them in the command too rather than as a usage error.
func count(flags ...bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}

// describeEvent says what a check-ref event did.
func describeEvent(e registry.EventState) string {
	switch e.Event {
	case "registration":
		return fmt.Sprintf("Version %q of artifact %q was registered", e.Version, e.Artifact)
	case "deregistration":
		return fmt.Sprintf("Version %q of artifact %q was deregistered", e.Version, e.Artifact)
	case "assignment":
		return fmt.Sprintf("Stage %q was assigned to version %q of artifact %q", e.Stage, e.Version, e.Artifact)
	case "unassignment":
		return fmt.Sprintf("Stage %q was unassigned from version %q of artifact %q", e.Stage, e.Version, e.Artifact)
	case "deprecation":
		return fmt.Sprintf("Artifact %q was deprecated", e.Artifact)
	}
	return fmt.Sprintf("%s of artifact %q", e.Event, e.Artifact)
}

func (a *app) showCmd() *cobra.Command {
	var repo, sort, ref string
	var asJSON, plain bool
	opts := registry.DefaultShowOptions()
	cmd := &cobra.Command{
		Use:   "show [NAME | NAME@latest | NAME@vX.Y.Z | NAME#stage]",
		Short: "Show the registry state, an artifact's versions, or what a stage holds",
		Long: `Without NAME, show each artifact's latest version and the version in each
stage. With NAME, show the artifact's versions, greatest first; NAME@latest
keeps the greatest, NAME@vX.Y.Z that version, NAME#stage the versions in the
stage. --json prints exactly what "gto show --json" prints.`,
		Example: `  hookd show
  hookd show nn --json
  hookd show nn#prod
  hookd show --av -1 --vs -1 --json`,
		GroupID: groupRead,
		Args:    cobra.MaximumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if asJSON && plain {
				return gtoWords("Only one output format allowed")
			}
			switch sort {
			case "timestamp":
				opts.Sort = registry.SortTimestamp
			case "semver":
				opts.Sort = registry.SortSemVer
			default:
				return usagef("invalid value %q for --sort: want timestamp or semver", sort)
			}
			if ref != "" && len(args) == 0 {
				return usagef("--ref needs an artifact NAME")
			}
			ctx := cmd.Context()
			rd, err := a.reader(cmd, repo)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				overview, err := rd.show(ctx, opts)
				if err != nil {
					return err
				}
				if asJSON {
					return overview.writeJSON(a.stdout)
				}
				gtotable.OverviewOf(overview.data).Write(a.stdout, plain)
				return nil
			}
			versions, err := rd.showArtifact(ctx, args[0], ref, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return versions.writeJSON(a.stdout)
			}
			// The versions are all of one artifact.
			registered := true
			if len(versions.data) > 0 {
				if registered, err = rd.registered(ctx, versions.data[0].Artifact); err != nil {
					return err
				}
			}
			gtotable.VersionsOf(versions.data, registered).Write(a.stdout, plain)
			return nil
		}),
	}
	a.repoFlag(cmd, &repo)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print output in JSON, as gto does")
	f.BoolVar(&plain, "plain", false, "print the table in a grep-able format")
	f.BoolVar(&opts.RegisteredOnly, "ro", false, "show only registered versions")
	f.BoolVar(&opts.RegisteredOnly, "registered-only", false, "show only registered versions")
	f.BoolVarP(&opts.Deprecated, "deprecated", "d", false, "include deprecated artifacts and versions")
	f.IntVar(&opts.AssignmentsPerVersion, "av", opts.AssignmentsPerVersion, "show N last stages for each version; -1 for all")
	f.IntVar(&opts.AssignmentsPerVersion, "assignments-per-version", opts.AssignmentsPerVersion, "same as --av")
	f.IntVar(&opts.VersionsPerStage, "vs", opts.VersionsPerStage, "show N last versions for each stage; -1 for all")
	f.IntVar(&opts.VersionsPerStage, "versions-per-stage", opts.VersionsPerStage, "same as --vs")
	f.StringVar(&sort, "sort", "timestamp", "order assignments by timestamp or semver")
	f.StringVar(&ref, "ref", "", "keep the versions at this git reference")
	return cmd
}

func (a *app) historyCmd() *cobra.Command {
	var repo string
	var asJSON, plain, ascending bool
	cmd := &cobra.Command{
		Use:   "history [NAME]",
		Short: "Show a journal of registry operations",
		Long: `List every registration, deregistration, assignment, unassignment and
deprecation, newest first (oldest first with --ascending), of one artifact
or of all. --json prints exactly what "gto history --json" prints.`,
		Example: `  hookd history
  hookd history nn --json`,
		GroupID: groupRead,
		Args:    cobra.MaximumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if asJSON && plain {
				return gtoWords("Only one output format allowed")
			}
			rd, err := a.reader(cmd, repo)
			if err != nil {
				return err
			}
			entries, err := rd.history(cmd.Context(), optionalArg(args, 0), ascending)
			if err != nil {
				return err
			}
			if asJSON {
				return entries.writeJSON(a.stdout)
			}
			gtotable.History(entries.data).Write(a.stdout, plain)
			return nil
		}),
	}
	a.repoFlag(cmd, &repo)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print output in JSON, as gto does")
	f.BoolVar(&plain, "plain", false, "print the table in a grep-able format")
	f.BoolVar(&ascending, "ascending", false, "show oldest first")
	f.BoolVar(&ascending, "asc", false, "same as --ascending")
	return cmd
}

func (a *app) stagesCmd() *cobra.Command {
	var repo string
	var asJSON, allowed, used bool
	cmd := &cobra.Command{
		Use:   "stages",
		Short: "Print the stages of the registry",
		Long: `Print the stages .gto allows, or when it does not restrict them, the stages
some version is in.`,
		Example: `  hookd stages
  hookd stages --used --json`,
		GroupID: groupRead,
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if allowed && used {
				return gtoWords(`Either "allowed" or "used" can be set`)
			}
			rd, err := a.reader(cmd, repo)
			if err != nil {
				return err
			}
			stages, err := rd.stages(cmd.Context(), allowed, used)
			if err != nil {
				return err
			}
			if asJSON {
				return stages.writeJSON(a.stdout)
			}
			for _, s := range stages.data {
				fmt.Fprintln(a.stdout, s)
			}
			return nil
		}),
	}
	a.repoFlag(cmd, &repo)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print output in JSON, as gto does")
	f.BoolVar(&allowed, "allowed", false, "show the stages .gto allows")
	f.BoolVar(&used, "used", false, "show the stages in use")
	return cmd
}

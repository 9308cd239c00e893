package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/tagparse"
)

func (a *app) doctorCmd() *cobra.Command {
	var repo string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the registry for what GTO refuses, ignores or reads otherwise than it looks",
		Long: `Check the repository the way "gto doctor" does, and more. Each problem is one
line:

  - .gto or artifacts.yaml that GTO refuses, and anything else that makes GTO
    refuse the whole registry (two versions registered at the commit an
    assignment points to, a tag object whose name is not a GTO tag);
  - tags GTO crashes on (a name@created ref, a tagger line it cannot split,
    text that is not UTF-8, a tag of a tree) and tags whose ref name is not
    the name in their tag object (GTO reads the object's);
  - lightweight tags with GTO names, which GTO ignores;
  - versions of one artifact registered at one commit;
  - a .gto in the working tree that says something else than HEAD's (GTO
    reads the working tree's);
  - stages used by tags that .gto does not list.

Prints "No issues found" and exits 0 when there is none, else exits 1.`,
		Example: `  hookd doctor
  hookd doctor -r path/to/registry`,
		GroupID: groupRead,
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			problems, err := diagnose(cmd.Context(), repo)
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(a.stdout, "❌ "+p)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d problem(s) found", len(problems))
			}
			fmt.Fprintln(a.stdout, "✅ No issues found")
			return nil
		}),
	}
	cmd.Flags().StringVarP(&repo, "repo", "r", ".", `repository: a local path, "github:owner/name" or a GitHub URL`)
	return cmd
}

// diagnose lists what is wrong with the repository, one line each.
func diagnose(ctx context.Context, spec string) ([]string, error) {
	src, reg, err := loadRegistry(ctx, spec)
	var se *registry.StateError
	switch {
	case errors.As(err, &se) && reg == nil:
		return []string{"GTO refuses the repository: " + se.Msg}, nil
	case err != nil && !refused(reg, err):
		return nil, err
	}
	var out []string
	if err != nil {
		out = append(out, "GTO refuses the registry: "+err.Error())
	}
	if p, err := configDrift(ctx, src); err != nil {
		return nil, err
	} else if p != "" {
		out = append(out, p)
	}
	tags, err := src.Tags(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(tags, func(a, b registry.Tag) int { return strings.Compare(a.Name, b.Name) })
	out = append(out, tagProblems(tags)...)
	out = append(out, sharedCommits(reg)...)
	if p := unlistedStages(reg); p != "" {
		out = append(out, p)
	}
	return out, nil
}

// configDrift compares the .gto GTO reads (a working tree's) with HEAD's.
func configDrift(ctx context.Context, src source.Source) (string, error) {
	if _, ok := src.(source.ConfigReader); !ok {
		return "", nil // GitHub: the default branch's is the one read
	}
	here, err := readConfig(source.ConfigFile(ctx, src))
	if err != nil {
		return "", err
	}
	at, err := readConfig(src.ReadFile(ctx, registry.ConfigFile, "HEAD"))
	if err != nil {
		return "", err
	}
	var diffs []string
	if here.exists != at.exists {
		diffs = append(diffs, fmt.Sprintf("%s here, %s at HEAD", cmp.Or(here.exists, "one"), cmp.Or(at.exists, "one")))
	} else if here.exists == "" {
		for _, f := range [][3]string{{"stages", here.stages, at.stages}, {"types", here.types, at.types}, {"index", here.index, at.index}} {
			if f[1] != f[2] {
				diffs = append(diffs, fmt.Sprintf("%s %s here, %s at HEAD", f[0], f[1], f[2]))
			}
		}
	}
	if len(diffs) == 0 {
		return "", nil
	}
	return ".gto in the working tree is not HEAD's, and GTO reads the working tree's: " + strings.Join(diffs, "; "), nil
}

// configSummary is what of a .gto GTO acts on, in words; exists is "" for
// a .gto GTO reads, else why there is none to read.
type configSummary struct{ exists, stages, types, index string }

func readConfig(data []byte, err error) (configSummary, error) {
	switch {
	case errors.Is(err, source.ErrNotFound):
		return configSummary{exists: "none"}, nil
	case err != nil:
		return configSummary{}, err
	}
	c, err := registry.ParseConfig(data)
	if err != nil {
		return configSummary{exists: "one GTO refuses"}, nil
	}
	list := func(names []string) string {
		if names == nil {
			return "any"
		}
		return "[" + strings.Join(names, ", ") + "]"
	}
	return configSummary{stages: list(c.Stages), types: list(c.Types), index: c.IndexFile()}, nil
}

// tagProblems lists the tags GTO crashes on, reads otherwise than their
// ref's name says, or ignores although they have GTO names.
func tagProblems(tags []registry.Tag) []string {
	var out []string
	carriers := map[string][]string{} // object name -> refs to distinct objects
	objects := map[string]bool{}
	for _, t := range tags {
		ref, err := tagparse.Parse(t.Name)
		if err != nil {
			continue // GTO never looks at it
		}
		if !t.Annotated {
			out = append(out, fmt.Sprintf("tag %s is lightweight: GTO ignores it (GTO's tags are annotated: git tag -a)", t.Name))
			continue
		}
		if ref.Action == tagparse.Create {
			out = append(out, fmt.Sprintf("tag %s: GTO crashes on a tag named name@created; hookd ignores it", t.Name))
			continue
		}
		if t.Flaw != "" {
			out = append(out, fmt.Sprintf("tag %s: GTO crashes reading it: %s", t.Name, t.Flaw))
		}
		name := cmp.Or(t.ObjectName, t.Name)
		if !objects[t.Object] {
			objects[t.Object] = true
			carriers[name] = append(carriers[name], t.Name)
		}
		meaning := ref
		if name != t.Name {
			if meaning, err = tagparse.Parse(name); err != nil {
				out = append(out, fmt.Sprintf("tag %s: its tag object is named %s, not a GTO tag: GTO refuses the registry", t.Name, name))
				continue
			}
			if meaning.Action == tagparse.Create {
				out = append(out, fmt.Sprintf("tag %s: its tag object is named %s: GTO crashes on it; hookd ignores it", t.Name, name))
				continue
			}
			out = append(out, fmt.Sprintf("tag %s: its tag object is named %s, which GTO reads it as (check-ref %s finds no event)", t.Name, name, t.Name))
		}
		if t.Commit == "" && meaning.Action != tagparse.Deprecate {
			out = append(out, fmt.Sprintf("tag %s points to no commit: GTO crashes reading the version", t.Name))
		}
	}
	names := make([]string, 0, len(carriers))
	for name, refs := range carriers {
		// check-ref NAME looks for events of that name only when NAME is
		// a ref itself.
		if len(refs) > 1 && slices.Contains(refs, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		out = append(out, fmt.Sprintf("tag name %s is in %d tag objects (%s): gto check-ref %s finds more than one event and refuses it",
			name, len(carriers[name]), strings.Join(carriers[name], ", "), name))
	}
	return out
}

// sharedCommits lists the commits where an artifact has more than one
// registered (or deregistered) version.
func sharedCommits(reg *registry.Registry) []string {
	var out []string
	for _, a := range reg.Artifacts() {
		at := map[string][]string{}
		var commits []string
		for _, v := range a.Versions {
			if v.Discovered() {
				continue
			}
			if at[v.Commit] == nil {
				commits = append(commits, v.Commit)
			}
			at[v.Commit] = append(at[v.Commit], v.Name)
		}
		for _, c := range commits {
			if vs := at[c]; len(vs) > 1 {
				out = append(out, fmt.Sprintf("artifact %s has versions %s at commit %s: GTO refuses the registry once an assignment points there",
					a.Name, strings.Join(vs, ", "), c))
			}
		}
	}
	return out
}

// unlistedStages names the stages tags use that .gto does not allow.
func unlistedStages(reg *registry.Registry) string {
	allowed := reg.Stages(true, false)
	if allowed == nil {
		return ""
	}
	var unlisted []string
	for _, h := range reg.History("", true) {
		if h.Stage != nil && !slices.Contains(allowed, *h.Stage) && !slices.Contains(unlisted, *h.Stage) {
			unlisted = append(unlisted, *h.Stage)
		}
	}
	if len(unlisted) == 0 {
		return ""
	}
	only := "none"
	if len(allowed) > 0 {
		only = "only " + strings.Join(allowed, ", ")
	}
	return fmt.Sprintf("stages %s are used by tags but .gto allows %s: gto assign refuses them", strings.Join(unlisted, ", "), only)
}

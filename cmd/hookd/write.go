package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

func (a *app) addWriteCommands(root *cobra.Command) {
	root.AddCommand(a.registerCmd(), a.assignCmd(), a.unassignCmd(), a.deregisterCmd(), a.deprecateCmd())
}

// writeFlags are the options every write command shares with gto's.
type writeFlags struct {
	repo    string
	message string
	simple  simpleFlag
	force   bool
	push    bool
	delete  bool
	// author and authorEmail name the tagger (gto's API author and
	// author_email); git's configured identity by default.
	author      string
	authorEmail string
}

func (w *writeFlags) add(a *app, cmd *cobra.Command, canDelete bool) {
	a.repoFlag(cmd, &w.repo)
	f := cmd.Flags()
	f.StringVarP(&w.message, "message", "m", "", "message to annotate the Git tag with")
	f.Var(&w.simple, "simple", "use simple notation, e.g. rf#prod instead of rf#prod#5")
	f.BoolVar(&w.force, "force", false, "create the Git tag even if it already exists and is in effect")
	f.BoolVar(&w.push, "push", false, "push the created Git tag to origin (ignored for a GitHub repository, where tags are created remotely)")
	f.StringVar(&w.author, "author", "", "tagger name (default: git's configured user.name)")
	f.StringVar(&w.authorEmail, "author-email", "", "tagger email (default: git's configured user.email)")
	if canDelete {
		f.BoolVarP(&w.delete, "delete", "d", false, "delete the Git tag(s) instead of creating a new one")
	}
}

// simpleFlag is --simple: auto, true or false. A bad value is caught while
// parsing flags, so it is a usage error.
type simpleFlag registry.Simple

func (s *simpleFlag) String() string {
	return [...]string{"auto", "true", "false"}[*s]
}

func (s *simpleFlag) Set(v string) error {
	switch v {
	case "auto":
		*s = simpleFlag(registry.SimpleAuto)
	case "true":
		*s = simpleFlag(registry.SimpleTrue)
	case "false":
		*s = simpleFlag(registry.SimpleFalse)
	default:
		return errors.New("want auto, true or false")
	}
	return nil
}

func (s *simpleFlag) Type() string { return "auto|true|false" }

// write carries out one write command, given as the companion API takes
// it: by the hookd server of --server, or on the repository itself.
func (a *app) write(cmd *cobra.Command, w *writeFlags, op access.Operation, req change.Request) error {
	req.Message, req.Simple, req.Force = w.message, change.Simple(w.simple), w.force
	s, err := a.server(cmd, w.repo)
	if err != nil {
		return err
	}
	if s != nil {
		return s.write(cmd.Context(), a.stdout, op, req)
	}
	return a.change(cmd.Context(), w, planOf(op, req, w.delete))
}

// planOf is how a write request plans against a local or GitHub
// repository, its ref resolved there first, as the server plans it.
func planOf(op access.Operation, r change.Request, del bool) request {
	return func(ctx context.Context, src source.Source) (planner, error) {
		commit, err := resolveIfGiven(ctx, src, r.Ref)
		if errors.As(err, new(refNotFoundError)) {
			// Refused in gto's order and words, once the registry is read.
			return r.PlanUnknownRef(op, del), nil
		}
		if err != nil {
			return nil, err
		}
		return r.Plan(op, commit, del), nil
	}
}

// planner applies one write command to the registry as it is at the time.
type planner func(reg *registry.Registry) (registry.Plan, error)

// request builds a command's planner once the repository is open, so that
// git references are resolved against it first.
type request func(ctx context.Context, src source.Source) (planner, error)

// Optional abilities of a source: a local repository can delete and push
// tags, GitHub creates them remotely in the first place.
type (
	tagDeleter interface {
		DeleteTag(ctx context.Context, name string) error
	}
	tagPusher interface {
		Push(ctx context.Context, tag string) error
		PushDeletion(ctx context.Context, tag string) error
	}
)

// change is the one path of every write command: open the repository, plan
// against its live registry and create the tags, re-planning when another
// writer takes a tag name first (see source.Write), then print what gto
// prints and push if asked.
func (a *app) change(ctx context.Context, w *writeFlags, req request) error {
	oneShot()
	src, err := openRepo(ctx, w.repo)
	if err != nil {
		return err
	}
	plan, err := req(ctx, src)
	if err != nil {
		return err
	}
	if w.delete {
		return a.deleteTags(ctx, w, src, plan)
	}
	created, output, err := source.WritePlan(ctx, src, plan, registry.Person{Name: w.author, Email: w.authorEmail}, nil)
	for i, t := range created {
		fmt.Fprintln(a.stdout, output[i])
		if perr := a.pushOrRemind(ctx, w, src, t.Name, false); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

// deleteTags carries out a --delete plan, as gto's _delete_tags does.
func (a *app) deleteTags(ctx context.Context, w *writeFlags, src source.Source, plan planner) error {
	d, ok := src.(tagDeleter)
	if !ok {
		return errors.New("--delete is supported for local repositories only")
	}
	// The plan refuses a registry GTO refuses, in gto's order.
	reg, err := source.Load(ctx, src)
	if err != nil && !refused(reg, err) {
		return err
	}
	p, err := plan(reg)
	if err != nil {
		return err
	}
	for i, name := range p.Delete {
		if err := d.DeleteTag(ctx, name); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, p.Output[i])
		if err := a.pushOrRemind(ctx, w, src, name, true); err != nil {
			return err
		}
	}
	return nil
}

// pushOrRemind pushes a created (or deleted) tag to origin with --push, or
// prints the git command that would, as gto does.
func (a *app) pushOrRemind(ctx context.Context, w *writeFlags, src source.Source, tag string, deleted bool) error {
	p, ok := src.(tagPusher)
	if !ok {
		return nil // the tag was created on the remote itself
	}
	del := " "
	if deleted {
		del = " --delete "
	}
	if !w.push {
		fmt.Fprintln(a.stdout, "To push the changes upstream, run:")
		fmt.Fprintf(a.stdout, "    git push%sorigin %s\n", del, tag)
		return nil
	}
	fmt.Fprintf(a.stdout, "Running `git push%sorigin %s`\n", del, tag)
	push, verb := p.Push, "pushed"
	if deleted {
		push, verb = p.PushDeletion, "deleted"
	}
	if err := push(ctx, tag); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Successfully %s git tag %s on remote.\n", verb, tag)
	return nil
}

func (a *app) registerCmd() *cobra.Command {
	var w writeFlags
	var version string
	var major, minor, patch bool
	cmd := &cobra.Command{
		Use:   "register NAME [REF]",
		Short: "Create an artifact version to signify an important, published or released iteration",
		Long: `Register a version of an artifact at REF (default HEAD) by creating the tag
NAME@VERSION. Without --version, the greatest registered version is bumped
(patch by default), or v0.0.1 is registered.`,
		Example: `  hookd register nn
  hookd register nn abc1234 --version v1.0.0
  hookd register nn --bump-minor`,
		GroupID: groupWrite,
		Args:    cobra.RangeArgs(1, 2),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			// gto refuses two of these before it looks at REF, exit 1.
			if err := registry.CheckRegisterArgs(args[0], count(version != "", major, minor, patch)); err != nil {
				return err
			}
			req := change.Request{Artifact: args[0], Ref: "HEAD", Version: version}
			if len(args) == 2 {
				req.Ref = args[1]
			}
			switch {
			case major:
				req.Bump = "major"
			case minor:
				req.Bump = "minor"
			case patch:
				req.Bump = "patch"
			}
			return a.write(cmd, &w, access.Register, req)
		}),
	}
	w.add(a, cmd, false)
	f := cmd.Flags()
	f.StringVar(&version, "version", "", "version name in SemVer format")
	f.StringVar(&version, "ver", "", "same as --version")
	f.BoolVar(&major, "bump-major", false, "bump major version")
	f.BoolVar(&minor, "bump-minor", false, "bump minor version")
	f.BoolVar(&patch, "bump-patch", false, "bump patch version")
	return cmd
}

func (a *app) assignCmd() *cobra.Command {
	var w writeFlags
	var stage, version string
	var skipRegistration bool
	cmd := &cobra.Command{
		Use:     "assign NAME [REF] --stage STAGE",
		Aliases: []string{"promote"},
		Short:   "Assign a stage to an artifact version",
		Long: `Assign STAGE to a version by creating the tag NAME#STAGE#N. The version is
--version, or the one registered at REF (default HEAD); when REF has none,
one is registered first (named --version when REF is given) unless
--skip-registration.`,
		Example: `  hookd assign nn --version v1.0.0 --stage prod
  hookd assign nn abcd123 --stage prod
  hookd assign nn abcd123 --version v1.0.0 --stage prod
  hookd assign nn HEAD --stage prod --simple true`,
		GroupID: groupWrite,
		Args:    cobra.RangeArgs(1, 2),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			// gto's reading of REF and --version: with REF, --version names
			// the version to register there; without, it picks one. With
			// neither, REF is HEAD: on a server, its default branch's head.
			req := change.Request{Artifact: args[0], Stage: stage, Version: version, SkipRegistration: skipRegistration}
			switch {
			case len(args) == 2:
				req.Ref, req.Version, req.NameVersion = args[1], "", version
			case version == "":
				req.Ref = "HEAD"
			}
			return a.write(cmd, &w, access.Assign, req)
		}),
	}
	w.add(a, cmd, false)
	f := cmd.Flags()
	f.StringVar(&stage, "stage", "", "stage to assign")
	f.StringVar(&version, "version", "", "version to assign; with REF, the name of the version to register there")
	f.BoolVar(&skipRegistration, "sr", false, "don't register a version at the specified commit")
	f.BoolVar(&skipRegistration, "skip-registration", false, "same as --sr")
	_ = cmd.MarkFlagRequired("stage")
	return cmd
}

// resolveIfGiven resolves an optional git reference: "" stays "" (the
// registry then decides, or refuses when it needs a version or a ref).
func resolveIfGiven(ctx context.Context, src source.Source, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	return resolveRef(ctx, src, ref)
}

func (a *app) unassignCmd() *cobra.Command {
	var w writeFlags
	var stage, ref string
	cmd := &cobra.Command{
		Use:   "unassign NAME [VERSION] --stage STAGE",
		Short: "Unassign a stage from an artifact version",
		Long: `Unassign STAGE from VERSION (or from the version at --ref) by creating the
tag NAME#STAGE!#N; "gto deprecate NAME VERSION STAGE" does the same.`,
		Example: `  hookd unassign nn v1.0.0 --stage prod
  hookd unassign nn --ref abcd123 --stage prod`,
		GroupID: groupWrite,
		Args:    cobra.RangeArgs(1, 2),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			req := change.Request{Artifact: args[0], Version: optionalArg(args, 1), Stage: stage, Ref: ref}
			return a.write(cmd, &w, access.Unassign, req)
		}),
	}
	w.add(a, cmd, true)
	cmd.Flags().StringVar(&stage, "stage", "", "stage to unassign")
	cmd.Flags().StringVar(&ref, "ref", "", "git reference of the version, instead of VERSION")
	_ = cmd.MarkFlagRequired("stage")
	return cmd
}

func (a *app) deregisterCmd() *cobra.Command {
	var w writeFlags
	var ref string
	cmd := &cobra.Command{
		Use:   "deregister NAME [VERSION]",
		Short: "Deregister an artifact version",
		Long: `Deregister VERSION (or the version at --ref) by creating the tag
NAME@VERSION!; "gto deprecate NAME VERSION" does the same.`,
		Example: `  hookd deregister nn v1.0.0
  hookd deregister nn --ref abcd123`,
		GroupID: groupWrite,
		Args:    cobra.RangeArgs(1, 2),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			req := change.Request{Artifact: args[0], Version: optionalArg(args, 1), Ref: ref}
			return a.write(cmd, &w, access.Deregister, req)
		}),
	}
	w.add(a, cmd, true)
	cmd.Flags().StringVar(&ref, "ref", "", "git reference of the version, instead of VERSION")
	return cmd
}

func (a *app) deprecateCmd() *cobra.Command {
	var w writeFlags
	var ref string
	cmd := &cobra.Command{
		Use:   "deprecate NAME [VERSION [STAGE]]",
		Short: "Deprecate an artifact, deregister a version, or unassign a stage",
		Long: `As gto's deprecate: with NAME only, deprecate the artifact (tag
NAME@deprecated, at --ref or at the commit of its latest event); with
VERSION, deregister it; with VERSION and STAGE, unassign the stage.`,
		Example: `  hookd deprecate nn
  hookd deprecate nn v1.0.0
  hookd deprecate nn v1.0.0 prod`,
		GroupID: groupWrite,
		Args:    cobra.RangeArgs(1, 3),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			name, version, stage := args[0], optionalArg(args, 1), optionalArg(args, 2)
			switch {
			case stage != "":
				return a.write(cmd, &w, access.Unassign, change.Request{Artifact: name, Version: version, Stage: stage})
			case version != "":
				return a.write(cmd, &w, access.Deregister, change.Request{Artifact: name, Version: version})
			}
			return a.write(cmd, &w, access.Deprecate, change.Request{Artifact: name, Ref: ref})
		}),
	}
	w.add(a, cmd, true)
	cmd.Flags().StringVar(&ref, "ref", "", "git reference for the deprecation tag (artifact deprecation only)")
	return cmd
}

func optionalArg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

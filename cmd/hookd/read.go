package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/internal/gtotable"
	"github.com/hookd-dev/hookd/registry"
)

func (a *app) addReadCommands(root *cobra.Command) {
	root.AddCommand(a.checkRefCmd(), a.showCmd(), a.historyCmd(), a.stagesCmd())
}

func (a *app) checkRefCmd() *cobra.Command {
	var repo string
	var asJSON, name, version, event, stage bool
	cmd := &cobra.Command{
		Use:   "check-ref TAG",
		Short: "Find out the artifact version registered/assigned with a tag",
		Long: `Print the event a tag created: a registration, deregistration, assignment,
unassignment or deprecation. A tag that does not exist, is lightweight or is
not a GTO tag created none (--json prints []).`,
		Example: `  hookd check-ref nn@v1.0.0
  hookd check-ref 'nn#prod#3' --json
  hookd check-ref refs/tags/nn@v1.0.0 --version`,
		GroupID: groupRead,
		Args:    cobra.ExactArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			_, reg, err := loadRegistry(cmd.Context(), repo)
			if err != nil {
				return err
			}
			events := reg.CheckRef(args[0])
			if asJSON {
				return writeJSON(a.stdout, events)
			}
			for _, e := range events {
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
	repoFlag(cmd, &repo)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the events as JSON")
	f.BoolVar(&name, "name", false, "print the artifact name")
	f.BoolVar(&version, "version", false, "print the version")
	f.BoolVar(&event, "event", false, "print the event")
	f.BoolVar(&stage, "stage", false, "print the stage")
	cmd.MarkFlagsMutuallyExclusive("json", "name", "version", "event", "stage")
	return cmd
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
			src, reg, err := loadRegistry(ctx, repo)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				overview, err := reg.Show(opts)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, overview)
				}
				gtotable.Overview(reg, overview).Write(a.stdout, plain)
				return nil
			}
			var commit string
			if ref != "" {
				if commit, err = resolveRef(ctx, src, ref); err != nil {
					return err
				}
			}
			versions, err := reg.ShowArtifact(args[0], commit, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, versions)
			}
			gtotable.Versions(reg, versions).Write(a.stdout, plain)
			return nil
		}),
	}
	repoFlag(cmd, &repo)
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
	cmd.MarkFlagsMutuallyExclusive("json", "plain")
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
			_, reg, err := loadRegistry(cmd.Context(), repo)
			if err != nil {
				return err
			}
			var name string
			if len(args) == 1 {
				name = args[0]
			}
			entries := reg.History(name, ascending)
			if asJSON {
				return writeJSON(a.stdout, entries)
			}
			gtotable.History(entries).Write(a.stdout, plain)
			return nil
		}),
	}
	repoFlag(cmd, &repo)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print output in JSON, as gto does")
	f.BoolVar(&plain, "plain", false, "print the table in a grep-able format")
	f.BoolVar(&ascending, "ascending", false, "show oldest first")
	f.BoolVar(&ascending, "asc", false, "same as --ascending")
	cmd.MarkFlagsMutuallyExclusive("json", "plain")
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
			_, reg, err := loadRegistry(cmd.Context(), repo)
			if err != nil {
				return err
			}
			stages := reg.Stages(allowed, used)
			if asJSON {
				return writeJSON(a.stdout, stages)
			}
			for _, s := range stages {
				fmt.Fprintln(a.stdout, s)
			}
			return nil
		}),
	}
	repoFlag(cmd, &repo)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print output in JSON, as gto does")
	f.BoolVar(&allowed, "allowed", false, "show the stages .gto allows")
	f.BoolVar(&used, "used", false, "show the stages in use")
	cmd.MarkFlagsMutuallyExclusive("allowed", "used")
	return cmd
}

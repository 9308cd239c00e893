package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/tagparse"
)

func (a *app) addParse(root *cobra.Command) {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "parse TAG...",
		Short: "Tell how tag names parse as GTO tags",
		Long: `Parse each argument as a GTO tag name and say what it does, or why it is
not a GTO tag. With --json, print a JSON list with one object per argument
holding the fields gto's parser returns (name, action, version, stage,
counter: only those that apply), and {} for a string that is not a GTO tag.`,
		Example: `  hookd parse 'nn@v1.0.0' 'nn#prod#3' 'models/churn=rf@deprecated'
  hookd parse --json 'nn#prod!'`,
		GroupID: groupRead,
		Args:    cobra.MinimumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if asJSON {
				out := make([]orderedObject, len(args))
				for i, s := range args {
					out[i] = parsedJSON(s)
				}
				return writeJSON(a.stdout, out)
			}
			for _, s := range args {
				fmt.Fprintf(a.stdout, "%s: %s\n", s, describeTag(s))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON list, one object per argument")
	root.AddCommand(cmd)
}

// parsedJSON is gto's parse_name(s) as JSON, keys in gto's order.
func parsedJSON(s string) orderedObject {
	t, err := tagparse.Parse(s)
	if err != nil {
		return orderedObject{}
	}
	o := orderedObject{{"name", t.Artifact}}
	// gto's parse_name sets "action" only for these; "name@created"
	// matches its grammar but gets no action.
	switch t.Action {
	case tagparse.Deprecate:
		o = append(o, field{"action", t.Action.String()})
	case tagparse.Register, tagparse.Deregister:
		o = append(o, field{"version", t.Version}, field{"action", t.Action.String()})
	case tagparse.Assign, tagparse.Unassign:
		o = append(o, field{"stage", t.Stage}, field{"action", t.Action.String()})
	}
	// parse_name keeps any counter, "#0" included, as a Python int:
	// "#007" is 7, and no size is too large.
	if t.HasCounter() {
		o = append(o, field{"counter", json.Number(counterValue(t))})
	}
	return o
}

// counterValue writes the tag's counter as a number, without leading zeros.
func counterValue(t tagparse.Tag) string {
	if t.CounterText == "" {
		return strconv.Itoa(t.Counter)
	}
	if v := strings.TrimLeft(t.CounterText, "0"); v != "" {
		return v
	}
	return "0"
}

// describeTag says in words what a tag does, or why it is not a GTO tag.
func describeTag(s string) string {
	t, err := tagparse.Parse(s)
	if err != nil {
		return err.Error()
	}
	var what string
	switch t.Action {
	case tagparse.Register:
		what = fmt.Sprintf("registers version %s of artifact %s", t.Version, t.Artifact)
	case tagparse.Deregister:
		what = fmt.Sprintf("deregisters version %s of artifact %s", t.Version, t.Artifact)
	case tagparse.Assign:
		what = fmt.Sprintf("assigns stage %s to artifact %s", t.Stage, t.Artifact)
	case tagparse.Unassign:
		what = fmt.Sprintf("unassigns stage %s from artifact %s", t.Stage, t.Artifact)
	case tagparse.Deprecate:
		what = fmt.Sprintf("deprecates artifact %s", t.Artifact)
	case tagparse.Create:
		return fmt.Sprintf("GTO grammar for creating artifact %s, which gto never acts on", t.Artifact)
	}
	if t.HasCounter() {
		return fmt.Sprintf("%s (counter %s)", what, counterValue(t))
	}
	return what + " (simple notation)"
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hookd-dev/hookd/registry"
)

// gto-action (iterative/gto-action) gives a workflow run for a pushed tag
// the outputs event, name, version, stage, type, path and description.
// `hookd check-ref "$GITHUB_REF" --github-output` gives the same ones, so
// that a workflow moves to hookd without changing what it reads.

// gtoActionOutputs are gto-action's outputs for the tag's events, as it
// computes them: from the first event, the stage only for an assignment,
// and the annotations of the artifact (empty when it has none).
func gtoActionOutputs(events []registry.EventState, ann registry.Annotation) [][2]string {
	var e registry.EventState
	if len(events) > 0 {
		e = events[0]
	}
	stage := ""
	if e.Event == "assignment" {
		stage = e.Stage
	}
	return [][2]string{
		{"name", e.Artifact}, {"stage", stage}, {"version", e.Version}, {"event", e.Event},
		{"type", ann.Type}, {"path", ann.Path}, {"description", ann.Description},
	}
}

func (a *app) writeGitHubOutput(ctx context.Context, local *localReader, events []registry.EventState) error {
	var ann registry.Annotation
	if len(events) > 0 {
		var err error
		if ann, err = readAnnotation(ctx, local.src, events[0].Artifact); err != nil {
			return err
		}
	}
	w := a.stdout
	if path := os.Getenv("GITHUB_OUTPUT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	for _, kv := range gtoActionOutputs(events, ann) {
		if err := writeOutput(w, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// writeOutput writes one output in $GITHUB_OUTPUT's syntax: name=value,
// or a heredoc with a random delimiter for a value of several lines (a
// description may have them), which tag text cannot end early.
func writeOutput(w io.Writer, name, value string) error {
	if !strings.ContainsAny(value, "\r\n") {
		_, err := fmt.Fprintf(w, "%s=%s\n", name, value)
		return err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	delim := "ghadelimiter_" + hex.EncodeToString(b)
	_, err := fmt.Fprintf(w, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	return err
}

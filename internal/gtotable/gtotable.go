// Package gtotable draws the tables `gto show` and `gto history` print for
// people, for the CLI and for chat replies alike.
package gtotable

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hookd-dev/hookd/registry"
)

// Missing is what tables show for an empty cell, as gto does.
const Missing = "-"

// Table is a table for humans, drawn like gto's (tabulate's
// "fancy_outline" format), or plain: space-separated columns for grep, awk
// and chat messages.
type Table struct {
	Headers []string
	Rows    [][]string
}

// Add appends a row; empty cells show [Missing].
func (t *Table) Add(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = Missing
		}
	}
	t.Rows = append(t.Rows, cells)
}

// Write prints the table, or when it has no rows gto's message for an
// empty registry.
func (t *Table) Write(w io.Writer, plain bool) {
	if len(t.Rows) == 0 {
		fmt.Fprintln(w, "Nothing found in the current workspace")
		return
	}
	widths := make([]int, len(t.Headers))
	for i, h := range t.Headers {
		// tabulate keeps two spaces of room beside each header.
		widths[i] = utf8.RuneCountInString(h) + 2
	}
	for _, r := range t.Rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	if plain {
		t.writePlain(w, widths)
		return
	}
	rule := func(left, fill, mid, right string) {
		var b strings.Builder
		b.WriteString(left)
		for i, wd := range widths {
			if i > 0 {
				b.WriteString(mid)
			}
			b.WriteString(strings.Repeat(fill, wd+2))
		}
		b.WriteString(right)
		fmt.Fprintln(w, b.String())
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("│")
		for i, c := range cells {
			b.WriteString(" " + pad(c, widths[i]) + " │")
		}
		fmt.Fprintln(w, b.String())
	}
	rule("╒", "═", "╤", "╕")
	line(t.Headers)
	rule("╞", "═", "╪", "╡")
	for _, r := range t.Rows {
		line(r)
	}
	rule("╘", "═", "╧", "╛")
}

func (t *Table) writePlain(w io.Writer, widths []int) {
	for _, r := range append([][]string{t.Headers}, t.Rows...) {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = pad(c, widths[i])
		}
		fmt.Fprintln(w, strings.TrimRight(strings.Join(cells, "  "), " "))
	}
}

func pad(s string, width int) string {
	return s + strings.Repeat(" ", width-utf8.RuneCountInString(s))
}

// ShortHash shortens a version that is a commit hash (an assignment to an
// unregistered commit) to seven characters, as gto's tables do.
func ShortHash(v string) string {
	if len(v) == 40 && strings.Trim(v, "0123456789abcdef") == "" {
		return v[:7]
	}
	return v
}

// Overview is `gto show`'s table: artifacts by name, unregistered ones
// starred, then the latest version and each stage.
func Overview(reg *registry.Registry, o registry.Overview) *Table { return OverviewOf(o) }

// OverviewOf is [Overview] drawn from o alone, such as a hookd server's
// `show` answer: every artifact of o lists every stage of the registry, in
// the registry's order.
func OverviewOf(o registry.Overview) *Table {
	var stages []string
	if len(o) > 0 {
		for _, kv := range o[0].Value.Stage {
			stages = append(stages, kv.Key)
		}
	}
	t := &Table{Headers: []string{"name", "latest"}}
	for _, s := range stages {
		t.Headers = append(t.Headers, "#"+s)
	}
	rows := slices.Clone(o)
	slices.SortFunc(rows, func(x, y registry.KeyValue[registry.ArtifactSummary]) int { return strings.Compare(x.Key, y.Key) })
	for _, kv := range rows {
		name := kv.Key
		if !kv.Value.Registered {
			name = "*" + name
		}
		cells := []string{name, ShortHash(deref(kv.Value.Version))}
		for _, s := range stages {
			v, _ := kv.Value.Stage.Get(s)
			cells = append(cells, ShortHash(deref(v)))
		}
		t.Add(cells...)
	}
	return t
}

// Versions is `gto show NAME`'s table.
func Versions(reg *registry.Registry, versions []registry.VersionState) *Table {
	registered := true
	if len(versions) > 0 {
		a, ok := reg.Artifact(versions[0].Artifact)
		registered = !ok || a.Registered()
	}
	return VersionsOf(versions, registered)
}

// VersionsOf is [Versions] drawn from the versions of one artifact and
// whether it is registered (has an event other than an annotation).
func VersionsOf(versions []registry.VersionState, registered bool) *Table {
	t := &Table{Headers: []string{"artifact", "version", "stage", "created_at", "ref"}}
	for _, v := range versions {
		name := v.Artifact
		if !registered {
			name = "*" + name
		}
		var stages []string
		for _, s := range v.Stages {
			if !slices.Contains(stages, s.Stage) {
				stages = append(stages, s.Stage)
			}
		}
		t.Add(name, ShortHash(v.Version), strings.Join(stages, ", "), deref(v.CreatedAt), ShortHash(deref(v.Ref)))
	}
	return t
}

// History is `gto history`'s table.
func History(entries []registry.HistoryEntry) *Table {
	t := &Table{Headers: []string{"timestamp", "artifact", "event", "version", "stage", "commit", "ref"}}
	for _, e := range entries {
		t.Add(e.Timestamp, e.Artifact, e.Event, ShortHash(deref(e.Version)), deref(e.Stage), ShortHash(e.Commit), ShortHash(e.Ref))
	}
	return t
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// missing is what tables show for an empty cell, as gto does.
const missing = "-"

// table is a table for humans, drawn like gto's (tabulate's "fancy_outline"
// format), or with --plain as space-separated columns for grep and awk.
type table struct {
	headers []string
	rows    [][]string
}

func (t *table) add(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = missing
		}
	}
	t.rows = append(t.rows, cells)
}

// write prints the table, or empty when there are no rows: gto's message
// for an empty registry.
func (t *table) write(w io.Writer, plain bool) {
	if len(t.rows) == 0 {
		fmt.Fprintln(w, "Nothing found in the current workspace")
		return
	}
	widths := make([]int, len(t.headers))
	for i, h := range t.headers {
		// tabulate keeps two spaces of room beside each header.
		widths[i] = utf8.RuneCountInString(h) + 2
	}
	for _, r := range t.rows {
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
	line(t.headers)
	rule("╞", "═", "╪", "╡")
	for _, r := range t.rows {
		line(r)
	}
	rule("╘", "═", "╧", "╛")
}

func (t *table) writePlain(w io.Writer, widths []int) {
	for _, r := range append([][]string{t.headers}, t.rows...) {
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

// shortHash shortens a version that is a commit hash (an assignment to an
// unregistered commit) to seven characters, as gto's tables do.
func shortHash(v string) string {
	if len(v) == 40 && strings.Trim(v, "0123456789abcdef") == "" {
		return v[:7]
	}
	return v
}

package gitdir

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

// What git hands a post-receive hook, read here because it is git's format,
// beside the tags and commits this package reads from git itself.

// RefUpdate is one line of a post-receive hook's input: a ref and the
// object it pointed at before and after the push, all zeros for none.
type RefUpdate struct {
	Old, New, Ref string
}

// ReadRefUpdates reads a post-receive hook's input, "OLD NEW REF" lines.
func ReadRefUpdates(r io.Reader) ([]RefUpdate, error) {
	var out []RefUpdate
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return nil, fmt.Errorf("unexpected hook input line %q (want: old new ref)", sc.Text())
		}
		out = append(out, RefUpdate{Old: fields[0], New: fields[1], Ref: fields[2]})
	}
	return out, sc.Err()
}

// TagObject is an annotated tag object's content, as `git cat-file tag`
// prints it.
type TagObject struct {
	Object string // what the tag points at
	Type   string // that object's type: "commit" for GTO tags
	Name   string
	Tagger registry.Person
	Date   time.Time // the tagger's, in the tagger's offset; zero without a tagger line
	// Message is everything after the headers, signature included.
	Message string
}

// ParseTagObject reads a tag object: header lines, a blank line, the
// message. A tagger line it cannot read leaves the date zero.
func ParseTagObject(raw []byte) TagObject {
	head, msg, _ := strings.Cut(string(raw), "\n\n")
	t := TagObject{Message: msg}
	for line := range strings.SplitSeq(head, "\n") {
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "object":
			t.Object = val
		case "type":
			t.Type = val
		case "tag":
			t.Name = val
		case "tagger":
			t.Tagger, t.Date, _ = parseIdent(val)
		}
	}
	return t
}

// parseIdent reads git's "Name <email> 1672567200 +0000". Without the
// angle brackets all of it is the name.
func parseIdent(val string) (registry.Person, time.Time, error) {
	lt, gt := strings.IndexByte(val, '<'), strings.LastIndexByte(val, '>')
	if lt < 0 || gt < lt {
		return registry.Person{Name: val}, time.Time{}, fmt.Errorf("no <email> in %q", val)
	}
	p := registry.Person{Name: strings.TrimSpace(val[:lt]), Email: val[lt+1 : gt]}
	when, err := parseRawDate(val[gt+1:])
	return p, when, err
}

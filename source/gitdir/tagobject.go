package gitdir

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookd-dev/hookd/registry"
)

// parseTag reads one listed tag: f is its object type, object, peeled
// object and peeled type, raw the tag object of an annotated tag.
func parseTag(ref string, f []string, raw string) registry.Tag {
	t := registry.Tag{Name: strings.TrimPrefix(ref, "refs/tags/")}
	objType, object, peeled := f[0], f[1], f[2]
	if objType != "tag" {
		// A lightweight tag names its commit directly.
		t.Commit = object
		return t
	}
	t.Annotated, t.Object, t.Commit = true, object, peeled
	o := readTagObject(raw)
	t.ObjectName, t.Target, t.Message = o.name, o.object, o.message
	var flaws []string
	switch {
	case !o.hasName:
		flaws = append(flaws, "the tag object records no name")
	case !utf8.ValidString(o.name):
		flaws = append(flaws, "its name inside the tag object is not UTF-8")
	}
	if !utf8.ValidString(o.message) {
		flaws = append(flaws, "its message is not UTF-8")
	}
	if !o.hasTagger {
		flaws = append(flaws, "it has no tagger")
	} else {
		var flaw string
		t.Tagger, t.Date, flaw = splitTagger(o.tagger)
		if flaw != "" {
			flaws = append(flaws, flaw)
		}
	}
	t.Flaw = strings.Join(flaws, "; ")
	return t
}

// tagObject is what dulwich reads of a raw tag object.
type tagObject struct {
	object, name, tagger string
	hasName, hasTagger   bool
	message              string // everything after the headers
}

// readTagObject parses a tag object's headers and message as dulwich's
// _parse_message does: a header line starting with a space continues the
// one before, the first empty line ends the headers, and the rest is the
// message, byte for byte.
func readTagObject(raw string) tagObject {
	var o tagObject
	var key, value string
	flush := func() {
		switch key {
		case "object":
			o.object = value
		case "tag":
			o.name, o.hasName = value, true
		case "tagger":
			o.tagger, o.hasTagger = value, true
		}
	}
	rest := raw
	for rest != "" {
		line, after, found := strings.Cut(rest, "\n")
		if found {
			line += "\n"
		}
		rest = after
		if strings.HasPrefix(line, " ") {
			value += "\n" + strings.TrimSuffix(line[1:], "\n")
			continue
		}
		flush()
		if line == "\n" {
			o.message = rest
			return o
		}
		key, value, _ = strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	}
	flush()
	return o
}

// identity is scmrepo's rule for splitting a tagger into name and email:
// the longest name followed by white space and "<", the email up to the
// last ">". Go's regexp picks the submatches a backtracking matcher like
// Python's does; the class stands for Python's Unicode \s.
var identity = regexp.MustCompile(`^(.+)[\s\v\x1c-\x1f\x85\p{Z}]+<(.+)>`)

// splitTagger reads a tagger header as dulwich and scmrepo do: dulwich
// cuts the identity at the last "> " and reads the time and offset after
// it; scmrepo splits the identity with its expression. So
// "A <b> <c@d> 1700000000 +0000" is the name "A <b>" and the email "c@d",
// where git reads the name "A" and the email "b". What GTO cannot read is
// returned as a flaw, with git's reading of the identity.
func splitTagger(v string) (registry.Person, time.Time, string) {
	var when time.Time
	var flaw string
	person := v
	if sep := strings.LastIndex(v, "> "); sep < 0 {
		flaw = "its tagger line has no date"
	} else {
		person = v[:sep+1]
		var ok bool
		if when, ok = taggerTime(v[sep+2:]); !ok {
			flaw = "its tagger date cannot be read"
		}
	}
	if !utf8.ValidString(person) {
		return gitIdentity(person), when, joinFlaws(flaw, "its tagger is not UTF-8")
	}
	m := identity.FindStringSubmatch(person)
	if m == nil {
		return gitIdentity(person), when, joinFlaws(flaw, "scmrepo cannot split its tagger "+strconv.Quote(person)+" into a name and an email")
	}
	return registry.Person{Name: m[1], Email: m[2]}, when, flaw
}

// taggerTime reads "1700000000 +0530" as dulwich does: the offset after the
// last space, positive without a sign, its last two digits minutes and the
// rest hours.
func taggerTime(s string) (time.Time, bool) {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 || i == len(s)-1 {
		return time.Time{}, false
	}
	unix, err := strconv.ParseInt(strings.TrimSpace(s[:i]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	zone := s[i+1:]
	if zone[0] != '+' && zone[0] != '-' {
		zone = "+" + zone
	}
	off, err := strconv.Atoi(zone[1:])
	if err != nil {
		return time.Time{}, false
	}
	if zone[0] == '-' {
		off = -off
	}
	sign := 1
	if off < 0 {
		sign, off = -1, -off
	}
	east := sign * (off/100*3600 + off%100*60)
	if east <= -24*3600 || east >= 24*3600 {
		return time.Time{}, false // Python's timezone refuses a day or more
	}
	return time.Unix(unix, 0).In(time.FixedZone("", east)), true
}

// gitIdentity splits an identity as git does: the name before the first
// "<", the email up to the next ">".
func gitIdentity(s string) registry.Person {
	name, rest, _ := strings.Cut(s, "<")
	email, _, _ := strings.Cut(rest, ">")
	return registry.Person{Name: strings.TrimSpace(name), Email: email}
}

func joinFlaws(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

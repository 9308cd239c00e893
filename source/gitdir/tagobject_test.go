package gitdir

import (
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/registry"
)

// splitTagger follows dulwich's parse_time_entry (the identity ends at the
// last "> ", the offset after the last space, its last two digits minutes)
// and scmrepo's _parse_identity (`(?P<name>.+)\s+<(?P<email>.+)>`, matched
// from the start, greedy).
func TestSplitTaggerAsGTO(t *testing.T) {
	for _, c := range []struct {
		line        string
		name, email string
		date        string // "" for none
		flaw        string // substring; "" for none
	}{
		{"Scratch Tester <tester@example.com> 1675245600 +0000", "Scratch Tester", "tester@example.com", "2023-02-01T10:00:00+00:00", ""},
		// git splits this as "A" and "b"; scmrepo's greedy name wins.
		{"A <b> <c@d> 1700000000 +0000", "A <b>", "c@d", "2023-11-14T22:13:20+00:00", ""},
		{"A  <b@c> 1700000000 +0530", "A ", "b@c", "2023-11-15T03:43:20+05:30", ""},
		{"Zoë Ünïcode <zoe@example.com> 1700000000 -0130", "Zoë Ünïcode", "zoe@example.com", "2023-11-14T20:43:20-01:30", ""},
		{"A <b@c> <d> 1700000000 +0000", "A <b@c>", "d", "2023-11-14T22:13:20+00:00", ""},
		{"A <b>c> 1700000000 +0000", "A", "b>c", "2023-11-14T22:13:20+00:00", ""},
		{"A\t<b@c> 1700000000 +0000", "A", "b@c", "2023-11-14T22:13:20+00:00", ""},
		{"A <b@c> 1700000000 0200", "A", "b@c", "2023-11-15T00:13:20+02:00", ""},           // no sign: positive
		{"A <b@c> 1700000000 +0099", "A", "b@c", "2023-11-14T23:52:20+01:39", ""},          // 99 minutes
		{"A <b@c> 1700000000 -0000", "A", "b@c", "2023-11-14T22:13:20+00:00", ""},          // dulwich's negative UTC
		{"<b@c> 1700000000 +0000", "", "b@c", "2023-11-14T22:13:20+00:00", "cannot split"}, // no name
		{"A <> 1700000000 +0000", "A", "", "2023-11-14T22:13:20+00:00", "cannot split"},
		{"A <b@c>", "A", "b@c", "", "no date"},
		{"A <b@c> soon +0000", "A", "b@c", "", "date cannot be read"},
		{"A <b@c> 1700000000", "A", "b@c", "", "date cannot be read"},
		{"A <b@c> 1700000000 +2400", "A", "b@c", "", "date cannot be read"}, // Python refuses a day
		{"A\xff <b@c> 1700000000 +0000", "A\xff", "b@c", "2023-11-14T22:13:20+00:00", "not UTF-8"},
	} {
		p, when, flaw := splitTagger(c.line)
		if p != (registry.Person{Name: c.name, Email: c.email}) {
			t.Errorf("%q: %+v, want %q <%s>", c.line, p, c.name, c.email)
		}
		var date string
		if !when.IsZero() {
			date = registry.FormatTime(when)
		}
		if date != c.date {
			t.Errorf("%q: date %q, want %q", c.line, date, c.date)
		}
		if (flaw == "") != (c.flaw == "") || !strings.Contains(flaw, c.flaw) {
			t.Errorf("%q: flaw %q, want %q", c.line, flaw, c.flaw)
		}
	}
}

// readTagObject follows dulwich's _parse_message: continuation lines start
// with a space, the first empty line ends the headers, the rest is the
// message byte for byte; a header given twice keeps the last value.
func TestReadTagObjectAsDulwich(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want tagObject
	}{
		{"object abc\ntype commit\ntag m@v1.0.0\ntagger A <b> 1 +0000\n\nmsg\n\n  body  \n",
			tagObject{object: "abc", name: "m@v1.0.0", hasName: true, tagger: "A <b> 1 +0000", hasTagger: true, message: "msg\n\n  body  \n"}},
		{"object abc\ntype commit\ntag m@v1.0.0\ntagger A\n <b> 1 +0000\n\n",
			tagObject{object: "abc", name: "m@v1.0.0", hasName: true, tagger: "A\n<b> 1 +0000", hasTagger: true}},
		{"object abc\ntype commit\ntag m@v1.0.0\ntag m@v2.0.0\n",
			tagObject{object: "abc", name: "m@v2.0.0", hasName: true}},
		{"object abc\ntype commit\ntagger A <b> 1 +0000\n\n\nafter a blank line",
			tagObject{object: "abc", tagger: "A <b> 1 +0000", hasTagger: true, message: "\nafter a blank line"}},
	} {
		if got := readTagObject(c.raw); got != c.want {
			t.Errorf("%q:\n got %+v\nwant %+v", c.raw, got, c.want)
		}
	}
}

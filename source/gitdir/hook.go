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

// ParseTagObject reads a tag object as Tags reads the ones it lists (as GTO
// reads them): so what the hook reports of a tag is what a listing of the
// repository finds. A tagger that cannot be read leaves the date zero.
func ParseTagObject(raw []byte) TagObject {
	o := readTagObject(string(raw))
	t := TagObject{Object: o.object, Type: o.typ, Name: o.name, Message: o.message}
	if o.hasTagger {
		t.Tagger, t.Date, _ = splitTagger(o.tagger)
	}
	return t
}

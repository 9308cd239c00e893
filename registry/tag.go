package registry

import "time"

// Tag is a git tag as a source reads it, before any GTO meaning is given to
// it. Sources fill every field they can; the registry decides what it means.
type Tag struct {
	// Name is the tag's short ref name, e.g. "nn#prod#4".
	Name string
	// ObjectName is the name written inside the tag object, which GTO
	// reads the tag's meaning from: it differs from Name when a ref was
	// renamed or copied (`git tag NEW OLD` points NEW at OLD's object).
	// "" when the source cannot tell; Name is used then.
	ObjectName string
	// Annotated is false for lightweight tags, which GTO ignores.
	Annotated bool
	// Object is the sha of the tag object ("" for lightweight tags).
	Object string
	// Commit is the full sha of the commit the tag points to.
	Commit string
	// Target is the full sha of the object the tag object names, which
	// GTO takes for the tag's commit: Commit, except for a tag of a tag,
	// whose target is the inner tag object. "" when the source cannot
	// tell; Commit is used then.
	Target string
	// Tagger and Date come from the tag object; Date keeps the tagger's
	// UTC offset, because GTO prints it.
	Tagger Person
	Date   time.Time
	// Message is the tag object's message exactly as git stores it,
	// signature included.
	Message string
	// Flaw says what in the tag object stops GTO from reading it (it
	// crashes): no tagger, a tagger line scmrepo cannot split, text that
	// is not UTF-8. "" when there is none. The registry reads the tag as
	// the source parsed it regardless; `hookd doctor` reports it.
	Flaw string
}

// Person is a git identity.
type Person struct {
	Name  string
	Email string
}

// Commit is what GTO shows of the commit behind a version.
type Commit struct {
	Hash       string
	Author     Person
	AuthorDate time.Time
	Committer  Person
	CommitDate time.Time
	// Message is the commit message exactly as git stores it.
	Message string
}

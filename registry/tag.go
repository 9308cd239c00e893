package registry

import "time"

// Tag is a git tag as a source reads it, before any GTO meaning is given to
// it. Sources fill every field they can; the registry decides what it means.
type Tag struct {
	// Name is the tag's short name, e.g. "nn#prod#4".
	Name string
	// Annotated is false for lightweight tags, which GTO ignores.
	Annotated bool
	// Object is the sha of the tag object ("" for lightweight tags).
	Object string
	// Commit is the full sha of the commit the tag points to.
	Commit string
	// Tagger and Date come from the tag object; Date keeps the tagger's
	// UTC offset, because GTO prints it.
	Tagger Person
	Date   time.Time
	// Message is the tag object's message exactly as git stores it.
	Message string
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

package ingest

// GitPush is the JSON body of POST /webhooks/git: the tag updates of one
// push, as a post-receive hook sees them, with the tag objects read from the
// repository (a webhook receiver cannot read them later from a repository on
// another machine).
type GitPush struct {
	// Repository is the repository's identity in hookd's config: by default
	// the absolute path of the bare repository on the git server.
	Repository string      `json:"repository"`
	Updates    []RefUpdate `json:"updates"`
}

// RefUpdate is one "old new ref" line of the hook's input.
type RefUpdate struct {
	Ref string `json:"ref"` // refs/tags/NAME
	Old string `json:"old"` // all zeros when the tag was created
	New string `json:"new"` // all zeros when the tag was deleted
	// Tag is the annotated tag object New names; nil for a deletion or a
	// lightweight tag (New is then the commit itself).
	Tag *TagObject `json:"tag,omitempty"`
}

// TagObject is an annotated tag object as git stores it.
type TagObject struct {
	Name        string `json:"name"`
	Target      string `json:"target"`      // the object the tag points to
	TargetType  string `json:"target_type"` // "commit" for GTO tags
	TaggerName  string `json:"tagger_name"`
	TaggerEmail string `json:"tagger_email"`
	// TaggerDate is RFC 3339 with the tagger's UTC offset.
	TaggerDate string `json:"tagger_date"`
	Message    string `json:"message"`
}

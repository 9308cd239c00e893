package ingest

import (
	"context"
	"fmt"
	"slices"

	"github.com/hookd-dev/hookd/registry"
)

// checkGitPush holds a post-receive delivery's claims against the
// repository before anything acts on them. The signature proves only that
// the sender knows the hook's secret; the repository can say whether the
// push happened. A tag the delivery carries must be in the repository as
// that tag object, with that target, tagger, date and message; it is then
// taken from the repository, byte for byte (the hook's JSON turns bytes
// that are not UTF-8, such as a Latin-1 tagger name, into U+FFFD). A tag
// it reports deleted must be gone. checkGitPush drops from c every claim
// the repository contradicts and returns why, one reason each.
func (p *Processor) checkGitPush(ctx context.Context, c *change) ([]string, error) {
	src, err := p.sources(c.repository)
	if err != nil {
		return nil, err
	}
	listed, err := src.Tags(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s to check a post-receive delivery: %w", c.repository, err)
	}
	actual := make(map[string]registry.Tag, len(listed))
	for _, t := range listed {
		actual[t.Name] = t
	}
	var refused []string
	refuse := func(name, why string) {
		refused = append(refused, name+": "+why)
		delete(c.announced, name)
	}
	present := make([]registry.Tag, 0, len(c.present))
	for _, claim := range c.present {
		t, ok := actual[claim.Name]
		switch {
		case !ok:
			refuse(claim.Name, "not in the repository")
		case objectOf(t) != objectOf(claim):
			refuse(claim.Name, fmt.Sprintf("the repository's tag is object %s, not %s", objectOf(t), objectOf(claim)))
		case !sameContent(claim, t):
			refuse(claim.Name, "the delivery's tag object differs from the repository's")
		default:
			present = append(present, t)
		}
	}
	c.present = present
	c.deleted = slices.DeleteFunc(c.deleted, func(name string) bool {
		_, still := actual[name]
		if still {
			refuse(name, "reported deleted, but still in the repository")
		}
		return still
	})
	return refused, nil
}

// sameContent compares what a delivery says of a tag object with the
// repository's. The delivery's text went through JSON, which replaces each
// byte that is not UTF-8 with U+FFFD; the repository's is compared as JSON
// would carry it.
func sameContent(claim, t registry.Tag) bool {
	asSent := func(s string) string { return string([]rune(s)) }
	return claim.Commit == t.Commit && claim.Annotated == t.Annotated && claim.Date.Equal(t.Date) &&
		claim.Tagger.Name == asSent(t.Tagger.Name) && claim.Tagger.Email == asSent(t.Tagger.Email) &&
		claim.Message == asSent(t.Message)
}

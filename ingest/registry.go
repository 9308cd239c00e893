package ingest

import (
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/store"
)

// Registry is the registry GTO would see in a repository whose tags are
// the stored ones (Store.Tags), with the repository's files as opts says
// (`.gto`, the artifacts index): what readers that must not list the
// repository again, such as the dashboard, build their view from.
func Registry(tags []store.Tag, opts registry.Options) *registry.Registry {
	list := make([]registry.Tag, len(tags))
	for i, t := range tags {
		list[i] = fromStore(t)
	}
	return registry.New(list, opts)
}

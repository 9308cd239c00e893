package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/hookd-dev/hookd/access"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// Listing is what every list page shares: which repository it shows,
// the filters and the page.
type Listing struct {
	Repos []Repository
	// Repo is the repository shown ("" for all of them, which only a
	// principal that may read every repository gets).
	Repo     string
	AllRepos bool
	identity string
	Filters  url.Values
	Before   int64
	// Next is the link to the following page, "" on the last one.
	Next string
	// Self is the page's own URL, which its live table re-fetches.
	Self string
}

// listingOf reads a list page's repository, filters and page, the
// filters named in keys; ok is false when it answered the request itself.
func (h *Handler) listingOf(w http.ResponseWriter, r *http.Request, s *session, keys ...string) (*Listing, bool) {
	q := r.URL.Query()
	l := &Listing{Repos: h.readable(s.Principal), Repo: q.Get("repo"), AllRepos: s.Principal.AllRepositories(access.Read),
		Filters: url.Values{}, Self: r.URL.RequestURI()}
	for _, k := range keys {
		if v := q.Get(k); v != "" {
			l.Filters.Set(k, v)
		}
	}
	l.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	switch {
	case l.Repo != "":
		repo, ok := h.repos.Load().byName[l.Repo]
		if !ok || !s.Principal.Allows(access.Request{Repository: repo.Name, Operation: access.Read}) {
			h.notFound(w, r, s, "There is no repository "+l.Repo+" you may read.")
			return nil, false
		}
		l.identity = repo.Identity
	case !l.AllRepos && len(l.Repos) > 0:
		// A principal that may read some repositories only sees one at a
		// time, as the API lists them.
		l.Repo, l.identity = l.Repos[0].Name, l.Repos[0].Identity
	case !l.AllRepos:
		h.refuse(w, r, s, http.StatusForbidden, s.Principal.Name+" may read no repository hookd is configured for.")
		return nil, false
	}
	return l, true
}

// status is the status filter when it is one of allowed, else "" (and
// the filter is dropped).
func (l *Listing) status(allowed []string) string {
	v := l.filter("status")
	if !slices.Contains(allowed, v) {
		l.Filters.Del("status")
		return ""
	}
	return v
}

// filter is a filter's value.
func (l *Listing) filter(key string) string { return l.Filters.Get(key) }

// page sets the link to the next page when this one is full; last is the
// paging key of its last row.
func (l *Listing) page(n int, last int64) {
	if n < pageSize {
		return
	}
	v := url.Values{}
	for k, vs := range l.Filters {
		v[k] = vs
	}
	if l.Repo != "" {
		v.Set("repo", l.Repo)
	}
	v.Set("before", strconv.FormatInt(last, 10))
	l.Next = "?" + v.Encode()
}

// FirstPage is the link back to the newest rows with the same filters.
func (l *Listing) FirstPage() string {
	v := url.Values{}
	for k, vs := range l.Filters {
		v[k] = vs
	}
	if l.Repo != "" {
		v.Set("repo", l.Repo)
	}
	return "?" + v.Encode()
}

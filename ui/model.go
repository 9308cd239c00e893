package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/tagparse"
)

type modelData struct {
	Repo       Repository
	Name       string
	Annotation registry.Annotation
	Latest     string
	Active     bool
	Versions   []versionRow
	Stages     []stageRow
	History    []historyRow
	// HistoryEvent filters History by event type ("" for all);
	// HistoryMore is the link to a longer history, "" when all is shown.
	HistoryEvent string
	HistoryMore  string
	Environments []envStage
	Can          map[string]bool
	Problem      string
	// Self is the page's own URL, which its live parts re-fetch.
	Self string
}

type versionRow struct {
	Name, Commit, CommitURL string
	Author                  string
	At                      time.Time
	Message                 string
	Active                  bool
	Registered              bool
	Stages                  []string
}

type stageRow struct {
	Stage       string
	Version     string
	By          string
	At          time.Time
	CanUnassign bool
}

type historyRow struct {
	Kind    string
	Text    string
	Message string
	Tag     string
	Commit  string
	At      time.Time
}

// historyPage is how many history entries the page shows at first.
const historyPage = 50

var historyEvents = []string{"registration", "deregistration", "assignment", "unassignment", "deprecation"}

// model is the model details page.
func (h *Handler) model(w http.ResponseWriter, r *http.Request, s *session) {
	repo, ok := h.named(r)
	if !ok || !s.Principal.Allows(access.Request{Repository: repo.Name, Operation: access.Read}) {
		h.notFound(w, r, s, "There is no repository "+r.PathValue("owner")+"/"+r.PathValue("repo")+" you may read.")
		return
	}
	snap, err := h.regs.get(r.Context(), repo)
	if err != nil {
		h.storeFailed(w, r, s, err)
		return
	}
	name := r.PathValue("name")
	a, ok := snap.Registry.Artifact(name)
	if !ok {
		h.notFound(w, r, s, "There is no artifact "+name+" in "+repo.Name+".")
		return
	}
	q := r.URL.Query()
	d := modelData{Repo: repo, Name: a.Name, Active: a.Active(), HistoryEvent: q.Get("event"), Self: r.URL.RequestURI(),
		Problem: snap.FilesProblem, Can: map[string]bool{}}
	if !slices.Contains(historyEvents, d.HistoryEvent) {
		d.HistoryEvent = ""
	}
	d.Annotation, _ = snap.Index.Get(a.Name)
	if v, _ := snap.Registry.Latest(a.Name, false); v != nil {
		d.Latest = v.Name
	}
	if h.changes != nil {
		for op := range writes {
			d.Can[string(op)] = offered(s.Principal, repo, snap, op)
		}
	}
	d.Versions = versionRows(repo, a)
	for _, stage := range stagesOf(snap) {
		c, ok := cellOf(snap.Registry, a.Name, stage)
		if !ok {
			continue
		}
		d.Stages = append(d.Stages, stageRow{Stage: stage, Version: c.Version, By: c.By, At: c.At,
			CanUnassign: h.changes != nil && s.Principal.Allows(access.Request{Repository: repo.Name, Operation: access.Unassign, Stage: stage})})
	}
	limit, _ := strconv.Atoi(q.Get("history"))
	limit = max(limit, historyPage)
	for _, e := range a.Events() {
		if e.Kind == registry.Enrichment || d.HistoryEvent != "" && e.Kind.String() != d.HistoryEvent {
			continue
		}
		if len(d.History) == limit {
			more := url.Values{"history": {strconv.Itoa(limit * 2)}}
			if d.HistoryEvent != "" {
				more.Set("event", d.HistoryEvent)
			}
			d.HistoryMore = "?" + more.Encode()
			break
		}
		d.History = append(d.History, historyRow{Kind: e.Kind.String(), Text: sentence(e), Message: e.Message, Tag: e.Tag, Commit: e.Commit, At: e.Time})
	}
	if d.Environments, err = h.pipeline(r.Context(), repo, snap, a.Name); err != nil {
		h.storeFailed(w, r, s, err)
		return
	}
	h.render(w, r, http.StatusOK, "model", &page{Title: a.Name, Nav: "models", Session: s, Data: d})
}

// versionRows are the artifact's registered and deregistered versions,
// newest first, then those known only by their commit.
func versionRows(repo Repository, a *registry.Artifact) []versionRow {
	var out []versionRow
	seen := map[string]bool{}
	for _, v := range a.Versions {
		if seen[v.Name] || v.Discovered() && !v.Active() {
			continue
		}
		seen[v.Name] = true
		row := versionRow{Name: v.Name, Commit: v.Commit, Active: v.Active(), Registered: v.Registered()}
		if repo.WebURL != "" {
			row.CommitURL = repo.WebURL + "/commit/" + v.Commit
		}
		if e := v.Authoring(); e != nil {
			row.Author, row.At, row.Message = e.Author.Name, e.Time, e.Message
		}
		for _, st := range v.Stages {
			if st.Active() {
				row.Stages = append(row.Stages, st.Stage)
			}
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(x, y versionRow) int {
		xv, yv := tagparse.IsVersion(x.Name), tagparse.IsVersion(y.Name)
		switch {
		case xv && yv:
			return tagparse.CompareVersions(y.Name, x.Name)
		case xv != yv:
			if xv {
				return -1
			}
			return 1
		}
		return y.At.Compare(x.At)
	})
	return out
}

// sentence tells a history entry as GTO users say it: "ann assigned prod
// to v2.0.0".
func sentence(e *registry.Event) string {
	who := e.Author.Name
	if who == "" {
		who = "someone"
	}
	switch e.Kind {
	case registry.Registration:
		return who + " registered " + e.Version
	case registry.Deregistration:
		return who + " deregistered " + e.Version
	case registry.Assignment:
		return who + " assigned " + e.Stage + " to " + e.Version
	case registry.Unassignment:
		return who + " unassigned " + e.Stage + " from " + e.Version
	case registry.Deprecation:
		return who + " deprecated " + e.Artifact
	}
	return who + " " + e.Kind.String()
}

package ui

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/store"
)

// modelRow is one artifact as the Models table shows it, derived once per
// registry snapshot.
type modelRow struct {
	Repo       Repository
	Name       string
	Annotation registry.Annotation
	Latest     string // "" when no version is registered
	Active     bool   // false once deprecated
	Stages     map[string]stageCell
	// LastAssigned is the newest assignment among its stages.
	LastAssigned time.Time
	// The row's links, made once: the artifact's page and its dialogs.
	URL, Dialogs string
	Query        string // artifact=NAME, for the dialogs
}

// stageCell is what a stage holds of an artifact, as `gto show` says.
type stageCell struct {
	Version string
	By      string
	At      time.Time
}

// stagesOf are the stage columns of a repository: its `.gto` stages in
// order, else the stages in use.
func stagesOf(s *snapshot) []string { return s.Registry.Stages(false, false) }

func rowsOf(repo Repository, s *snapshot) []modelRow {
	reg := s.Registry
	stages := stagesOf(s)
	var rows []modelRow
	for _, a := range reg.Artifacts() {
		row := modelRow{Repo: repo, Name: a.Name, Active: a.Active(), Stages: map[string]stageCell{},
			URL: artifactURL(repo.Name, a.Name), Dialogs: "/ui/repos/" + repo.Name + "/", Query: url.Values{"artifact": {a.Name}}.Encode()}
		row.Annotation, _ = s.Index.Get(a.Name)
		if v, _ := reg.Latest(a.Name, false); v != nil {
			row.Latest = v.Name
		}
		for _, stage := range stages {
			if c, ok := cellOf(reg, a.Name, stage); ok {
				row.Stages[stage] = c
				if c.At.After(row.LastAssigned) {
					row.LastAssigned = c.At
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// cellOf is the version a stage holds, who assigned it and when.
func cellOf(reg *registry.Registry, artifact, stage string) (stageCell, bool) {
	held, err := reg.Which(artifact, stage, registry.DefaultShowOptions())
	if err != nil || len(held) == 0 {
		return stageCell{}, false
	}
	c := stageCell{Version: held[0].Version}
	if e := held[0].Authoring(); e != nil {
		c.By, c.At = e.Author.Name, e.Time
	}
	return c, true
}

// deployState is where an environment's deploys stand, from the newest
// run of each of its actions.
type deployState struct {
	Status string // succeeded, failed, deploying, superseded; "" without runs
	Runs   []store.LaneRuns
}

// Label is the status in words.
func (d deployState) Label() string {
	switch d.Status {
	case "succeeded":
		return "deployed"
	case "failed":
		return "deploy failed"
	case "deploying":
		return "deploying"
	case "superseded":
		return "superseded"
	}
	return ""
}

// stateOf sums up the newest runs of an environment's actions: one still
// going makes it deploying, else one failed makes it failed.
func stateOf(lanes []store.LaneRuns) deployState {
	d := deployState{Runs: lanes}
	rank := map[store.RunStatus]int{store.RunSucceeded: 1, store.RunSuperseded: 2, store.RunFailed: 3, store.RunQueued: 4, store.RunRunning: 4}
	worst := 0
	for _, l := range lanes {
		if r := rank[l.Latest.Status]; r > worst {
			worst = r
			d.Status = string(l.Latest.Status)
		}
	}
	if d.Status == string(store.RunQueued) || d.Status == string(store.RunRunning) {
		d.Status = "deploying"
	}
	return d
}

type modelsData struct {
	Repos      []Repository
	Repo       string // the filter: a repository's name, "" for all
	Stage      string
	Query      string
	Sort       string // "name" or "assigned"
	Deprecated bool
	Columns    []string // the stage columns shown
	AllColumns []string // every stage, for the stage filter
	Rows       []modelsRow
	Self       string // the page's URL, which the live table re-fetches
	Hidden     int    // deprecated artifacts left out
	Problems   []string
}

// modelsRow is a row with what depends on the request: the deploy
// states and what the principal may do.
type modelsRow struct {
	modelRow
	Cells []modelsCell
	// Which writes the principal may ask for: assign (some stage),
	// register, deprecate.
	CanAssign, CanRegister, CanDeprecate bool
	lanes                                map[[2]string][]store.LaneRuns
}

// modelsRowOf adds to a row what the principal may do and its
// environments' runs.
func (h *Handler) modelsRowOf(s *session, row modelRow, snap *snapshot, lanes map[[2]string][]store.LaneRuns) modelsRow {
	mr := modelsRow{modelRow: row, lanes: lanes}
	if h.changes != nil {
		mr.CanAssign = row.Active && assignable(s.Principal, row.Repo, snap)
		mr.CanRegister = s.Principal.Allows(access.Request{Repository: row.Repo.Name, Operation: access.Register})
		mr.CanDeprecate = row.Active && s.Principal.Allows(access.Request{Repository: row.Repo.Name, Operation: access.Deprecate})
	}
	return mr
}

// runsURL is the Deployments page of one environment.
func runsURL(repo, artifact, stage string) string {
	return "/ui/runs?" + url.Values{"repo": {repo}, "artifact": {artifact}, "stage": {stage}}.Encode()
}

type modelsCell struct {
	Stage string
	Held  bool
	stageCell
	Deploy    deployState
	CanAssign bool
	Runs      string // the Deployments page of this environment
	Assign    string // the dialog assigning this stage
}

// models is the Models page: every artifact of every repository the
// principal may read, a column per stage.
func (h *Handler) models(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := modelsData{Repos: h.readable(s.Principal), Repo: q.Get("repo"), Stage: q.Get("stage"), Query: strings.TrimSpace(q.Get("q")),
		Sort: q.Get("sort"), Deprecated: q.Get("deprecated") != "", Self: r.URL.RequestURI()}
	if d.Sort != "assigned" {
		d.Sort = "name"
	}
	var shown []Repository
	for _, repo := range d.Repos {
		if d.Repo == "" || d.Repo == repo.Name {
			shown = append(shown, repo)
		}
	}
	if d.Repo != "" && len(shown) == 0 {
		h.notFound(w, r, s, "There is no repository "+d.Repo+" you may read.")
		return
	}
	for _, repo := range shown {
		snap, err := h.regs.get(r.Context(), repo)
		if err != nil {
			h.storeFailed(w, r, s, err)
			return
		}
		if snap.FilesProblem != "" {
			d.Problems = append(d.Problems, repo.Name+": .gto and the artifacts index could not be read ("+snap.FilesProblem+"); stages and annotations may be missing.")
		}
		for _, stage := range stagesOf(snap) {
			if !slices.Contains(d.Columns, stage) {
				d.Columns = append(d.Columns, stage)
			}
		}
		lanes, err := h.envRuns.get(r.Context(), repo.Identity, "")
		if err != nil {
			h.storeFailed(w, r, s, err)
			return
		}
		byEnv := map[[2]string][]store.LaneRuns{}
		for _, l := range lanes {
			k := [2]string{l.Artifact, l.Stage}
			byEnv[k] = append(byEnv[k], l)
		}
		for _, row := range snap.rows() {
			if !matches(row, d) {
				if !row.Active && d.Stage == "" && (d.Query == "" || strings.Contains(strings.ToLower(row.Name), strings.ToLower(d.Query))) {
					d.Hidden++
				}
				continue
			}
			d.Rows = append(d.Rows, h.modelsRowOf(s, row, snap, byEnv))
		}
	}
	d.AllColumns = d.Columns
	if d.Stage != "" {
		d.Columns = []string{d.Stage}
	}
	for i := range d.Rows {
		row := &d.Rows[i]
		for _, stage := range d.Columns {
			c, held := row.Stages[stage]
			row.Cells = append(row.Cells, modelsCell{Stage: stage, Held: held, stageCell: c,
				Deploy:    stateOf(row.lanes[[2]string{row.Name, stage}]),
				CanAssign: h.changes != nil && s.Principal.Allows(access.Request{Repository: row.Repo.Name, Operation: access.Assign, Stage: stage}),
				Runs:      runsURL(row.Repo.Name, row.Name, stage),
				Assign:    row.Dialogs + "assign?" + url.Values{"artifact": {row.Name}, "stage": {stage}}.Encode()})
		}
	}
	slices.SortStableFunc(d.Rows, func(a, b modelsRow) int {
		if d.Sort == "assigned" {
			if c := b.LastAssigned.Compare(a.LastAssigned); c != 0 {
				return c
			}
		}
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Repo.Name, b.Repo.Name))
	})
	h.render(w, r, http.StatusOK, "models", &page{Title: "Models", Nav: "models", Session: s, Data: d})
}

// matches reports whether a row passes the page's filters.
func matches(row modelRow, d modelsData) bool {
	if !row.Active && !d.Deprecated {
		return false
	}
	if d.Query != "" && !strings.Contains(strings.ToLower(row.Name), strings.ToLower(d.Query)) {
		return false
	}
	if d.Stage != "" {
		if _, ok := row.Stages[d.Stage]; !ok {
			return false
		}
	}
	return true
}

package ui

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/tagparse"
)

// writeTimeout bounds a write once accepted; it is carried out whole even
// if the browser goes away, as the API's are.
const writeTimeout = 60 * time.Second

// writes are the dialog's operations, with their titles.
var writes = map[access.Operation]string{
	access.Register:   "Register version",
	access.Assign:     "Assign stage",
	access.Unassign:   "Unassign stage",
	access.Deregister: "Deregister version",
	access.Deprecate:  "Deprecate artifact",
}

// stageChoices are the stages the principal is offered for op: `.gto`'s
// stages it may use, in order; without `.gto` stages, the stages in use
// it may use, and free text when some scope allows op in some stage.
func stageChoices(p access.Principal, repo Repository, snap *snapshot, op access.Operation) (choices []string, free bool) {
	allowed := snap.Registry.Stages(true, false)
	candidates := allowed
	if allowed == nil {
		candidates = snap.Registry.Stages(false, true)
	}
	for _, stage := range candidates {
		if p.Allows(access.Request{Repository: repo.Name, Operation: op, Stage: stage}) {
			choices = append(choices, stage)
		}
	}
	return choices, allowed == nil && p.AllowsSome(repo.Name, op)
}

// assignable tells whether the principal is offered assignments at all.
func assignable(p access.Principal, repo Repository, snap *snapshot) bool {
	choices, free := stageChoices(p, repo, snap, access.Assign)
	return len(choices) > 0 || free
}

// offered reports whether the dialog offers op to the principal.
func offered(p access.Principal, repo Repository, snap *snapshot, op access.Operation) bool {
	if op.Staged() {
		choices, free := stageChoices(p, repo, snap, op)
		return len(choices) > 0 || free
	}
	return p.Allows(access.Request{Repository: repo.Name, Operation: op})
}

type dialogData struct {
	Repo      Repository
	Op        string
	Title     string
	Artifacts []string // to pick from when the request named none
	Versions  []versionChoice
	Stages    []string
	FreeStage bool
	Form      writeForm
	Preview   *preview
	Result    *writeResult
	// Modal: shown over the page it was opened from, rather than as a
	// page of its own.
	Modal bool
}

type versionChoice struct {
	Name   string
	Commit string
	Stages []string
}

// writeForm is what the dialog's form sends.
type writeForm struct {
	Artifact, Version, Ref, Stage, Message, Bump string
}

func formOf(r *http.Request) writeForm {
	v := r.Form
	if v == nil {
		v = r.URL.Query()
	}
	f := writeForm{Artifact: v.Get("artifact"), Version: v.Get("version"), Ref: strings.TrimSpace(v.Get("ref")),
		Stage: strings.TrimSpace(v.Get("stage")), Message: v.Get("message"), Bump: v.Get("bump")}
	return f
}

// request is the change.Request the form asks for as op.
func (f writeForm) request(op access.Operation) change.Request {
	req := change.Request{Artifact: f.Artifact, Message: f.Message}
	switch op {
	case access.Register:
		req.Version, req.Ref, req.Bump = f.Version, f.Ref, f.Bump
		if req.Version != "" {
			req.Bump = ""
		}
	case access.Assign, access.Unassign, access.Deregister:
		// A commit given names the version; the version picker is then
		// left alone.
		req.Version, req.Ref = f.Version, f.Ref
		if req.Ref != "" {
			req.Version = ""
		}
		if op != access.Deregister {
			req.Stage = f.Stage
		}
	case access.Deprecate:
	}
	return req
}

// dialogOf reads the dialog's repository, operation and form, and answers
// the request itself when it cannot go on.
func (h *Handler) dialogOf(w http.ResponseWriter, r *http.Request, s *session) (*dialogData, *snapshot, bool) {
	repo, ok := h.named(r)
	op := access.Operation(r.PathValue("op"))
	title, isWrite := writes[op]
	if !ok || !isWrite {
		h.notFound(w, r, s, "There is no such page: "+r.URL.Path+".")
		return nil, nil, false
	}
	if !s.Principal.Allows(access.Request{Repository: repo.Name, Operation: access.Read}) {
		h.notFound(w, r, s, "There is no repository "+repo.Name+" you may read.")
		return nil, nil, false
	}
	if h.changes == nil {
		h.refuse(w, r, s, http.StatusServiceUnavailable, "This hookd makes no writes (it was started without the change service).")
		return nil, nil, false
	}
	snap, err := h.regs.get(r.Context(), repo)
	if err != nil {
		h.storeFailed(w, r, s, err)
		return nil, nil, false
	}
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
	}
	d := &dialogData{Repo: repo, Op: string(op), Title: title, Form: formOf(r), Modal: htmx(r)}
	d.Stages, d.FreeStage = stageChoices(s.Principal, repo, snap, op)
	if d.Form.Artifact == "" && op != access.Register {
		for _, a := range snap.Registry.Artifacts() {
			d.Artifacts = append(d.Artifacts, a.Name)
		}
		slices.Sort(d.Artifacts)
	}
	d.Versions = versionChoices(snap.Registry, d.Form.Artifact)
	return d, snap, true
}

// versionChoices are an artifact's registered active versions, newest
// first, with the stages each is in.
func versionChoices(reg *registry.Registry, artifact string) []versionChoice {
	states, err := reg.ShowArtifact(artifact, "", registry.ShowOptions{RegisteredOnly: true, AssignmentsPerVersion: -1, VersionsPerStage: -1})
	if err != nil {
		return nil
	}
	var out []versionChoice
	for _, v := range states {
		c := versionChoice{Name: v.Version, Commit: v.Commit}
		for _, st := range v.Stages {
			c.Stages = append(c.Stages, st.Stage)
		}
		out = append(out, c)
	}
	return out
}

// writeDialog is the Assign stage / Promote dialog and its siblings. To
// htmx it is the dialog alone, shown over the page; otherwise a page.
func (h *Handler) writeDialog(w http.ResponseWriter, r *http.Request, s *session) {
	d, snap, ok := h.dialogOf(w, r, s)
	if !ok {
		return
	}
	if !offered(s.Principal, d.Repo, snap, access.Operation(d.Op)) {
		h.refuse(w, r, s, http.StatusForbidden, s.Principal.Name+" may not "+d.Op+" in "+d.Repo.Name+".")
		return
	}
	if d.Op == string(access.Unassign) && d.Form.Version == "" && d.Form.Stage != "" {
		if c, ok := cellOf(snap.Registry, d.Form.Artifact, d.Form.Stage); ok {
			d.Form.Version = c.Version
		}
	}
	if d.Form.Artifact != "" {
		d.Preview = h.preview(s, d, snap)
	}
	if htmx(r) {
		h.fragment(w, http.StatusOK, "write", "dialog", &page{Session: s, Data: d})
		return
	}
	h.render(w, r, http.StatusOK, "write", &page{Title: d.Title, Nav: "models", Session: s, Data: d})
}

// writePreview answers the dialog's preview as the form changes.
func (h *Handler) writePreview(w http.ResponseWriter, r *http.Request, s *session) {
	d, snap, ok := h.dialogOf(w, r, s)
	if !ok {
		return
	}
	h.fragment(w, http.StatusOK, "write", "preview", &page{Session: s, Data: h.preview(s, d, snap)})
}

// preview is what the dialog says will happen before it is submitted.
type preview struct {
	Artifact string
	Stage    string
	// Current is what the stage holds now; Candidate what it would hold.
	Current, Candidate string
	// Direction: promotion, rollback, or redeploy of the version it holds.
	Direction string
	Promotion []string // the repository's promotion order, if any
	// Missing is the stage the candidate must have been in first.
	Missing string
	Allowed bool
	Denial  string
	Tags    []string // the tags GTO would create
	Output  []string
	Refusal string // GTO's words when it would refuse
	// Incomplete says what the form still needs before GTO can be asked.
	Incomplete string
}

func (h *Handler) preview(s *session, d *dialogData, snap *snapshot) *preview {
	op := access.Operation(d.Op)
	req := d.Form.request(op)
	p := &preview{Artifact: req.Artifact, Stage: req.Stage, Promotion: d.Repo.Promotion}
	if err := s.Principal.Check(access.Request{Repository: d.Repo.Name, Operation: op, Stage: req.Stage}); err != nil {
		p.Denial = err.Error()
	} else {
		p.Allowed = true
	}
	if op == access.Assign && req.Stage != "" {
		if c, ok := cellOf(snap.Registry, req.Artifact, req.Stage); ok {
			p.Current = c.Version
		}
		p.Candidate = req.Version
		if req.Ref != "" {
			p.Candidate = "a new version at " + req.Ref
		}
		p.Direction = direction(p.Current, req.Version)
	}
	switch {
	case op.Staged() && req.Stage == "":
		p.Incomplete = "Choose a stage."
		return p
	case op != access.Register && op != access.Deprecate && req.Version == "" && req.Ref == "":
		p.Incomplete = "Choose a version."
		return p
	}
	commit := ""
	if req.Ref != "" {
		// The preview does not ask the repository what the ref names;
		// a full sha stands for itself, anything else is resolved when
		// the form is submitted.
		if !isFullSHA(req.Ref) {
			p.Incomplete = "The commit " + req.Ref + " is looked up when you submit."
			return p
		}
		commit = req.Ref
	}
	plan, err := change.Preview(snap.Registry, change.Repository{Promotion: d.Repo.Promotion},
		s.Principal, d.Repo.Name, op, req, commit)
	var promotion *change.PromotionError
	switch {
	case errors.As(err, &promotion):
		p.Missing = promotion.Previous
		p.Refusal = err.Error()
	case err != nil:
		p.Refusal = err.Error()
	default:
		for _, t := range plan.Create {
			p.Tags = append(p.Tags, t.Name)
		}
		p.Output = plan.Output
	}
	return p
}

// direction says what moving a stage from current to candidate is.
func direction(current, candidate string) string {
	switch {
	case candidate == "":
		return ""
	case current == "":
		return "promotion"
	case current == candidate:
		return "redeploy"
	case tagparse.IsVersion(current) && tagparse.IsVersion(candidate) && tagparse.CompareVersions(candidate, current) < 0:
		return "rollback"
	}
	return "promotion"
}

func isFullSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// writeResult is how a submitted write ended.
type writeResult struct {
	Status int
	Tags   []string
	Output []string
	Error  string
}

// write carries out the dialog's write through the companion API's path:
// scopes, GTO's rules, the promotion order, the audit log.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, s *session) {
	d, _, ok := h.dialogOf(w, r, s)
	if !ok {
		return
	}
	op := access.Operation(d.Op)
	req := d.Form.request(op)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	res, err := h.changes.Do(ctx, change.Actor{Principal: s.Principal, Via: "dashboard"}, d.Repo.Name, op, req)
	result := &writeResult{Status: change.Status(err), Tags: res.Tags, Output: res.Output}
	if err != nil {
		result.Error = err.Error()
		if result.Status >= 500 {
			h.log.Error("dashboard: write failed", "principal", s.Principal.Name, "repository", d.Repo.Name, "operation", op, "tags", res.Tags, "error", err)
		}
	} else {
		h.log.Info("dashboard write", "principal", s.Principal.Name, "repository", d.Repo.Name, "operation", op, "tags", res.Tags)
	}
	d.Result = result
	if htmx(r) {
		h.fragment(w, result.Status, "write", "result", &page{Session: s, Data: d})
		return
	}
	h.render(w, r, result.Status, "write", &page{Title: d.Title, Nav: "models", Session: s, Data: d})
}

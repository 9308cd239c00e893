package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/client"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

// The companion API: /api/v1/repos/{owner}/{repo}/... reads a repository's
// registry as gto's --json output does, and creates GTO tags as gto's
// commands would, through package change. {owner}/{repo} is the name the
// configuration gives the repository (its GitHub owner/name, or a local
// repository's "as:"), which is also what scopes name.
//
// An artifact name in a path is one segment: a monorepo artifact's "/" is
// sent as %2F (models%2Fchurn:rf), and a shortcut's "#" as %23.

// MaxWriteBodyBytes bounds the body of a write request.
const MaxWriteBodyBytes = 64 << 10

// repoRoutes are the endpoints of the companion API.
func (h *Handler) repoRoutes() []apiRoute {
	const base = "/api/v1/repos/{owner}/{repo}"
	rs := []apiRoute{
		{pattern: base + "/artifacts", name: "api_repo_show", methods: methods{http.MethodGet: h.show}},
		{pattern: base + "/artifacts/{name}", name: "api_repo_show_artifact", methods: methods{http.MethodGet: h.showArtifact}},
		{pattern: base + "/artifacts/{name}/history", name: "api_repo_artifact_history", methods: methods{http.MethodGet: h.history}},
		{pattern: base + "/history", name: "api_repo_history", methods: methods{http.MethodGet: h.history}},
		{pattern: base + "/stages", name: "api_repo_stages", methods: methods{http.MethodGet: h.stages}},
		{pattern: base + "/check-ref", name: "api_repo_check_ref", methods: methods{http.MethodGet: h.checkRef}},
	}
	for _, op := range access.Operations {
		if op.Write() {
			rs = append(rs, apiRoute{pattern: base + "/" + string(op), name: "api_repo_" + string(op),
				methods: methods{http.MethodPost: h.write(op)}})
		}
	}
	return rs
}

// repoName is the repository the path names, as the API calls it.
func repoName(r *http.Request) string {
	return r.PathValue("owner") + "/" + r.PathValue("repo")
}

// available answers 503 when this handler has nothing to read or write
// registries through.
func (h *Handler) available(w http.ResponseWriter) bool {
	if h.changes == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable",
			"this hookd serves no repository reads or writes (it was started without the change service)")
		return false
	}
	return true
}

// write answers POST /api/v1/repos/{owner}/{repo}/{op}: the body is a
// change.Request; 201 carries the created tags, what gto prints for them,
// and the events they caused as recorded.
func (h *Handler) write(op access.Operation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.available(w) {
			return
		}
		req, status, err := decodeRequest(w, r)
		if err != nil {
			code := "invalid"
			if status == http.StatusRequestEntityTooLarge {
				code = "too_large"
			}
			writeError(w, status, code, err.Error())
			return
		}
		repo := repoName(r)
		who := principal(r)
		// A write, once accepted, is carried out whole even if the client
		// goes away: stopping between a registration and its assignment
		// would leave half of what was asked for. The bound sits under the
		// server's write timeout.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), commandTimeout)
		defer cancel()
		res, err := h.changes.Do(ctx, change.Actor{Principal: who, Via: "api"}, repo, op, req)
		if err != nil {
			h.changeError(w, err, res, "write", "principal", who.Name, "repository", repo, "operation", op)
			return
		}
		events := make([]apiEvent, len(res.Events))
		for i, e := range res.Events {
			events[i] = toAPIEvent(e)
		}
		h.log.Info("API write", "principal", who.Name, "repository", repo, "operation", op, "tags", res.Tags)
		writeJSON(w, http.StatusCreated, writeResult{Tags: nonNil(res.Tags), Output: nonNil(res.Output), Events: events})
	}
}

type writeResult = client.WriteResult

// changeError answers a failed read or write with change's status and
// code. The tags a write created before it failed, and gto's lines for
// them, are in the body too. A 5xx is logged: the body says what failed,
// the log has the context.
func (h *Handler) changeError(w http.ResponseWriter, err error, res change.Result, what string, logArgs ...any) {
	status := change.Status(err)
	if status >= 500 {
		h.log.Error("companion API: "+what+" failed", append(logArgs, "status", status, "tags", res.Tags, "error", err)...)
	}
	body := map[string]any{"error": change.Code(err), "message": err.Error()}
	if len(res.Tags) > 0 {
		body["tags"], body["output"] = res.Tags, res.Output
	}
	writeJSON(w, status, body)
}

// requestFields are the JSON names of change.Request's fields, for the
// message about an unknown one.
var requestFields = func() string {
	var names []string
	t := reflect.TypeFor[change.Request]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}()

// decodeRequest reads a write's body strictly: one JSON object of
// change.Request's fields, at most MaxWriteBodyBytes. The error is for the
// client, with the status to answer it with.
func decodeRequest(w http.ResponseWriter, r *http.Request) (change.Request, int, error) {
	var req change.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxWriteBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err == nil {
		return req, 0, nil
	}
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return req, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes", MaxWriteBodyBytes)
	case errors.Is(err, io.EOF):
		return req, http.StatusUnprocessableEntity, errors.New(`the body is empty; send a JSON object such as {"artifact": "churn", "version": "v1.0.0", "stage": "prod"}`)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return req, http.StatusUnprocessableEntity, errors.New("the body is not valid JSON: it ends too early")
	case errors.As(err, &syntax):
		return req, http.StatusUnprocessableEntity, fmt.Errorf("the body is not valid JSON: %s (at byte %d)", strings.TrimPrefix(syntax.Error(), "json: "), syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return req, http.StatusUnprocessableEntity, fmt.Errorf("the body must be a JSON object, not %s", typ.Value)
	case errors.As(err, &typ):
		return req, http.StatusUnprocessableEntity, fmt.Errorf("%s must be a %s, not %s", typ.Field, jsonKind(typ.Type), typ.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		msg += "; a request's fields are " + requestFields
	}
	return req, http.StatusUnprocessableEntity, errors.New(msg)
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64, reflect.Uint8, reflect.Float64:
		return "number"
	}
	return t.String()
}

// registryOf reads the registry of the path's repository for the request's
// principal, or answers why not.
func (h *Handler) registryOf(w http.ResponseWriter, r *http.Request) (*registry.Registry, bool) {
	return h.registryFor(w, r, nil)
}

// registryFor is registryOf for an answer that may not need the
// registry's state: when GTO refuses to read the state (a
// *registry.StateError), the registry is still answered with if stateless
// says the answer does without it.
func (h *Handler) registryFor(w http.ResponseWriter, r *http.Request, stateless func(*registry.Registry) bool) (*registry.Registry, bool) {
	if !h.available(w) {
		return nil, false
	}
	reg, err := h.changes.Registry(r.Context(), principal(r), repoName(r))
	var refused *registry.StateError
	if err != nil && reg != nil && stateless != nil && errors.As(err, &refused) && stateless(reg) {
		err = nil
	}
	if err != nil {
		h.changeError(w, err, change.Result{}, "read", "principal", principal(r).Name, "repository", repoName(r), "path", r.URL.Path)
		return nil, false
	}
	return reg, true
}

// params reads a registry read's query parameters: only those named are
// accepted, so a misspelt option is an error rather than ignored.
type params struct {
	r   *http.Request
	err error
}

func readParams(r *http.Request, allowed ...string) *params {
	p := &params{r: r}
	var unknown []string
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		takes := "no parameters"
		if len(allowed) > 0 {
			takes = strings.Join(allowed, ", ")
		}
		p.err = fmt.Errorf("unknown parameter %s; this endpoint takes %s", strings.Join(unknown, ", "), takes)
	}
	return p
}

func (p *params) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

func (p *params) str(name string) string { return p.r.URL.Query().Get(name) }

func (p *params) bool(name string) bool {
	v := p.str(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail("%s must be true or false", name)
	}
	return b
}

// count reads an option of gto show that is a number or -1 for all.
func (p *params) count(name string, def int) int {
	if !p.r.URL.Query().Has(name) {
		return def
	}
	n, err := strconv.Atoi(p.str(name))
	if err != nil || n < -1 {
		p.fail("%s must be a whole number, or -1 for all", name)
	}
	return n
}

// ok answers 422 for the first invalid parameter.
func (p *params) ok(w http.ResponseWriter) bool {
	if p.err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_parameter", p.err.Error())
		return false
	}
	return true
}

// The options of gto show, by query parameter.
var showParams = []string{"registered_only", "deprecated", "assignments_per_version", "versions_per_stage", "sort"}

func (p *params) showOptions() registry.ShowOptions {
	o := registry.DefaultShowOptions()
	o.RegisteredOnly = p.bool("registered_only")
	o.Deprecated = p.bool("deprecated")
	o.AssignmentsPerVersion = p.count("assignments_per_version", o.AssignmentsPerVersion)
	o.VersionsPerStage = p.count("versions_per_stage", o.VersionsPerStage)
	if s := p.str("sort"); s != "" {
		sort, err := registry.ParseSort(s)
		if err != nil {
			p.fail("%v", err)
		}
		o.Sort = sort
	}
	return o
}

// show is `gto show --json`.
func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	p := readParams(r, showParams...)
	opts := p.showOptions()
	if !p.ok(w) {
		return
	}
	reg, ok := h.registryOf(w, r)
	if !ok {
		return
	}
	overview, err := reg.Show(opts)
	if err != nil {
		h.changeError(w, err, change.Result{}, "read")
		return
	}
	writeGTOJSON(w, overview)
}

// showArtifact is `gto show NAME --json`; NAME may be a shortcut
// (NAME@latest, NAME@vX.Y.Z, NAME#stage), and ?ref= keeps the versions at
// a git reference.
func (h *Handler) showArtifact(w http.ResponseWriter, r *http.Request) {
	p := readParams(r, append(showParams, "ref")...)
	opts := p.showOptions()
	ref := p.str("ref")
	if !p.ok(w) {
		return
	}
	reg, ok := h.registryOf(w, r)
	if !ok {
		return
	}
	var commit string
	if ref != "" {
		repo, err := h.changes.Repository(repoName(r))
		var c registry.Commit
		if err == nil {
			c, err = repo.Source.Commit(r.Context(), ref)
		}
		if errors.Is(err, source.ErrNotFound) {
			err = registry.RefNotFound(ref)
		}
		if err != nil {
			h.changeError(w, err, change.Result{}, "read", "repository", repoName(r), "ref", ref)
			return
		}
		commit = c.Hash
	}
	versions, err := reg.ShowArtifact(r.PathValue("name"), commit, opts)
	if err != nil {
		h.changeError(w, err, change.Result{}, "read")
		return
	}
	writeGTOJSON(w, versions)
}

// history is `gto history [NAME] --json`, newest first unless
// ?ascending=true.
func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	p := readParams(r, "ascending")
	ascending := p.bool("ascending")
	if !p.ok(w) {
		return
	}
	reg, ok := h.registryOf(w, r)
	if !ok {
		return
	}
	writeGTOJSON(w, reg.History(r.PathValue("name"), ascending))
}

// stages is `gto stages --json`, with ?allowed=true or ?used=true.
func (h *Handler) stages(w http.ResponseWriter, r *http.Request) {
	p := readParams(r, "allowed", "used")
	allowed, used := p.bool("allowed"), p.bool("used")
	if allowed && used {
		p.fail("allowed and used exclude each other")
	}
	if !p.ok(w) {
		return
	}
	reg, ok := h.registryOf(w, r)
	if !ok {
		return
	}
	// null when allowed and .gto lists none, as gto prints it.
	writeGTOJSON(w, reg.Stages(allowed, used))
}

// checkRef is `gto check-ref TAG --json` as a list: the events the tag
// created, [] for none. gto prints the one event as an object, or nothing,
// and refuses a tag with more than one; the list leaves that to the client
// (hookd's remote CLI does as gto does). As gto, it answers [] for a tag
// that is missing or not GTO's even when GTO refuses the registry's state.
func (h *Handler) checkRef(w http.ResponseWriter, r *http.Request) {
	p := readParams(r, "tag")
	tag := p.str("tag")
	if tag == "" {
		p.fail("tag is required: ?tag=NAME (escape # as %%23)")
	}
	if !p.ok(w) {
		return
	}
	reg, ok := h.registryFor(w, r, func(reg *registry.Registry) bool { return !reg.HasGTOTag(tag) })
	if !ok {
		return
	}
	writeGTOJSON(w, reg.CheckRef(tag))
}

// writeGTOJSON answers 200 with v as gto --json prints it (no HTML
// escaping of <, > and &).
func writeGTOJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/client"
	"github.com/hookd-dev/hookd/store"
)

// Records is what the operations API reads and re-queues; *store.Store has
// it.
type Records interface {
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	Event(ctx context.Context, id int64) (store.Event, error)
	Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
	Delivery(ctx context.Context, id string) (store.Delivery, error)
	Replay(ctx context.Context, id string) error
	Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	Run(ctx context.Context, id int64) (store.Run, error)
	RetryRun(ctx context.Context, id int64) error
	Lanes(ctx context.Context, f store.LaneFilter) ([]store.Lane, error)
	Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// apiRoute is one endpoint under /api/v1.
type apiRoute struct {
	pattern string // a ServeMux pattern without method, also the OpenAPI path
	name    string // its route label in hookd_http_request_duration_seconds
	public  bool   // answered without a token
	methods methods
}

// api lists every endpoint under /api/v1: apiRoutes registers them,
// APIRoutes tells them, and the OpenAPI document describes exactly them.
//
// The operations API: what arrived (deliveries), what it meant (events)
// and what hookd did about it (runs), with replay and retry for the
// 3 a.m. cases. The companion API (repos.go): registry reads and writes
// of one repository.
func (h *Handler) api() []apiRoute {
	return append([]apiRoute{
		{pattern: "/api/v1/openapi.json", name: "api_openapi", public: true, methods: methods{http.MethodGet: serveOpenAPI}},
		{pattern: "/api/v1/events", name: "api_events", methods: methods{http.MethodGet: h.listEvents}},
		{pattern: "/api/v1/events/{id}", name: "api_event", methods: methods{http.MethodGet: h.getEvent}},
		{pattern: "/api/v1/deliveries", name: "api_deliveries", methods: methods{http.MethodGet: h.listDeliveries}},
		{pattern: "/api/v1/deliveries/{id}", name: "api_delivery", methods: methods{http.MethodGet: h.getDelivery}},
		{pattern: "/api/v1/deliveries/{id}/replay", name: "api_replay", methods: methods{http.MethodPost: h.replay}},
		{pattern: "/api/v1/runs", name: "api_runs", methods: methods{http.MethodGet: h.listRuns}},
		{pattern: "/api/v1/runs/{id}", name: "api_run", methods: methods{http.MethodGet: h.getRun}},
		{pattern: "/api/v1/runs/{id}/retry", name: "api_retry", methods: methods{http.MethodPost: h.retryRun}},
		{pattern: "/api/v1/lanes", name: "api_lanes", methods: methods{http.MethodGet: h.listLanes}},
		{pattern: "/api/v1/audit", name: "api_audit", methods: methods{http.MethodGet: h.listAudit}},
	}, h.repoRoutes()...)
}

// apiRoutes registers the endpoints of api, each behind the token unless
// public.
func (h *Handler) apiRoutes() {
	for _, rt := range h.api() {
		var next http.Handler = rt.methods
		if !rt.public {
			next = h.authenticated(next)
		}
		h.mux.Handle(rt.pattern, h.timed(rt.name, next))
	}
}

// Route is an endpoint: a net/http ServeMux pattern and the methods it
// answers.
type Route struct {
	Pattern string
	Methods []string // sorted
}

// APIRoutes lists the endpoints registered under /api/v1, which the
// OpenAPI document at /api/v1/openapi.json describes.
func (h *Handler) APIRoutes() []Route {
	var out []Route
	for _, rt := range h.api() {
		ms := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			ms = append(ms, m)
		}
		slices.Sort(ms)
		out = append(out, Route{Pattern: rt.pattern, Methods: ms})
	}
	return out
}

// Tokens maps the SHA-256 of each API bearer token to who holds it and
// what it may do.
type Tokens map[[sha256.Size]byte]access.Principal

// SetTokens replaces the API's tokens at once, as SetSecrets does.
func (h *Handler) SetTokens(t Tokens) { h.tokens.Store(&t) }

// SetRepositoryPaths tells the post-receive hook's endpoint the name of
// each path repository, by its path: the hook reports a repository by its
// path unless it was given the name. Everything past ingress (records,
// scopes, the API) knows a repository by its name only.
func (h *Handler) SetRepositoryPaths(paths map[string]string) { h.paths.Store(&paths) }

// repositoryName is the name of the repository a delivery reports as
// reported: its name, or a path repository's path.
func (h *Handler) repositoryName(reported string) string {
	if name, ok := (*h.paths.Load())[reported]; ok {
		return name
	}
	return reported
}

type principalKey struct{}

// principal is who sent r; authenticated put it there.
func principal(r *http.Request) access.Principal {
	p, _ := r.Context().Value(principalKey{}).(access.Principal)
	return p
}

// authenticated lets a request through only with a configured bearer
// token, and tells the handler whose it is. Every configured hash is
// compared, in constant time, so the answer's timing tells nothing about
// how close a guess was.
func (h *Handler) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens := *h.tokens.Load()
		if len(tokens) == 0 {
			writeUnauthorized(w, "the API needs a token and none is configured: add tokens: to hookd's configuration")
			return
		}
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || bearer == "" {
			writeUnauthorized(w, "send Authorization: Bearer TOKEN")
			return
		}
		sum := sha256.Sum256([]byte(bearer))
		var (
			who   access.Principal
			found bool
		)
		for hash, p := range tokens {
			if subtle.ConstantTimeCompare(sum[:], hash[:]) == 1 {
				who, found = p, true
			}
		}
		if !found {
			writeUnauthorized(w, "the token is not one of hookd's")
			return
		}
		if r.Method != http.MethodGet {
			h.log.Info("API call", "token", who.Name, "method", r.Method, "path", r.URL.Path)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, who)))
	})
}

// permit reports whether the request's principal may do op on the
// repository, and answers 403 when not.
func (h *Handler) permit(w http.ResponseWriter, r *http.Request, op access.Operation, repository string) bool {
	err := principal(r).Check(access.Request{Repository: repository, Operation: op})
	if err != nil {
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
		return false
	}
	return true
}

// permitRecord checks a request for one stored record (an event, a
// delivery, a run) of repository: a principal that may not read the
// repository is told the record does not exist, as a missing one is, so
// ids cannot be probed across repositories; one that may read it but not
// do op is refused.
func (h *Handler) permitRecord(w http.ResponseWriter, r *http.Request, op access.Operation, repository string) bool {
	if !principal(r).Allows(access.Request{Repository: repository, Operation: access.Read}) {
		h.storeError(w, store.ErrNotFound)
		return false
	}
	return h.permit(w, r, op, repository)
}

// permitList checks a list request: with ?repository= the principal must
// read that repository; without, every repository.
func (h *Handler) permitList(w http.ResponseWriter, r *http.Request, repository string) bool {
	if repository != "" {
		return h.permit(w, r, access.Read, repository)
	}
	if p := principal(r); !p.AllRepositories(access.Read) {
		writeError(w, http.StatusForbidden, "forbidden", p.Name+" may read some repositories only: add ?repository=owner/name")
		return false
	}
	return true
}

func writeUnauthorized(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="hookd"`)
	writeError(w, http.StatusUnauthorized, "unauthorized", message)
}

// methods routes by method and answers others 405 with Allow and hookd's
// error body.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f, ok := m[r.Method]; ok {
		f(w, r)
		return
	}
	allowed := make([]string, 0, len(m))
	for method := range m {
		allowed = append(allowed, method)
	}
	slices.Sort(allowed)
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+strings.Join(allowed, " or "))
}

// query reads the filters and paging of a list request; the first invalid
// parameter is kept in err.
type query struct {
	r   *http.Request
	err error
}

func (q *query) str(name string, allowed ...string) string {
	v := q.r.URL.Query().Get(name)
	if v != "" && len(allowed) > 0 && !slices.Contains(allowed, v) && q.err == nil {
		q.err = errors.New(name + " must be one of " + strings.Join(allowed, ", "))
	}
	return v
}

func (q *query) page() store.Page {
	var p store.Page
	p.Limit = q.int("limit", 1, 500)
	p.Before = int64(q.int("before", 1, 1<<62))
	return p
}

func (q *query) int(name string, lo, hi int) int {
	v := q.r.URL.Query().Get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if (err != nil || n < lo || n > hi) && q.err == nil {
		q.err = errors.New(name + " must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return n
}

// serveList answers a list request: the principal must read repository
// (every repository when it is ""), the page is fetched
// unless a parameter was invalid, and each record is shown as the API shows
// it, with the cursor of the next page (null on the last one). id is the
// record's paging key.
func serveList[R, A any](h *Handler, w http.ResponseWriter, r *http.Request, q *query, key, repository string, limit int,
	fetch func(context.Context) ([]R, error), show func(R) A, id func(R) int64) {
	if !h.permitList(w, r, repository) {
		return
	}
	if q.err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_parameter", q.err.Error())
		return
	}
	records, err := fetch(r.Context())
	if err != nil {
		h.storeError(w, err)
		return
	}
	out := make([]A, len(records))
	for i, rec := range records {
		out[i] = show(rec)
	}
	if limit == 0 {
		limit = 50
	}
	var next *int64
	if n := len(records); n == limit {
		last := id(records[n-1])
		next = &last
	}
	writeJSON(w, http.StatusOK, map[string]any{key: out, "next_before": next})
}

func (h *Handler) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, store.ErrPruned):
		writeError(w, http.StatusConflict, "payload_pruned", "the delivery's payload was pruned by retention; it cannot be replayed")
	case errors.Is(err, store.ErrRunState):
		writeError(w, http.StatusConflict, "run_not_finished", "only a finished run (succeeded, failed or superseded), or one nothing is executing, can be retried; this one is queued or running")
	default:
		h.log.Error("operations API: store error", "error", err)
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the database did not answer")
	}
}

var eventTypes = []string{
	string(store.EventRegistration), string(store.EventDeregistration), string(store.EventAssignment),
	string(store.EventUnassignment), string(store.EventDeprecation), string(store.EventTagDeleted),
}

func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	repo := q.str("repository")
	f := store.EventFilter{Repository: repo, Artifact: q.str("artifact"), Stage: q.str("stage"),
		Type: store.EventType(q.str("type", eventTypes...)), Page: q.page()}
	serveList(h, w, r, q, "events", repo, f.Limit,
		func(ctx context.Context) ([]store.Event, error) { return h.store.Events(ctx, f) },
		toAPIEvent, func(e store.Event) int64 { return e.ID })
}

// pathID reads the {id} of the path as a positive integer.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, "not_found", "no such id: "+r.PathValue("id"))
		return 0, false
	}
	return id, true
}

func (h *Handler) getEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if e, ok := loadRecord(h, w, r, access.Read, func(ctx context.Context) (store.Event, error) { return h.store.Event(ctx, id) },
		func(e store.Event) string { return e.Repository }); ok {
		writeJSON(w, http.StatusOK, toAPIEvent(e))
	}
}

// loadRecord reads one stored record with load and checks that the
// principal may do op on the record's repository (see permitRecord). It
// reports false when it has answered the request instead.
func loadRecord[R any](h *Handler, w http.ResponseWriter, r *http.Request, op access.Operation,
	load func(context.Context) (R, error), repository func(R) string) (R, bool) {
	rec, err := load(r.Context())
	if err != nil {
		h.storeError(w, err)
		return rec, false
	}
	return rec, h.permitRecord(w, r, op, repository(rec))
}

var deliveryStatuses = []string{
	string(store.DeliveryQueued), string(store.DeliveryProcessed), string(store.DeliveryIgnored), string(store.DeliveryFailed),
}

func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	repo := q.str("repository")
	f := store.DeliveryFilter{Repository: repo, Event: q.str("event"),
		Status: store.DeliveryStatus(q.str("status", deliveryStatuses...)), Page: q.page()}
	serveList(h, w, r, q, "deliveries", repo, f.Limit,
		func(ctx context.Context) ([]store.Delivery, error) { return h.store.Deliveries(ctx, f) },
		toAPIDelivery, func(d store.Delivery) int64 { return d.Seq })
}

func (h *Handler) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, ok := h.loadDelivery(w, r, access.Read)
	if !ok {
		return
	}
	out := toAPIDelivery(d)
	if json.Valid(d.Body) {
		out.Payload = json.RawMessage(d.Body)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) loadDelivery(w http.ResponseWriter, r *http.Request, op access.Operation) (store.Delivery, bool) {
	return loadRecord(h, w, r, op, func(ctx context.Context) (store.Delivery, error) { return h.store.Delivery(ctx, r.PathValue("id")) },
		func(d store.Delivery) string { return d.Repository })
}

func (h *Handler) replay(w http.ResponseWriter, r *http.Request) {
	d, ok := h.loadDelivery(w, r, access.Retry)
	if !ok {
		return
	}
	if err := h.store.Replay(r.Context(), d.ID); err != nil {
		h.storeError(w, err)
		return
	}
	h.log.Info("delivery replayed", "delivery", d.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued", "delivery": d.ID})
}

var runStatuses = []string{
	string(store.RunQueued), string(store.RunRunning), string(store.RunSucceeded), string(store.RunFailed), string(store.RunSuperseded),
}

func (h *Handler) listRuns(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	repo := q.str("repository")
	f := store.RunFilter{Repository: repo, Artifact: q.str("artifact"), Stage: q.str("stage"),
		Action: q.str("action"), Status: store.RunStatus(q.str("status", runStatuses...)),
		EventID: int64(q.int("event", 1, 1<<62)), Page: q.page()}
	serveList(h, w, r, q, "runs", repo, f.Limit,
		func(ctx context.Context) ([]store.Run, error) { return h.store.Runs(ctx, f) },
		toAPIRun, func(run store.Run) int64 { return run.ID })
}

// listLanes answers what each environment should run (what GTO shows for
// its stage) beside what it last deployed. Lanes are few (artifacts ×
// stages × actions), so they come in one answer.
func (h *Handler) listLanes(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	repo := q.str("repository")
	f := store.LaneFilter{Repository: h.repositoryName(repo), Artifact: q.str("artifact"), Stage: q.str("stage"), Action: q.str("action")}
	if !h.permitList(w, r, repo) {
		return
	}
	if q.err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_parameter", q.err.Error())
		return
	}
	lanes, err := h.store.Lanes(r.Context(), f)
	if err != nil {
		h.storeError(w, err)
		return
	}
	out := make([]apiLane, len(lanes))
	for i, l := range lanes {
		out[i] = apiLane{Repository: l.Repository, Artifact: l.Artifact, Stage: l.Stage, Action: l.Action,
			Desired: nonNil(l.Desired), DesiredEventID: l.DesiredEventID, Deployed: nonNil(l.Deployed),
			DeployedRunID: l.DeployedRunID, InSync: l.InSync(), UpdatedAt: l.UpdatedAt}
		if !l.DeployedAt.IsZero() {
			out[i].DeployedAt = &l.DeployedAt
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"lanes": out})
}

func (h *Handler) getRun(w http.ResponseWriter, r *http.Request) {
	if run, ok := h.loadRun(w, r, access.Read); ok {
		writeJSON(w, http.StatusOK, toAPIRun(run))
	}
}

func (h *Handler) loadRun(w http.ResponseWriter, r *http.Request, op access.Operation) (store.Run, bool) {
	id, ok := pathID(w, r)
	if !ok {
		return store.Run{}, false
	}
	return loadRecord(h, w, r, op, func(ctx context.Context) (store.Run, error) { return h.store.Run(ctx, id) },
		func(run store.Run) string { return run.Repository })
}

func (h *Handler) retryRun(w http.ResponseWriter, r *http.Request) {
	run, ok := h.loadRun(w, r, access.Retry)
	if !ok {
		return
	}
	if err := h.store.RetryRun(r.Context(), run.ID); err != nil {
		h.storeError(w, err)
		return
	}
	h.log.Info("run retried by hand", "run", run.ID)
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "queued", "run": run.ID})
}

// listAudit answers who asked for which write and how it ended. Entries
// name repositories as the API does (owner/name).
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	f := store.AuditFilter{Repository: q.str("repository"), Principal: q.str("principal"), Artifact: q.str("artifact"), Page: q.page()}
	serveList(h, w, r, q, "entries", f.Repository, f.Limit,
		func(ctx context.Context) ([]store.AuditEntry, error) { return h.store.Audit(ctx, f) },
		toAPIAuditEntry, func(e store.AuditEntry) int64 { return e.ID })
}

func toAPIAuditEntry(e store.AuditEntry) apiAuditEntry {
	out := apiAuditEntry{ID: e.ID, At: e.At, Principal: e.Principal, Via: e.Via, Repository: e.Repository,
		Operation: e.Operation, Artifact: e.Artifact, Version: e.Version, Stage: e.Stage,
		Request: json.RawMessage(e.Request), Status: e.Status, Tags: nonNil(e.Tags), Error: e.Error}
	if !json.Valid(out.Request) {
		out.Request = json.RawMessage("null")
	}
	return out
}

// The API's JSON shapes are package client's types, the OpenAPI
// document's schemas: snake_case, times in RFC 3339 (tagger times with the
// tagger's offset, as GTO prints them). Server and client share one
// definition, so they cannot drift apart.
type (
	apiEvent       = client.Event
	apiTagger      = client.Tagger
	apiDelivery    = client.Delivery
	apiRun         = client.Run
	apiAttempt     = client.Attempt
	apiAuditEntry  = client.AuditEntry
	apiStageChange = client.StageChange
	apiLane        = client.Lane
)

func toAPIEvent(e store.Event) apiEvent {
	out := apiEvent{
		ID: e.ID, Repository: e.Repository, Artifact: e.Artifact, Type: string(e.Type), Version: e.Version,
		Stage: e.Stage, Commit: e.CommitSHA, Tag: e.TagName, TagObject: e.TagObjectSHA,
		Tagger:  apiTagger{Name: e.Tagger.Name, Email: e.Tagger.Email, Date: e.Tagger.When.Format(time.RFC3339)},
		Message: e.Message, DeliveryID: e.DeliveryID,
		ActiveBefore: nonNil(e.ActiveBefore), ActiveAfter: nonNil(e.ActiveAfter), RecordedAt: e.RecordedAt,
		Stages: []apiStageChange{},
	}
	for _, sc := range e.Stages {
		out.Stages = append(out.Stages, apiStageChange{Stage: sc.Stage, Before: nonNil(sc.Before), After: nonNil(sc.After)})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toAPIDelivery(d store.Delivery) apiDelivery {
	return apiDelivery{ID: d.ID, Source: string(d.Source), Event: d.Event, Repository: d.Repository,
		Status: string(d.Status), Reason: d.Reason, ReceivedAt: d.ReceivedAt, UpdatedAt: d.UpdatedAt, PayloadPruned: d.Pruned,
		Attempts: d.Attempts, LastError: d.LastError, NextAttemptAt: d.NextAttemptAt}
}

func toAPIRun(r store.Run) apiRun {
	out := apiRun{ID: r.ID, EventID: r.EventID, Action: r.Action, Repository: r.Repository, Artifact: r.Artifact,
		Stage: r.Stage, IdempotencyKey: r.IdempotencyKey, Status: string(r.Status), Attempts: r.Attempts,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Trigger: string(r.Trigger), Version: r.Version,
		DesiredBefore: r.DesiredBefore, Desired: r.Desired, DeployedBefore: r.DeployedBefore, Direction: r.Direction,
		Redeploy: r.Redeploy, SupersededBy: r.SupersededBy, Note: r.Note}
	if r.Stage != "" && r.Trigger != "" {
		// What a lane run converges to is part of it even when empty
		// (an unassignment that leaves the stage empty).
		out.DesiredBefore, out.Desired, out.DeployedBefore = nonNil(r.DesiredBefore), nonNil(r.Desired), nonNil(r.DeployedBefore)
	}
	for _, a := range r.History {
		out.History = append(out.History, apiAttempt(a))
	}
	return out
}

package githubtest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// The repository webhooks API, as GitHub's REST reference describes it
// (repos/webhooks): create (201, 403, 404, 422), list (200, 404), get (200,
// 404), update (200, 404, 422), ping (204, 404), and the deliveries list
// (200, 400, 422). A created hook is pinged, as on GitHub.

// reply is a handler's answer that also carries headers (Location, Link).
type reply struct {
	body   any
	header http.Header
}

// hookJSON is a hook as the API shows it. The secret is never shown: a
// hook that has one shows "********".
func (s *Server) hookJSON(h hook) map[string]any {
	self := s.link(fmt.Sprintf("%s/hooks/%d", s.repoPath(), h.id))
	config := map[string]any{"content_type": h.contentType, "insecure_ssl": h.insecureSSL, "url": h.url}
	if h.secret != "" {
		config["secret"] = "********"
	}
	last := map[string]any{"code": nil, "status": "unused", "message": nil}
	if h.last.status != "" {
		last = map[string]any{"code": h.last.code, "status": h.last.status, "message": h.last.message}
	}
	return map[string]any{
		"type":           "Repository",
		"id":             h.id,
		"name":           "web",
		"active":         h.active,
		"events":         h.events,
		"config":         config,
		"updated_at":     isoTime(h.updated),
		"created_at":     isoTime(h.created),
		"url":            self,
		"test_url":       self + "/test",
		"ping_url":       self + "/pings",
		"deliveries_url": self + "/deliveries",
		"last_response":  last,
	}
}

// hookValidation is GitHub's 422 for a hook: "Validation Failed" with the
// offending field, as {resource: Hook, code, field or message}.
func hookValidation(e map[string]any) (int, any) {
	e["resource"] = "Hook"
	return http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "errors": []any{e}, "documentation_url": docsURL, "status": "422",
	}
}

// hookConfig is the config object of a create or update request.
type hookConfig struct {
	URL         *string `json:"url"`
	ContentType *string `json:"content_type"`
	Secret      *string `json:"secret"`
	InsecureSSL any     `json:"insecure_ssl"` // "0", "1", 0 or 1
}

// apply checks c and sets it on h. As on GitHub, a config replaces the
// old one whole: a secret not given again is removed.
func (c *hookConfig) apply(h *hook) (int, any, bool) {
	if c.URL == nil || !validHookURL(*c.URL) {
		// GitHub's words for a URL it cannot use; for a missing one
		// (unconfirmed) the same.
		status, body := hookValidation(map[string]any{"code": "custom",
			"message": "The URL you've entered is not valid. Please make sure that you encode all special characters first"})
		return status, body, false
	}
	h.url, h.contentType, h.secret, h.insecureSSL = *c.URL, "form", "", "0"
	if c.ContentType != nil {
		if *c.ContentType != "json" && *c.ContentType != "form" {
			status, body := hookValidation(map[string]any{"code": "invalid", "field": "content_type"})
			return status, body, false
		}
		h.contentType = *c.ContentType
	}
	if c.Secret != nil {
		h.secret = *c.Secret
	}
	switch v := c.InsecureSSL.(type) {
	case nil:
	case string:
		h.insecureSSL = v
	case float64:
		h.insecureSSL = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if h.insecureSSL != "0" && h.insecureSSL != "1" {
		status, body := hookValidation(map[string]any{"code": "invalid", "field": "insecure_ssl"})
		return status, body, false
	}
	return 0, nil, true
}

func validHookURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// overlaps reports whether two hooks would receive the same event at the
// same URL, which GitHub refuses.
func overlaps(a, b hook) bool {
	if a.url != b.url {
		return false
	}
	if slices.Contains(a.events, "*") || slices.Contains(b.events, "*") {
		return true
	}
	return slices.ContainsFunc(a.events, func(e string) bool { return slices.Contains(b.events, e) })
}

func (s *Server) createHook(r *http.Request, _ map[string]string) (int, any) {
	var in struct {
		Name   *string     `json:"name"`
		Config *hookConfig `json:"config"`
		Events *[]string   `json:"events"`
		Active *bool       `json:"active"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	if in.Name != nil && *in.Name != "web" {
		return hookValidation(map[string]any{"code": "invalid", "field": "name"})
	}
	now := time.Now().UTC().Truncate(time.Second)
	h := hook{events: []string{"push"}, active: true, created: now, updated: now}
	if in.Config == nil {
		in.Config = &hookConfig{}
	}
	if status, body, ok := in.Config.apply(&h); !ok {
		return status, body
	}
	if in.Events != nil {
		h.events = slices.Clone(*in.Events)
	}
	if in.Active != nil {
		h.active = *in.Active
	}
	s.mu.Lock()
	for _, other := range s.webhooks.hooks {
		if overlaps(h, other) {
			s.mu.Unlock()
			return hookValidation(map[string]any{"code": "custom", "message": "Hook already exists on this repository"})
		}
	}
	s.nextID++
	h.id = s.nextID
	s.webhooks.hooks = append(s.webhooks.hooks, h)
	s.mu.Unlock()
	if h.active {
		s.ping(h)
	}
	body := s.hookJSON(h)
	return http.StatusCreated, reply{body: body, header: http.Header{"Location": {body["url"].(string)}}}
}

// findHookLocked returns the hook the path names, by index in s.webhooks.hooks
// (-1 if none); s.mu must be held.
func (s *Server) findHookLocked(p map[string]string) int {
	id, err := strconv.ParseInt(p["hook_id"], 10, 64)
	if err != nil {
		return -1
	}
	return slices.IndexFunc(s.webhooks.hooks, func(h hook) bool { return h.id == id })
}

func (s *Server) listHooks(r *http.Request, _ map[string]string) (int, any) {
	s.mu.Lock()
	hooks := slices.Clone(s.webhooks.hooks)
	s.mu.Unlock()
	page, perPage := pageParams(r)
	from := min((page-1)*perPage, len(hooks))
	to := min(from+perPage, len(hooks))
	out := []any{}
	for _, h := range hooks[from:to] {
		out = append(out, s.hookJSON(h))
	}
	header := http.Header{}
	if to < len(hooks) {
		next := fmt.Sprintf("%s?per_page=%d&page=%d", s.link(s.repoPath()+"/hooks"), perPage, page+1)
		header.Set("Link", `<`+next+`>; rel="next"`)
	}
	return http.StatusOK, reply{body: out, header: header}
}

// pageParams reads page and per_page as GitHub does: per_page defaults to
// 30 and is capped at 100.
func pageParams(r *http.Request) (page, perPage int) {
	page, perPage = 1, 30
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 0 {
		page = n
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	return page, perPage
}

func (s *Server) getHook(_ *http.Request, p map[string]string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findHookLocked(p)
	if i < 0 {
		return http.StatusNotFound, notFound
	}
	return http.StatusOK, s.hookJSON(s.webhooks.hooks[i])
}

func (s *Server) updateHook(r *http.Request, p map[string]string) (int, any) {
	var in struct {
		Config       *hookConfig `json:"config"`
		Events       *[]string   `json:"events"`
		AddEvents    []string    `json:"add_events"`
		RemoveEvents []string    `json:"remove_events"`
		Active       *bool       `json:"active"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findHookLocked(p)
	if i < 0 {
		return http.StatusNotFound, notFound
	}
	h := s.webhooks.hooks[i]
	h.events = slices.Clone(h.events)
	if in.Config != nil {
		if status, body, ok := in.Config.apply(&h); !ok {
			return status, body
		}
	}
	if in.Events != nil {
		h.events = slices.Clone(*in.Events)
	}
	for _, e := range in.AddEvents {
		if !slices.Contains(h.events, e) {
			h.events = append(h.events, e)
		}
	}
	h.events = slices.DeleteFunc(h.events, func(e string) bool { return slices.Contains(in.RemoveEvents, e) })
	if in.Active != nil {
		h.active = *in.Active
	}
	h.updated = time.Now().UTC().Truncate(time.Second)
	s.webhooks.hooks[i] = h
	return http.StatusOK, s.hookJSON(h)
}

func (s *Server) pingHook(_ *http.Request, p map[string]string) (int, any) {
	s.mu.Lock()
	i := s.findHookLocked(p)
	var h hook
	if i >= 0 {
		h = s.webhooks.hooks[i]
	}
	s.mu.Unlock()
	if i < 0 {
		return http.StatusNotFound, notFound
	}
	s.ping(h)
	return http.StatusNoContent, nil
}

// listHookDeliveries lists a hook's deliveries newest first, per_page at a
// time (default 30, at most 100); the Link header's next page carries a
// cursor. status=success keeps answers from 200 to 399, status=failure
// those from 400 to 599.
func (s *Server) listHookDeliveries(r *http.Request, p map[string]string) (int, any) {
	hookID, _ := strconv.ParseInt(p["hook_id"], 10, 64)
	q := r.URL.Query()
	_, perPage := pageParams(r)
	status := q.Get("status")
	if status != "" && status != "success" && status != "failure" {
		return validation("Invalid request.\n\nstatus must be one of: success, failure.")
	}
	var cursor int64
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			return http.StatusBadRequest, apiError("Invalid cursor")
		}
		cursor = n
	}
	var matching []Delivery
	deliveries := s.Deliveries()
	for i := len(deliveries) - 1; i >= 0; i-- { // newest first
		d := deliveries[i]
		if d.ID == cursor {
			cursor = 0 // the page starts here
		}
		switch {
		case d.HookID != hookID, cursor != 0:
		case status == "success" && (d.StatusCode < 200 || d.StatusCode > 399):
		case status == "failure" && (d.StatusCode < 400 || d.StatusCode > 599):
		default:
			matching = append(matching, d)
		}
	}
	out := []any{}
	for _, d := range matching[:min(perPage, len(matching))] {
		out = append(out, deliveryJSON(d))
	}
	header := http.Header{}
	if len(matching) > perPage {
		next := url.Values{"per_page": {strconv.Itoa(perPage)}, "cursor": {strconv.FormatInt(matching[perPage].ID, 10)}}
		if status != "" {
			next.Set("status", status)
		}
		header.Set("Link", `<`+s.link(fmt.Sprintf("%s/hooks/%d/deliveries?%s", s.repoPath(), hookID, next.Encode()))+`>; rel="next"`)
	}
	return http.StatusOK, reply{body: out, header: header}
}

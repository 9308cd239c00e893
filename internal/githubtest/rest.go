package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// route is one REST endpoint. Patterns use GitHub's documented names;
// "{x...}" takes the rest of the path, slashes included, because ref names
// and content paths contain them.
type route struct {
	method   string
	pattern  []string
	endpoint string // "GET /repos/{owner}/{repo}/git/ref/{ref}"
	handle   func(r *http.Request, p map[string]string) (int, any)
	appJWT   bool // authenticated by the GitHub App's JWT, not the token
}

func newRoute(spec string, h func(*http.Request, map[string]string) (int, any)) route {
	method, pattern, _ := strings.Cut(spec, " ")
	return route{
		method:   method,
		pattern:  strings.Split(strings.TrimPrefix(pattern, "/"), "/"),
		endpoint: strings.ReplaceAll(spec, "...}", "}"),
		handle:   h,
	}
}

func (s *Server) restRoutes() []route {
	appToken := newRoute("POST /app/installations/{installation_id}/access_tokens", s.createInstallationToken)
	appToken.appJWT = true
	return []route{
		appToken,
		newRoute("GET /rate_limit", s.getRateLimit),
		newRoute("GET /repos/{owner}/{repo}", s.getRepo),
		newRoute("GET /repos/{owner}/{repo}/git/matching-refs/{ref...}", s.listMatchingRefs),
		newRoute("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.getRef),
		newRoute("POST /repos/{owner}/{repo}/git/refs", s.createRef),
		newRoute("DELETE /repos/{owner}/{repo}/git/refs/{ref...}", s.deleteRef),
		newRoute("GET /repos/{owner}/{repo}/git/tags/{tag_sha}", s.getTag),
		newRoute("POST /repos/{owner}/{repo}/git/tags", s.createTag),
		newRoute("GET /repos/{owner}/{repo}/commits/{ref...}", s.getCommit),
		newRoute("GET /repos/{owner}/{repo}/contents/{path...}", s.getContents),
		newRoute("GET /repos/{owner}/{repo}/deployments", s.listDeployments),
		newRoute("POST /repos/{owner}/{repo}/deployments", s.createDeployment),
		newRoute("GET /repos/{owner}/{repo}/deployments/{deployment_id}", s.getDeployment),
		newRoute("GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses", s.listDeploymentStatuses),
		newRoute("POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses", s.createDeploymentStatus),
		newRoute("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", s.createWorkflowDispatch),
		newRoute("POST /repos/{owner}/{repo}/dispatches", s.createRepositoryDispatch),
		newRoute("GET /repos/{owner}/{repo}/hooks", s.listHooks),
		newRoute("POST /repos/{owner}/{repo}/hooks", s.createHook),
		newRoute("GET /repos/{owner}/{repo}/hooks/{hook_id}", s.getHook),
		newRoute("PATCH /repos/{owner}/{repo}/hooks/{hook_id}", s.updateHook),
		newRoute("POST /repos/{owner}/{repo}/hooks/{hook_id}/pings", s.pingHook),
		newRoute("GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries", s.listHookDeliveries),
		newRoute("POST /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts", s.redeliverHookDelivery),
	}
}

// match finds the route for an escaped path. Each segment is unescaped on
// its own, so "%23" in a tag name is "#" while "/" still separates segments.
// A route for another repository matches but yields nil params (404).
func (s *Server) match(method, escaped string) (*route, map[string]string) {
	var segs []string
	for _, seg := range strings.Split(strings.TrimPrefix(escaped, "/"), "/") {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, nil
		}
		segs = append(segs, u)
	}
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.method != method {
			continue
		}
		p, ok := matchSegments(rt.pattern, segs)
		if !ok {
			continue
		}
		if owner, scoped := p["owner"]; scoped && !(strings.EqualFold(owner, s.opts.Owner) && strings.EqualFold(p["repo"], s.opts.Name)) {
			return rt, nil
		}
		return rt, p
	}
	return nil, nil
}

func matchSegments(pattern, segs []string) (map[string]string, bool) {
	p := map[string]string{}
	for i, pat := range pattern {
		if rest, ok := strings.CutSuffix(pat, "...}"); ok {
			if i >= len(segs) {
				return nil, false
			}
			p[strings.TrimPrefix(rest, "{")] = strings.Join(segs[i:], "/")
			return p, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if strings.HasPrefix(pat, "{") {
			p[strings.Trim(pat, "{}")] = segs[i]
		} else if pat != segs[i] {
			return nil, false
		}
	}
	return p, len(segs) == len(pattern)
}

// validation is GitHub's 422 answer.
func validation(msg string) (int, any) {
	return http.StatusUnprocessableEntity, errorBody{Message: msg, DocumentationURL: docsURL, Status: "422"}
}

// missing is GitHub's 422 for a required field left out.
func missing(field string) (int, any) {
	return validation("Invalid request.\n\n\"" + field + "\" wasn't supplied.")
}

// decodeBody reads a JSON request body; a false return means the reply
// (400 "Problems parsing JSON") was produced.
func decodeBody(r *http.Request, v any) (ok bool, status int, body any) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 10<<20))
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		return false, http.StatusBadRequest, apiError("Problems parsing JSON")
	}
	return true, 0, nil
}

func (s *Server) getRateLimit(*http.Request, map[string]string) (int, any) {
	s.mu.Lock()
	core := map[string]any{
		"limit": s.opts.RateLimit, "used": s.rateUsed,
		"remaining": max(s.opts.RateLimit-s.rateUsed, 0), "reset": s.rateReset.Unix(),
	}
	reset := s.rateReset.Unix()
	graphql := map[string]any{
		"limit": s.opts.GraphQLRateLimit, "used": s.graphqlUsed,
		"remaining": max(s.opts.GraphQLRateLimit-s.graphqlUsed, 0), "reset": reset,
	}
	s.mu.Unlock()
	return http.StatusOK, map[string]any{
		"resources": map[string]any{
			"core":    core,
			"search":  map[string]any{"limit": 30, "used": 0, "remaining": 30, "reset": reset},
			"graphql": graphql,
		},
		"rate": core,
	}
}

func (s *Server) getRepo(*http.Request, map[string]string) (int, any) {
	repo := s.repositoryJSON(false)
	repo["permissions"] = map[string]bool{"admin": true, "maintain": true, "push": true, "triage": true, "pull": true}
	return http.StatusOK, repo
}

// escapeRef escapes each segment of a ref name for use in a URL path.
func escapeRef(ref string) string {
	segs := strings.Split(ref, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// refJSON is a git reference object.
func (s *Server) refJSON(ri refInfo) map[string]any {
	objPath := "/git/commits/"
	if ri.Type == "tag" {
		objPath = "/git/tags/"
	}
	return map[string]any{
		"ref":     ri.Name,
		"node_id": nodeID("Ref", ri.Name),
		"url":     s.link(s.repoPath() + "/git/" + escapeRef(ri.Name)),
		"object": map[string]any{
			"sha":  ri.SHA,
			"type": ri.Type,
			"url":  s.link(s.repoPath() + objPath + ri.SHA),
		},
	}
}

// listMatchingRefs returns every ref starting with refs/{ref} in one
// response: GitHub ignores per_page here.
func (s *Server) listMatchingRefs(_ *http.Request, p map[string]string) (int, any) {
	refs, err := s.listRefs()
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	prefix := "refs/" + p["ref"]
	out := []any{}
	for _, name := range sortedRefNames(refs) {
		if strings.HasPrefix(name, prefix) {
			out = append(out, s.refJSON(refs[name]))
		}
	}
	return http.StatusOK, out
}

func (s *Server) getRef(_ *http.Request, p map[string]string) (int, any) {
	refs, err := s.listRefs()
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	ri, ok := refs["refs/"+p["ref"]]
	if !ok {
		return http.StatusNotFound, notFound
	}
	return http.StatusOK, s.refJSON(ri)
}

// changeRef applies a REST ref change under the ref lock and queues the
// webhooks it causes.
func (s *Server) changeRef(apply func(before map[string]refInfo) (int, any)) (int, any) {
	s.webhooks.begin(s)
	defer s.webhooks.end(s)
	s.refMu.Lock()
	defer s.refMu.Unlock()
	before, err := s.listRefs()
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	status, body := apply(before)
	if status >= 300 {
		return status, body
	}
	after, err := s.listRefs()
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	s.emitRefUpdates(diffRefs(before, after), after, true)
	return status, body
}

func (s *Server) createRef(r *http.Request, p map[string]string) (int, any) {
	var in struct {
		Ref *string `json:"ref"`
		SHA *string `json:"sha"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	switch {
	case in.Ref == nil:
		return missing("ref")
	case in.SHA == nil:
		return missing("sha")
	case !strings.HasPrefix(*in.Ref, "refs/") || strings.Count(*in.Ref, "/") < 2:
		return validation("Reference name is invalid")
	}
	if _, err := s.git("", "check-ref-format", *in.Ref); err != nil {
		return validation("Reference name is invalid")
	}
	typ := s.objectType(*in.SHA)
	if typ == "" {
		return validation("Object does not exist")
	}
	return s.changeRef(func(before map[string]refInfo) (int, any) {
		if _, exists := before[*in.Ref]; exists {
			return validation("Reference already exists")
		}
		// The empty old value makes git refuse if the ref appeared meanwhile.
		if _, err := s.git("", "update-ref", *in.Ref, *in.SHA, ""); err != nil {
			return validation("Reference already exists")
		}
		return http.StatusCreated, s.refJSON(refInfo{Name: *in.Ref, SHA: *in.SHA, Type: typ})
	})
}

func (s *Server) deleteRef(_ *http.Request, p map[string]string) (int, any) {
	name := "refs/" + p["ref"]
	return s.changeRef(func(before map[string]refInfo) (int, any) {
		ri, exists := before[name]
		if !exists {
			return validation("Reference does not exist")
		}
		if _, err := s.git("", "update-ref", "-d", name, ri.SHA); err != nil {
			return http.StatusInternalServerError, apiError(err.Error())
		}
		return http.StatusNoContent, nil
	})
}

// apiTime renders times as the REST API does: UTC, RFC 3339.
func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func apiIdent(id ident) map[string]any {
	return map[string]any{"name": id.Name, "email": id.Email, "date": apiTime(id.When)}
}

var unsigned = map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil}

func (s *Server) tagJSON(t tagObject) map[string]any {
	objPath := "/git/commits/"
	if t.ObjectType == "tag" {
		objPath = "/git/tags/"
	}
	return map[string]any{
		"node_id": nodeID("Tag", t.SHA),
		"sha":     t.SHA,
		"url":     s.link(s.repoPath() + "/git/tags/" + t.SHA),
		"tag":     t.Name,
		"message": t.Message,
		"tagger":  apiIdent(t.Tagger),
		"object": map[string]any{
			"sha":  t.Object,
			"type": t.ObjectType,
			"url":  s.link(s.repoPath() + objPath + t.Object),
		},
		"verification": unsigned,
	}
}

func (s *Server) getTag(_ *http.Request, p map[string]string) (int, any) {
	if s.objectType(p["tag_sha"]) != "tag" {
		return http.StatusNotFound, notFound
	}
	t, err := s.readTag(p["tag_sha"])
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	return http.StatusOK, s.tagJSON(t)
}

// createTag writes an annotated tag object. Like GitHub it does not create
// the ref: that is a separate POST .../git/refs.
func (s *Server) createTag(r *http.Request, p map[string]string) (int, any) {
	var in struct {
		Tag     string `json:"tag"`
		Message string `json:"message"`
		Object  string `json:"object"`
		Type    string `json:"type"`
		Tagger  *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
			Date  string `json:"date"`
		} `json:"tagger"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	if in.Tag == "" || in.Object == "" || in.Type == "" {
		return validation("Invalid request.\n\n\"tag\", \"message\", \"object\" and \"type\" are required.")
	}
	if typ := s.objectType(in.Object); typ == "" {
		return validation("Object does not exist")
	} else if typ != in.Type {
		return validation(fmt.Sprintf("Object type %q does not match %q", in.Type, typ))
	}
	tagger := ident{Name: s.opts.Owner, Email: s.opts.Owner + "@users.noreply.github.com", When: time.Now().UTC()}
	if in.Tagger != nil {
		tagger.Name, tagger.Email = in.Tagger.Name, in.Tagger.Email
		if in.Tagger.Date != "" {
			when, err := time.Parse(time.RFC3339, in.Tagger.Date)
			if err != nil {
				return validation(fmt.Sprintf("Invalid request.\n\n%q is not a valid date-time.", in.Tagger.Date))
			}
			tagger.When = when
		}
	}
	msg := in.Message
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n" // git stores messages newline-terminated, and so does GitHub
	}
	obj := fmt.Sprintf("object %s\ntype %s\ntag %s\ntagger %s\n\n%s", in.Object, in.Type, in.Tag, tagger, msg)
	out, err := s.git(obj, "mktag")
	if err != nil {
		return validation("Tag is invalid: " + err.Error())
	}
	t, err := s.readTag(strings.TrimSpace(out))
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	return http.StatusCreated, s.tagJSON(t)
}

func (s *Server) getCommit(_ *http.Request, p map[string]string) (int, any) {
	sha := s.resolveCommit(p["ref"])
	if sha == "" {
		return validation("No commit found for SHA: " + p["ref"])
	}
	c, err := s.readCommit(sha)
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	parents := []any{}
	for _, ps := range c.Parents {
		parents = append(parents, map[string]any{
			"sha":      ps,
			"url":      s.link(s.repoPath() + "/commits/" + ps),
			"html_url": s.link(s.FullName() + "/commit/" + ps),
		})
	}
	return http.StatusOK, map[string]any{
		"sha":          c.SHA,
		"node_id":      nodeID("Commit", c.SHA),
		"url":          s.link(s.repoPath() + "/commits/" + c.SHA),
		"html_url":     s.link(s.FullName() + "/commit/" + c.SHA),
		"comments_url": s.link(s.repoPath() + "/commits/" + c.SHA + "/comments"),
		"commit": map[string]any{
			"author":        apiIdent(c.Author),
			"committer":     apiIdent(c.Committer),
			"message":       strings.TrimSuffix(c.Message, "\n"),
			"tree":          map[string]any{"sha": c.Tree, "url": s.link(s.repoPath() + "/git/trees/" + c.Tree)},
			"url":           s.link(s.repoPath() + "/git/commits/" + c.SHA),
			"comment_count": 0,
			"verification":  unsigned,
		},
		"author":    nil, // no GitHub account maps to the commit's email
		"committer": nil,
		"parents":   parents,
	}
}

// maxInlineContent is the largest file GET .../contents returns inline.
const maxInlineContent = 1 << 20

// treeEntry is one line of git ls-tree --long.
type treeEntry struct {
	typ, sha, path string
	size           int64
}

func (s *Server) lsTree(treeish string, paths ...string) ([]treeEntry, error) {
	out, err := s.git("", append([]string{"ls-tree", "-z", "--long", treeish, "--"}, paths...)...)
	if err != nil {
		return nil, err
	}
	var entries []treeEntry
	for _, rec := range strings.Split(out, "\x00") {
		meta, p, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta) // mode type sha size
		size, _ := strconv.ParseInt(f[3], 10, 64)
		entries = append(entries, treeEntry{typ: f[1], sha: f[2], path: p, size: size})
	}
	return entries, nil
}

// contentJSON is a file or directory entry of the contents API; content is
// filled in for a single file.
func (s *Server) contentJSON(e treeEntry, ref string) map[string]any {
	typ, gitPath := "file", "/git/blobs/"
	if e.typ == "tree" {
		typ, gitPath = "dir", "/git/trees/"
	}
	self := s.link(s.repoPath() + "/contents/" + escapeRef(e.path) + "?ref=" + url.QueryEscape(ref))
	html := s.link(s.FullName() + "/blob/" + ref + "/" + e.path)
	git := s.link(s.repoPath() + gitPath + e.sha)
	c := map[string]any{
		"type": typ, "size": e.size, "name": path.Base(e.path), "path": e.path, "sha": e.sha,
		"url": self, "git_url": git, "html_url": html, "download_url": nil,
		"_links": map[string]any{"self": self, "git": git, "html": html},
	}
	if typ == "dir" {
		c["size"] = 0
	}
	return c
}

func (s *Server) getContents(r *http.Request, p map[string]string) (int, any) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = s.opts.DefaultBranch
	}
	commit := s.resolveCommit(ref)
	if commit == "" {
		return http.StatusNotFound, apiError("No commit found for the ref " + ref)
	}
	p["path"] = strings.Trim(p["path"], "/")
	if p["path"] != "" {
		entries, err := s.lsTree(commit, p["path"])
		if err != nil || len(entries) != 1 || entries[0].path != p["path"] {
			return http.StatusNotFound, notFound
		}
		if e := entries[0]; e.typ == "blob" {
			c := s.contentJSON(e, ref)
			c["encoding"], c["content"] = "none", ""
			if e.size <= maxInlineContent {
				data, err := s.git("", "cat-file", "blob", e.sha)
				if err != nil {
					return http.StatusInternalServerError, apiError(err.Error())
				}
				c["encoding"], c["content"] = "base64", wrapBase64([]byte(data))
			}
			return http.StatusOK, c
		}
	}
	treeish := commit
	if p["path"] != "" {
		treeish += ":" + p["path"]
	}
	entries, err := s.lsTree(treeish)
	if err != nil {
		return http.StatusNotFound, notFound
	}
	out := []any{}
	for _, e := range entries {
		if p["path"] != "" {
			e.path = p["path"] + "/" + e.path
		}
		out = append(out, s.contentJSON(e, ref))
	}
	return http.StatusOK, out
}

// wrapBase64 encodes as GitHub does: base64 in lines of 60 characters.
func wrapBase64(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 60 {
		b.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

// redeliverHookDelivery queues a new attempt with the same GUID; GitHub
// answers 202 and delivers later.
func (s *Server) redeliverHookDelivery(_ *http.Request, p map[string]string) (int, any) {
	hookID, _ := strconv.ParseInt(p["hook_id"], 10, 64)
	deliveryID, _ := strconv.ParseInt(p["delivery_id"], 10, 64)
	if err := s.redeliverAsync(hookID, deliveryID); errors.Is(err, errNoDelivery) {
		return http.StatusNotFound, notFound
	}
	return http.StatusAccepted, map[string]any{}
}

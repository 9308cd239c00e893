package githubtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The GraphQL endpoint serves what hookd asks of GitHub's GraphQL API: git
// objects by oid in batches of aliases,
//
//	query($owner: String!, $name: String!) {
//	  repository(owner: $owner, name: $name) {
//	    t0: object(oid: "…") { ... on Tag { oid name message tagger { name email date } target { oid __typename } } }
//	    c0: object(oid: "…") { ... on Commit { oid message author { name email date } committer { name email date } } }
//	  }
//	}
//
// with GitHub's answers: dates are GitTimestamps, which keep the offset
// git recorded (unlike DateTime, which is UTC); an unknown oid is a null
// object with a NOT_FOUND error naming its path, beside the data of the
// others; a query outside the schema subset below is answered with errors
// and no data. It has its own hourly budget of points, apart from REST: a
// query costs one point per 100 objects it names, at least one, and once
// the budget is spent GitHub answers 200 with a RATE_LIMITED error.

// gqlSchema is the subset of GitHub's schema served: type → field → the
// field's type ("" for a scalar) and arguments (name → type).
var gqlSchema = map[string]map[string]gqlFieldDef{
	"Query": {"repository": {typ: "Repository", args: map[string]string{"owner": "String!", "name": "String!"}}},
	"Repository": {
		"object":        {typ: "GitObject", args: map[string]string{"oid": "GitObjectID!"}},
		"nameWithOwner": {},
	},
	"GitObject": {"oid": {}},
	"Blob":      {"oid": {}},
	"Tree":      {"oid": {}},
	"Commit": {
		"oid": {}, "message": {},
		"author": {typ: "GitActor"}, "committer": {typ: "GitActor"},
	},
	"Tag": {
		"oid": {}, "name": {}, "message": {},
		"tagger": {typ: "GitActor"}, "target": {typ: "GitObject"},
	},
	"GitActor": {"name": {}, "email": {}, "date": {}},
}

type gqlFieldDef struct {
	typ  string
	args map[string]string
}

// gqlTypeOf is the GraphQL type of each git object type.
var gqlTypeOf = map[string]string{"blob": "Blob", "tree": "Tree", "commit": "Commit", "tag": "Tag"}

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Type      string   `json:"type,omitempty"`
	Path      []any    `json:"path,omitempty"`
	Locations []gqlLoc `json:"locations,omitempty"`
	Message   string   `json:"message"`
}

// GraphQLURL is the GraphQL endpoint ("/graphql"; Enterprise clients may
// use "/api/graphql", which answers too).
func (s *Server) GraphQLURL() string { return s.srv.URL + "/graphql" }

// GraphQLRateLimitUsed is how many GraphQL points were spent.
func (s *Server) GraphQLRateLimitUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.graphqlUsed
}

func isGraphQLPath(p string) bool { return p == "/graphql" || p == "/api/graphql" }

// serveGraphQL authenticates, applies injected faults, checks the points
// left, and answers the query.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: "/graphql", Endpoint: "POST /graphql"}
	record := func(status int) {
		rec.Status, rec.Counted, rec.At = status, rec.Cost > 0, time.Now()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, rec)
	}
	// The request is recorded before it is answered, so that a client
	// that has its answer finds it in Requests.
	answer := func(status int, body any) {
		record(status)
		s.setRateHeaders(w, "graphql")
		writeJSON(w, status, body)
	}
	if !s.authorized(r) {
		answer(http.StatusUnauthorized, errorBody{
			Message:          "This endpoint requires you to be authenticated.",
			DocumentationURL: "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql",
		})
		return
	}
	if f, ok := s.takeRESTFault(r.Method, rec.Path); ok {
		rec.Fault = f.Kind.String()
		s.serveFault(w, r, f, "graphql", func(status int, lifts time.Time) {
			rec.LimitLifts = lifts
			record(status)
		})
		return
	}
	var in struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 10<<20))
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	if err != nil {
		answer(http.StatusBadRequest, apiError("Problems parsing JSON"))
		return
	}
	doc, err := parseGraphQL(in.Query)
	if err != nil {
		e := err.(*gqlSyntaxError)
		answer(http.StatusOK, map[string]any{"errors": []gqlError{{Message: e.msg, Locations: []gqlLoc{e.at}}}})
		return
	}
	v := &gqlValidator{vars: in.Variables, declared: map[string]string{}}
	for _, d := range doc.vars {
		v.declared[d.name] = d.typ
	}
	v.selections("Query", doc.sel, nil)
	if len(v.errs) > 0 {
		answer(http.StatusOK, map[string]any{"errors": v.errs})
		return
	}
	rec.Nodes = v.objects
	s.mu.Lock()
	spent := s.graphqlUsed >= s.opts.GraphQLRateLimit
	if !spent {
		rec.Cost = max(1, (v.objects+99)/100)
		s.graphqlUsed += rec.Cost
	}
	s.mu.Unlock()
	if spent {
		answer(http.StatusOK, gqlRateLimited)
		return
	}
	x := &gqlExec{s: s, vars: in.Variables, objs: map[string]*gqlObject{}}
	data := x.selectQuery(doc.sel)
	if x.err != nil {
		answer(http.StatusInternalServerError, apiError(x.err.Error()))
		return
	}
	out := map[string]any{"data": data}
	if len(x.errs) > 0 {
		out["errors"] = x.errs
	}
	answer(http.StatusOK, out)
}

// gqlRateLimited is GitHub's answer once the GraphQL budget is spent.
var gqlRateLimited = map[string]any{"errors": []gqlError{{
	Type: "RATE_LIMITED", Message: "API rate limit already exceeded for installation ID 1.",
}}}

// gqlValidator checks a query against gqlSchema before anything runs, as
// GitHub does, and counts the objects it names.
type gqlValidator struct {
	vars     map[string]any
	declared map[string]string
	errs     []gqlError
	objects  int
}

func (v *gqlValidator) fail(at gqlLoc, path []any, format string, a ...any) {
	v.errs = append(v.errs, gqlError{Path: path, Locations: []gqlLoc{at}, Message: fmt.Sprintf(format, a...)})
}

func (v *gqlValidator) selections(typ string, sels []gqlSelection, path []any) {
	for _, sel := range sels {
		if sel.field == nil {
			if !fragmentApplies(typ, sel.on) {
				v.fail(sel.at, path, "Fragment on %s can't be spread inside %s", sel.on, typ)
				continue
			}
			v.selections(sel.on, sel.frag, path)
			continue
		}
		f := sel.field
		fpath := append(append([]any(nil), path...), f.key())
		if f.name == "__typename" {
			if f.sel != nil || f.args != nil {
				v.fail(f.at, fpath, "Selections can't be made on scalars (field '__typename' returns String)")
			}
			continue
		}
		def, ok := gqlSchema[typ][f.name]
		if !ok {
			v.fail(f.at, fpath, "Field '%s' doesn't exist on type '%s' (or is not served by the stand-in)", f.name, typ)
			continue
		}
		v.arguments(f, def, fpath)
		switch {
		case def.typ == "" && f.sel != nil:
			v.fail(f.at, fpath, "Selections can't be made on scalars (field '%s' returns a scalar but has selections)", f.name)
		case def.typ != "" && f.sel == nil:
			v.fail(f.at, fpath, "Field must have selections (field '%s' returns %s but has no selections. Did you mean '%s { ... }'?)", f.name, def.typ, f.name)
		case def.typ != "":
			v.selections(def.typ, f.sel, fpath)
		}
		if typ == "Repository" && f.name == "object" {
			v.objects++
		}
	}
}

// fragmentApplies reports whether "... on on" may appear in a selection
// on typ: its own type, or an implementation of the GitObject interface.
func fragmentApplies(typ, on string) bool {
	if typ == on {
		return true
	}
	if typ != "GitObject" && on != "GitObject" {
		return false
	}
	for _, t := range gqlTypeOf {
		if t == on || t == typ {
			return true
		}
	}
	return false
}

func (v *gqlValidator) arguments(f *gqlField, def gqlFieldDef, path []any) {
	seen := map[string]bool{}
	for _, a := range f.args {
		typ, ok := def.args[a.name]
		if !ok {
			v.fail(f.at, path, "Field '%s' doesn't accept argument '%s' (or the stand-in does not serve it)", f.name, a.name)
			continue
		}
		seen[a.name] = true
		if a.value.variable != "" {
			vt, declared := v.declared[a.value.variable]
			if !declared {
				v.fail(f.at, path, "Variable $%s is used by anonymous query but not declared", a.value.variable)
				continue
			}
			if strings.TrimSuffix(vt, "!") != strings.TrimSuffix(typ, "!") {
				v.fail(f.at, path, "Type mismatch on variable $%s and argument %s (%s / %s)", a.value.variable, a.name, vt, typ)
				continue
			}
		}
		s, ok := gqlString(a.value, v.vars)
		switch {
		case !ok && strings.HasSuffix(typ, "!"):
			v.fail(f.at, path, "Argument '%s' on Field '%s' has an invalid value (null). Expected type '%s'.", a.name, f.name, typ)
		case strings.HasPrefix(typ, "GitObjectID") && !isFullSHA(s):
			v.fail(f.at, path, "Argument '%s' on Field '%s' has an invalid value (%q). Expected type '%s'.", a.name, f.name, s, typ)
		}
	}
	for name, typ := range def.args {
		if strings.HasSuffix(typ, "!") && !seen[name] {
			v.fail(f.at, path, "Field '%s' is missing required arguments: %s", f.name, name)
		}
	}
}

// gqlString is an argument's value: the literal, or the variable's value
// if it is a string.
func gqlString(v gqlValue, vars map[string]any) (string, bool) {
	if v.variable == "" {
		return v.str, true
	}
	s, ok := vars[v.variable].(string)
	return s, ok
}

func isFullSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// gqlExec runs a validated query.
type gqlExec struct {
	s    *Server
	vars map[string]any
	objs map[string]*gqlObject // read so far, by oid; nil for missing
	errs []gqlError
	err  error // the repository could not be read
}

// gqlObject is a git object as the GraphQL API shows it.
type gqlObject struct {
	oid, typ string // typ: blob, tree, commit, tag
	tag      tagObject
	commit   commitObject
}

func (x *gqlExec) selectQuery(sels []gqlSelection) map[string]any {
	out := map[string]any{}
	eachField("Query", sels, func(f *gqlField) {
		if f.name == "__typename" {
			out[f.key()] = "Query"
			return
		}
		owner, _ := x.arg(f, "owner")
		name, _ := x.arg(f, "name")
		if !strings.EqualFold(owner, x.s.opts.Owner) || !strings.EqualFold(name, x.s.opts.Name) {
			out[f.key()] = nil
			x.errs = append(x.errs, gqlError{Type: "NOT_FOUND", Path: []any{f.key()}, Locations: []gqlLoc{f.at},
				Message: fmt.Sprintf("Could not resolve to a Repository with the name '%s/%s'.", owner, name)})
			return
		}
		out[f.key()] = x.selectRepository(f)
	})
	return out
}

func (x *gqlExec) arg(f *gqlField, name string) (string, bool) {
	for _, a := range f.args {
		if a.name == name {
			return gqlString(a.value, x.vars)
		}
	}
	return "", false
}

func (x *gqlExec) selectRepository(repo *gqlField) map[string]any {
	// Every object the query names is read in one git process.
	var oids []string
	eachField("Repository", repo.sel, func(f *gqlField) {
		if f.name == "object" {
			oid, _ := x.arg(f, "oid")
			oids = append(oids, oid)
		}
	})
	x.load(oids)
	out := map[string]any{}
	eachField("Repository", repo.sel, func(f *gqlField) {
		path := []any{repo.key(), f.key()}
		switch f.name {
		case "__typename":
			out[f.key()] = "Repository"
		case "nameWithOwner":
			out[f.key()] = x.s.FullName()
		case "object":
			oid, _ := x.arg(f, "oid")
			o := x.objs[oid]
			if o == nil {
				out[f.key()] = nil
				x.errs = append(x.errs, gqlError{Type: "NOT_FOUND", Path: path, Locations: []gqlLoc{f.at},
					Message: fmt.Sprintf("Could not resolve to a GitObject with the id of '%s'.", oid)})
				return
			}
			out[f.key()] = x.selectObject(o, f.sel)
		}
	})
	return out
}

// eachField calls fn for each field of a selection on typ, inline
// fragments that apply to typ included.
func eachField(typ string, sels []gqlSelection, fn func(*gqlField)) {
	for _, sel := range sels {
		switch {
		case sel.field != nil:
			fn(sel.field)
		case sel.on == typ || sel.on == "GitObject":
			eachField(typ, sel.frag, fn)
		}
	}
}

func (x *gqlExec) selectObject(o *gqlObject, sels []gqlSelection) map[string]any {
	typ := gqlTypeOf[o.typ]
	out := map[string]any{}
	eachField(typ, sels, func(f *gqlField) {
		switch f.name {
		case "__typename":
			out[f.key()] = typ
		case "oid":
			out[f.key()] = o.oid
		case "name":
			out[f.key()] = o.tag.Name
		case "message":
			if o.typ == "tag" {
				out[f.key()] = o.tag.Message
			} else {
				// As in REST, without the newline git ends it with.
				out[f.key()] = strings.TrimSuffix(o.commit.Message, "\n")
			}
		case "tagger":
			out[f.key()] = nil // git allows a tag without a tagger
			if o.tag.Tagger != (ident{}) {
				out[f.key()] = selectActor(o.tag.Tagger, f.sel)
			}
		case "author":
			out[f.key()] = selectActor(o.commit.Author, f.sel)
		case "committer":
			out[f.key()] = selectActor(o.commit.Committer, f.sel)
		case "target":
			out[f.key()] = x.selectObject(x.target(o.tag), f.sel)
		}
	})
	return out
}

// target is what a tag points to. Its oid and type are in the tag; the
// object itself is read only if the query asks for more.
func (x *gqlExec) target(t tagObject) *gqlObject {
	if o := x.objs[t.Object]; o != nil {
		return o
	}
	x.load([]string{t.Object})
	if o := x.objs[t.Object]; o != nil {
		return o
	}
	// An object missing from the repository: GitHub would not have
	// accepted the tag, but answer with what the tag says.
	return &gqlObject{oid: t.Object, typ: t.ObjectType}
}

// gitTimestamp is GraphQL's GitTimestamp: ISO 8601 in the offset git
// recorded, always written as ±hh:mm.
func gitTimestamp(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") }

func selectActor(id ident, sels []gqlSelection) map[string]any {
	out := map[string]any{}
	eachField("GitActor", sels, func(f *gqlField) {
		switch f.name {
		case "__typename":
			out[f.key()] = "GitActor"
		case "name":
			out[f.key()] = id.Name
		case "email":
			out[f.key()] = id.Email
		case "date":
			out[f.key()] = gitTimestamp(id.When)
		}
	})
	return out
}

// load reads the objects not read yet with one git cat-file --batch.
func (x *gqlExec) load(oids []string) {
	var in strings.Builder
	for _, oid := range oids {
		if _, done := x.objs[oid]; !done {
			in.WriteString(oid + "\n")
		}
	}
	if in.Len() == 0 || x.err != nil {
		return
	}
	out, err := x.s.git(in.String(), "cat-file", "--batch")
	if err != nil {
		x.err = err
		return
	}
	rd := bufio.NewReader(strings.NewReader(out))
	for {
		head, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(head)
		if len(f) == 2 && f[1] == "missing" {
			x.objs[f[0]] = nil
			continue
		}
		if len(f) != 3 {
			x.err = fmt.Errorf("git cat-file --batch: %q", head)
			return
		}
		size, _ := strconv.Atoi(f[2])
		content := make([]byte, size+1) // and the newline after it
		if _, err := io.ReadFull(rd, content); err != nil {
			x.err = err
			return
		}
		o := &gqlObject{oid: f[0], typ: f[1]}
		switch o.typ {
		case "tag":
			o.tag, err = parseObject(string(content[:size])).tag(o.oid)
		case "commit":
			o.commit, err = parseObject(string(content[:size])).commit(o.oid)
		}
		if err != nil {
			x.err = err
			return
		}
		x.objs[o.oid] = o
	}
}

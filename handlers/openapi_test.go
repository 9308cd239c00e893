package handlers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/store"
)

// openAPIDoc is handlers/openapi.json, read as the tests read it: paths,
// operations, and response schemas in the subset of JSON Schema the
// document uses (type, properties, required, additionalProperties, items,
// enum, nullable, $ref).
type openAPIDoc struct {
	root map[string]any
}

var (
	docOnce   sync.Once
	sharedDoc *openAPIDoc
	docErr    error
)

// loadOpenAPI reads the document once for the package's tests.
func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	docOnce.Do(func() {
		var root map[string]any
		if err := json.Unmarshal(handlers.OpenAPI(), &root); err != nil {
			docErr = fmt.Errorf("openapi.json: %v", err)
			return
		}
		sharedDoc = &openAPIDoc{root: root}
	})
	if docErr != nil {
		t.Fatal(docErr)
	}
	return sharedDoc
}

func (d *openAPIDoc) paths() map[string]any { return d.root["paths"].(map[string]any) }

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// methods are the methods the document gives pattern, upper case, sorted.
func (d *openAPIDoc) methods(pattern string) []string {
	item, _ := d.paths()[pattern].(map[string]any)
	var out []string
	for _, m := range httpMethods {
		if _, ok := item[m]; ok {
			out = append(out, strings.ToUpper(m))
		}
	}
	slices.Sort(out)
	return out
}

// resolve follows a local $ref ("#/components/...").
func (d *openAPIDoc) resolve(ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var node any = d.root
	for _, key := range strings.Split(ref[2:], "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not in an object", ref, key)
		}
		if node, ok = m[key]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, key)
		}
	}
	out, ok := node.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not an object", ref)
	}
	return out, nil
}

// match finds the path template an escaped request path falls under: each
// {param} matches one segment; of several matches, the one with the most
// literal segments wins, as with ServeMux.
func (d *openAPIDoc) match(escapedPath string) (string, bool) {
	segs := strings.Split(escapedPath, "/")
	best, bestLiterals := "", -1
	for pattern := range d.paths() {
		ps := strings.Split(pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, p := range ps {
			switch {
			case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
				ok = ok && segs[i] != ""
			case p == segs[i]:
				literals++
			default:
				ok = false
			}
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = pattern, literals
		}
	}
	return best, bestLiterals >= 0
}

// checkResponse reports (as test errors) an answer to method on an
// escaped /api/v1 path whose status the document does not list for the
// operation, or whose body does not validate against its schema.
func (d *openAPIDoc) checkResponse(t *testing.T, method, escapedPath string, status int, contentType string, body []byte) {
	t.Helper()
	pattern, ok := d.match(escapedPath)
	if !ok {
		if status != http.StatusNotFound {
			t.Errorf("OpenAPI: %s %s answered %d but no documented path matches it", method, escapedPath, status)
		}
		return
	}
	op, ok := d.paths()[pattern].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if !ok {
		if status != http.StatusMethodNotAllowed && status != http.StatusUnauthorized {
			t.Errorf("OpenAPI: %s is not documented for %s, yet %s %s answered %d", method, pattern, method, escapedPath, status)
		}
		return
	}
	where := fmt.Sprintf("%s %s %d", method, pattern, status)
	responses := op["responses"].(map[string]any)
	r, ok := responses[fmt.Sprint(status)].(map[string]any)
	if !ok {
		t.Errorf("OpenAPI: %s (%s) is not a documented answer; body %s", where, escapedPath, body)
		return
	}
	if ref, isRef := r["$ref"].(string); isRef {
		var err error
		if r, err = d.resolve(ref); err != nil {
			t.Errorf("OpenAPI: %s: %v", where, err)
			return
		}
	}
	content, _ := r["content"].(map[string]any)
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		if len(body) > 0 {
			t.Errorf("OpenAPI: %s documents no body, got %s", where, body)
		}
		return
	}
	if !strings.HasPrefix(contentType, "application/json") {
		t.Errorf("OpenAPI: %s: Content-Type %q, want application/json", where, contentType)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Errorf("OpenAPI: %s: body is not JSON: %v: %s", where, err, body)
		return
	}
	for _, p := range d.validate(media["schema"], v, "$") {
		t.Errorf("OpenAPI: %s (%s): %s", where, escapedPath, p)
	}
}

// schemaKeywords is the subset of JSON Schema the validator understands;
// the document may use no other keyword in a schema.
var schemaKeywords = []string{"$ref", "type", "properties", "required", "additionalProperties", "items", "enum",
	"nullable", "description", "format", "minimum", "maximum"}

// validate returns what is wrong with v under schema, by JSON path. An
// object's properties must all be declared unless additionalProperties
// gives their schema: the document lists every field hookd sends.
func (d *openAPIDoc) validate(schemaNode any, v any, at string) []string {
	schema, ok := schemaNode.(map[string]any)
	if !ok {
		return []string{at + ": schema is not an object"}
	}
	if ref, ok := schema["$ref"].(string); ok {
		s, err := d.resolve(ref)
		if err != nil {
			return []string{at + ": " + err.Error()}
		}
		return d.validate(s, v, at)
	}
	if v == nil {
		if _, typed := schema["type"]; typed && schema["nullable"] != true {
			return []string{at + ": null, but the schema is not nullable"}
		}
		return nil
	}
	var problems []string
	if enum, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		problems = append(problems, fmt.Sprintf("%s: %v is none of %v", at, v, enum))
	}
	typ, _ := schema["type"].(string)
	switch typ {
	case "":
		return problems // any value
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return append(problems, fmt.Sprintf("%s: %T, want an object", at, v))
		}
		required, _ := schema["required"].([]any)
		for _, name := range required {
			if _, ok := obj[name.(string)]; !ok {
				problems = append(problems, fmt.Sprintf("%s: required %q is missing", at, name))
			}
		}
		props, _ := schema["properties"].(map[string]any)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			child := at + "." + key
			switch extra := schema["additionalProperties"].(type) {
			case map[string]any:
				if p, ok := props[key]; ok {
					problems = append(problems, d.validate(p, obj[key], child)...)
				} else {
					problems = append(problems, d.validate(extra, obj[key], child)...)
				}
			default:
				if p, ok := props[key]; ok {
					problems = append(problems, d.validate(p, obj[key], child)...)
				} else if props != nil {
					problems = append(problems, child+": not in the schema's properties")
				}
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return append(problems, fmt.Sprintf("%s: %T, want an array", at, v))
		}
		for i, item := range arr {
			problems = append(problems, d.validate(schema["items"], item, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		if _, ok := v.(string); !ok {
			problems = append(problems, fmt.Sprintf("%s: %T, want a string", at, v))
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			return append(problems, fmt.Sprintf("%s: %T, want a JSON %s", at, v, typ))
		}
		f, err := n.Float64()
		if err != nil || (typ == "integer" && f != math.Trunc(f)) {
			problems = append(problems, fmt.Sprintf("%s: %s is not a JSON %s", at, n, typ))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			problems = append(problems, fmt.Sprintf("%s: %T, want a boolean", at, v))
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: unknown type %q", at, typ))
	}
	return problems
}

// checkedClient is an HTTP client whose every answer from /api/v1 is
// validated against the document.
func checkedClient(t *testing.T) *http.Client {
	return &http.Client{Transport: checkedTransport{t: t, doc: loadOpenAPI(t)}}
}

type checkedTransport struct {
	t   *testing.T
	doc *openAPIDoc
}

func (c checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasPrefix(req.URL.Path, "/api/v1/") {
		c.doc.checkResponse(c.t, req.Method, req.URL.EscapedPath(), resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return resp, nil
}

// The document lists exactly the routes registered under /api/v1, with
// the same methods; and the mux answers each of them with those methods
// only.
func TestOpenAPIListsExactlyTheRegisteredRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	st := openStore(t, filepath.Join(t.TempDir(), "hookd.db"))
	h := handlers.New(handlers.Options{Store: st})
	h.SetTokens(handlers.Tokens{sha256.Sum256([]byte(apiToken)): {Name: "ops"}})
	srv := httptest.NewServer(h)
	defer srv.Close()

	registered := map[string][]string{}
	for _, r := range h.APIRoutes() {
		if !strings.HasPrefix(r.Pattern, "/api/v1/") {
			t.Errorf("APIRoutes lists %s, outside /api/v1", r.Pattern)
		}
		if _, dup := registered[r.Pattern]; dup {
			t.Errorf("APIRoutes lists %s twice", r.Pattern)
		}
		registered[r.Pattern] = r.Methods
	}
	// Routes registered on the mux directly rather than through the list
	// are found in the source: they must be documented all the same.
	for _, p := range directAPIRoutes(t) {
		if _, dup := registered[p]; dup {
			t.Errorf("%s is registered directly and through the list", p)
		}
		registered[p] = doc.methods(p) // their methods are checked below, by the mux
	}
	documented := map[string][]string{}
	for pattern := range doc.paths() {
		documented[pattern] = doc.methods(pattern)
	}
	for _, p := range slices.Sorted(maps.Keys(registered)) {
		if want, ok := documented[p]; !ok {
			t.Errorf("%s %s is registered but not in openapi.json", registered[p], p)
		} else if !slices.Equal(registered[p], want) {
			t.Errorf("%s: registered for %v, documented for %v", p, registered[p], want)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := registered[p]; !ok {
			t.Errorf("openapi.json documents %s %s, which is not registered", documented[p], p)
		}
	}

	// The mux itself: a method the route does not take is answered 405
	// with Allow naming exactly the documented methods. That holds the
	// registration (not only the list) to the document.
	placeholder := regexp.MustCompile(`\{[^}]+\}`)
	for pattern, want := range documented {
		path := placeholder.ReplaceAllString(pattern, "x1")
		req, _ := http.NewRequest(http.MethodPut, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != strings.Join(want, ", ") {
			t.Errorf("PUT %s: %d, Allow %q; want 405 and Allow %q", path, resp.StatusCode, resp.Header.Get("Allow"), strings.Join(want, ", "))
		}
	}

	// Every schema keyword is one the validator understands, and every
	// $ref resolves.
	var walk func(node any, at string, inSchema bool)
	walk = func(node any, at string, inSchema bool) {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				if _, err := doc.resolve(ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, v := range n {
				switch {
				case inSchema && !slices.Contains(schemaKeywords, k):
					t.Errorf("%s: schema keyword %q is outside the subset the tests validate", at, k)
				case inSchema && k == "properties":
					for name, p := range v.(map[string]any) {
						walk(p, at+".properties."+name, true)
					}
				case inSchema && (k == "enum" || k == "required" || k == "description"):
				default:
					walk(v, at+"."+k, inSchema || k == "schema" || (at == "$.components.schemas"))
				}
			}
		case []any:
			for i, v := range n {
				walk(v, fmt.Sprintf("%s[%d]", at, i), inSchema)
			}
		}
	}
	walk(doc.root, "$", false)
	if doc.root["openapi"] != "3.0.3" {
		t.Errorf("openapi = %v", doc.root["openapi"])
	}
}

// directAPIRoutes are the /api/v1 patterns the package's code registers
// with a mux's Handle or HandleFunc and a string literal, outside the list
// of api().
func directAPIRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err == nil && strings.HasPrefix(pattern, "/api/") {
				out = append(out, pattern)
			}
			return true
		})
	}
	return out
}

// GET /api/v1/openapi.json serves the document, without a token.
func TestOpenAPIIsServedWithoutAToken(t *testing.T) {
	f := newFixture(t)
	resp, err := checkedClient(t).Get(f.url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	want, _ := os.ReadFile("openapi.json")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /api/v1/openapi.json: %d %q, %d bytes; want 200 and openapi.json", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}
}

// The answers of the operations API validate against the document:
// successes, and the errors of each kind.
func TestOperationsAPIAnswersMatchTheDocument(t *testing.T) {
	f := newFixture(t)
	client := checkedClient(t)
	call := func(token, method, path string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, f.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	if r := f.github("push", "d-1", pushBody(repo)); r.status != http.StatusAccepted {
		t.Fatalf("push: %d", r.status)
	}
	ev := f.seedEvents(2)[0]
	runs, err := f.store.CreateRuns(ctx(t), ev.ID, []string{"redeploy"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.StartRun(ctx(t), runs[0].ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	exit := 1
	if err := f.store.FinishRun(ctx(t), runs[0].ID, store.RunFailed, store.AttemptResult{ExitCode: &exit, OutputTail: "x", Error: "exit status 1"}); err != nil {
		t.Fatal(err)
	}
	run := fmt.Sprint(runs[0].ID)
	// A lane run, recorded and deployed.
	lane := f.seedEvents(1)[0]
	laneRuns, err := f.store.Converge(ctx(t), lane.ID, []store.LaneChange{{Action: "deploy", Stage: "prod",
		After: []string{"v1.0.0"}, Trigger: store.EventAssignment, Version: "v1.0.0"}})
	if err != nil || len(laneRuns) != 1 {
		t.Fatalf("Converge: %v %v", laneRuns, err)
	}
	if _, err := f.store.StartLane(ctx(t), laneRuns[0].ID, time.Minute, store.LanePolicy{}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.FinishRun(ctx(t), laneRuns[0].ID, store.RunSucceeded, store.AttemptResult{Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token, method, path string
		want                int
	}{
		{apiToken, "GET", "/api/v1/events?limit=1", 200},
		{apiToken, "GET", "/api/v1/events/" + fmt.Sprint(ev.ID), 200},
		{apiToken, "GET", "/api/v1/events/999", 404},
		{apiToken, "GET", "/api/v1/events?type=nope", 422},
		{"", "GET", "/api/v1/events", 401},
		{readerToken, "GET", "/api/v1/events", 403},
		{apiToken, "GET", "/api/v1/deliveries", 200},
		{apiToken, "GET", "/api/v1/deliveries/d-1", 200},
		{apiToken, "GET", "/api/v1/deliveries/nope", 404},
		{apiToken, "GET", "/api/v1/runs?status=failed", 200},
		{apiToken, "GET", "/api/v1/runs/" + run, 200},
		{apiToken, "POST", "/api/v1/runs/" + run + "/retry", 202},
		{apiToken, "POST", "/api/v1/runs/" + run + "/retry", 409},
		{readerToken, "POST", "/api/v1/deliveries/d-1/replay", 403},
		{apiToken, "POST", "/api/v1/deliveries/nope/replay", 404},
		{apiToken, "GET", "/api/v1/runs/" + fmt.Sprint(laneRuns[0].ID), 200},
		{apiToken, "GET", "/api/v1/lanes", 200},
		{readerToken, "GET", "/api/v1/lanes?repository=" + repo + "&stage=prod", 200},
		{readerToken, "GET", "/api/v1/lanes", 403},
		{"", "GET", "/api/v1/lanes", 401},
	} {
		call(c.token, c.method, c.path, c.want)
	}
	f.failDeliveries("d-1", "boom")
	call(apiToken, "POST", "/api/v1/deliveries/d-1/replay", 202)
}

// The validator finds what it is for: a wrong type, a missing or
// undeclared field, a value outside an enum, a null where none is allowed.
func TestOpenAPIValidatorCatchesMismatches(t *testing.T) {
	doc := loadOpenAPI(t)
	decode := func(s string) any {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	event := `{"id":1,"repository":"r","artifact":"a","type":"assignment","commit":"c","tag":"a#prod#1","tag_object":"o",` +
		`"tagger":{"name":"n","email":"e","date":"d"},"message":"m","active_before":[],"active_after":["v1"],"stages":[],"recorded_at":"t"}`
	ref := map[string]any{"$ref": "#/components/schemas/Event"}
	if p := doc.validate(ref, decode(event), "$"); len(p) != 0 {
		t.Fatalf("a valid event: %v", p)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"id":1`, `"id":1.5`, "$.id: 1.5 is not a JSON integer"},
		{`"id":1`, `"id":"1"`, "$.id: string, want a JSON integer"},
		{`"type":"assignment"`, `"type":"promotion"`, "$.type: promotion is none of"},
		{`"tag":"a#prod#1",`, ``, `required "tag" is missing`},
		{`"message":"m"`, `"message":"m","extra":1`, "$.extra: not in the schema's properties"},
		{`"active_after":["v1"]`, `"active_after":[1]`, "$.active_after[0]: json.Number, want a string"},
		{`"active_before":[]`, `"active_before":null`, "$.active_before: null, but the schema is not nullable"},
		{`"tagger":{"name":"n","email":"e","date":"d"}`, `"tagger":{"name":"n","email":"e"}`, `$.tagger: required "date" is missing`},
	} {
		p := doc.validate(ref, decode(strings.Replace(event, c.from, c.to, 1)), "$")
		if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s → %s: problems %q, want one with %q", c.from, c.to, p, c.want)
		}
	}
	overview := map[string]any{"$ref": "#/components/schemas/Overview"}
	if p := doc.validate(overview, decode(`{"nn":{"version":null,"stage":{"prod":"v1","dev":null},"registered":true,"active":true}}`), "$"); len(p) != 0 {
		t.Errorf("a valid overview: %v", p)
	}
	if p := doc.validate(overview, decode(`{"nn":{"version":null,"stage":{"prod":1},"registered":true,"active":true}}`), "$"); len(p) != 1 {
		t.Errorf("a stage map with a number: %v", p)
	}
}

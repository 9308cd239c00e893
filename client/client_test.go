package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/client"
	"github.com/hookd-dev/hookd/registry"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func newClient(t *testing.T, token string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(fixture.url, append([]client.Option{client.WithToken(token)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openAPI is handlers/openapi.json, the document the server serves.
func openAPI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../handlers/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The client's types are the document's schemas: the same JSON names,
// and every property the schema requires is one the type always sends.
func TestTypesMatchTheOpenAPIDocument(t *testing.T) {
	schemas := openAPI(t)["components"].(map[string]any)["schemas"].(map[string]any)
	for name, typ := range map[string]any{
		"Tagger": client.Tagger{}, "Event": client.Event{}, "Delivery": client.Delivery{}, "Attempt": client.Attempt{},
		"Run": client.Run{}, "AuditEntry": client.AuditEntry{}, "WriteRequest": client.WriteRequest{},
		"WriteResult": client.WriteResult{}, "CommandRequest": client.CommandRequest{}, "CommandReply": client.CommandReply{},
		"StageChange": client.StageChange{}, "Lane": client.Lane{},
	} {
		schema := schemas[name].(map[string]any)
		var props []string
		for p := range schema["properties"].(map[string]any) {
			props = append(props, p)
		}
		sort.Strings(props)
		fields := map[string]bool{} // JSON name → omitempty
		rt := reflect.TypeOf(typ)
		for i := range rt.NumField() {
			tag := rt.Field(i).Tag.Get("json")
			n, opts, _ := strings.Cut(tag, ",")
			fields[n] = strings.Contains(opts, "omitempty")
		}
		var names []string
		for n := range fields {
			names = append(names, n)
		}
		sort.Strings(names)
		if !slices.Equal(names, props) {
			t.Errorf("%s: fields %v, schema %v", name, names, props)
		}
		required, _ := schema["required"].([]any)
		for _, r := range required {
			// A write's request requires what the server requires of it;
			// a client may leave out what the server does not.
			if fields[r.(string)] && name != "WriteRequest" && name != "CommandRequest" {
				t.Errorf("%s.%s is required but omitempty", name, r)
			}
		}
	}
}

// Every operation of the document has its method.
func TestEveryOperationHasAMethod(t *testing.T) {
	methods := map[string]string{
		"openAPI": "Client.OpenAPI", "listEvents": "Client.Events", "getEvent": "Client.Event",
		"listDeliveries": "Client.Deliveries", "getDelivery": "Client.Delivery", "replayDelivery": "Client.ReplayDelivery",
		"listRuns": "Client.Runs", "getRun": "Client.Run", "retryRun": "Client.RetryRun", "listAudit": "Client.Audit",
		"listLanes": "Client.Lanes",
		"command":   "Client.Command", "show": "Repository.Show", "showArtifact": "Repository.ShowArtifact",
		"history": "Repository.History", "artifactHistory": "Repository.ArtifactHistory", "stages": "Repository.Stages",
		"checkRef": "Repository.CheckRef", "register": "Repository.Register", "assign": "Repository.Assign",
		"unassign": "Repository.Unassign", "deregister": "Repository.Deregister", "deprecate": "Repository.Deprecate",
	}
	var ops []string
	for _, item := range openAPI(t)["paths"].(map[string]any) {
		for _, op := range item.(map[string]any) {
			if id, ok := op.(map[string]any)["operationId"].(string); ok {
				ops = append(ops, id)
			}
		}
	}
	for _, id := range ops {
		m, ok := methods[id]
		if !ok {
			t.Errorf("operation %s has no method", id)
			continue
		}
		recv, name, _ := strings.Cut(m, ".")
		typ := reflect.TypeOf(&client.Client{})
		if recv == "Repository" {
			typ = reflect.TypeOf(&client.Repository{})
		}
		if _, ok := typ.MethodByName(name); !ok {
			t.Errorf("operation %s: no method %s", id, m)
		}
	}
	if len(ops) != len(methods) {
		t.Errorf("the document has %d operations, the test knows %d", len(ops), len(methods))
	}
}

// Reads answer in GTO's shapes; KeepBody keeps the server's JSON as sent.
func TestRepositoryReads(t *testing.T) {
	models := newClient(t, readerToken).Repository("acme", "models")
	var raw []byte
	ov, err := models.Show(ctx(t), registry.DefaultShowOptions(), client.KeepBody(&raw))
	if err != nil {
		t.Fatal(err)
	}
	churn, ok := ov.Get("churn")
	if !ok || churn.Version == nil || *churn.Version != "v1.0.0" || !churn.Registered || !json.Valid(raw) || !strings.Contains(string(raw), `"churn"`) {
		t.Fatalf("show = %+v, body %s", ov, raw)
	}
	versions, err := models.ShowArtifact(ctx(t), "churn", "", registry.DefaultShowOptions())
	if err != nil || len(versions) != 1 || versions[0].Version != "v1.0.0" {
		t.Errorf("show churn = %+v, %v", versions, err)
	}
	events, err := models.CheckRef(ctx(t), "churn@v1.0.0")
	if err != nil || len(events) != 1 || events[0].Event != "registration" || events[0].Version != "v1.0.0" {
		t.Errorf("check-ref = %+v, %v", events, err)
	}
	if h, err := models.ArtifactHistory(ctx(t), "churn", true); err != nil || len(h) == 0 || h[0].Event != "registration" {
		t.Errorf("history churn = %+v, %v", h, err)
	}
	if _, err := models.Stages(ctx(t), false, true); err != nil {
		t.Errorf("stages: %v", err)
	}
	_, err = models.ShowArtifact(ctx(t), "missing", "", registry.DefaultShowOptions())
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || e.Code != "not_found" || !strings.Contains(e.Message, "missing") {
		t.Errorf("show missing: %#v", err)
	}
}

// Errors carry the status, hookd's code and its message; answers that are
// not hookd's say what came back; a redirect is not followed but says
// where it leads.
func TestErrors(t *testing.T) {
	_, err := newClient(t, "not-a-token").Event(ctx(t), fixture.eventIDs[0])
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized || e.Code != "unauthorized" || e.Message != "the token is not one of hookd's" {
		t.Errorf("bad token: %#v", err)
	}
	if _, err := newClient(t, readerToken).Event(ctx(t), 999999); !errors.As(err, &e) || e.StatusCode != http.StatusNotFound {
		t.Errorf("missing event: %#v", err)
	}
	if err := newClient(t, readerToken).RetryRun(ctx(t), fixture.failed[0]); !errors.As(err, &e) || e.StatusCode != http.StatusForbidden {
		t.Errorf("retry without the retry scope: %#v", err)
	}

	other := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(other.Close)
	c, _ := client.New(other.URL)
	if _, err := c.Run(ctx(t), 1); !errors.As(err, &e) || e.Code != "" || e.Message != "the hookd server at "+other.URL+" answered 404 Not Found to GET /api/v1/runs/1" {
		t.Errorf("no hookd there: %#v", err)
	}
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fixture.url+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	t.Cleanup(moved.Close)
	c, _ = client.New(moved.URL, client.WithToken(ciToken))
	if _, err := c.Repository("acme", "models").Register(ctx(t), client.WriteRequest{Artifact: "churn"}); !errors.As(err, &e) ||
		e.StatusCode != http.StatusMovedPermanently || e.Location != fixture.url {
		t.Errorf("redirect: %#v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	c, _ = client.New(gone)
	if _, err := c.Run(ctx(t), 1); err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "cannot reach the hookd server at "+gone) {
		t.Errorf("server down: %v", err)
	}
	if _, err := client.New("ftp://example.com"); err == nil {
		t.Error("an ftp:// base URL was taken")
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// The iterators fetch page after page until the last, and no further page
// once the loop has stopped.
func TestIteratorsPage(t *testing.T) {
	ct := &countingTransport{}
	c := newClient(t, readerToken, client.WithHTTPClient(&http.Client{Transport: ct}))
	var ids []int64
	for e, err := range c.Events(ctx(t), client.EventFilter{Repository: "acme/models", Page: client.Page{Limit: 1}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if want := []int64{fixture.eventIDs[1], fixture.eventIDs[0]}; !slices.Equal(ids[len(ids)-2:], want) || int(ct.n.Load()) != len(ids)+1 {
		t.Errorf("events %v in %d requests; want ... %v newest first, one request a page and one for the empty last", ids, ct.n.Load(), want)
	}
	ct.n.Store(0)
	for range c.Runs(ctx(t), client.RunFilter{Repository: "acme/models", Page: client.Page{Limit: 1}}) {
		break
	}
	if n := ct.n.Load(); n != 1 {
		t.Errorf("a loop that stopped at once made %d requests", n)
	}
	var n int
	for _, err := range c.Deliveries(ctx(t), client.DeliveryFilter{Repository: "acme/models", Status: "nonsense"}) {
		var e *client.Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusUnprocessableEntity || e.Code != "invalid_parameter" {
			t.Errorf("bad filter: %#v", err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("a failing list yielded %d times, want once (with the error)", n)
	}
}

// Lanes: each environment's desired state beside what it deployed (the
// fixture's deploys failed, so nothing is deployed yet).
func TestLanes(t *testing.T) {
	lanes, err := newClient(t, readerToken).Lanes(ctx(t), client.LaneFilter{Repository: "acme/models"})
	if err != nil || len(lanes) != 2 {
		t.Fatalf("Lanes = %+v, %v; want dev's and staging's", lanes, err)
	}
	for _, l := range lanes {
		if l.Action != "redeploy" || !slices.Equal(l.Desired, []string{"v1.0.0"}) || len(l.Deployed) != 0 || l.InSync {
			t.Errorf("lane %+v", l)
		}
	}
	var apiErr *client.Error
	if _, err := newClient(t, readerToken).Lanes(ctx(t), client.LaneFilter{Repository: "acme/other"}); !errors.As(err, &apiErr) || apiErr.StatusCode != 403 {
		t.Errorf("another repository's lanes: %v, want a 403", err)
	}
}

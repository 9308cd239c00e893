package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// The operations API: what arrived (deliveries), what it meant (events),
// what hookd did about it (runs), who asked for which write (audit), with
// replay and retry.

// Page bounds one request of a list: Limit records a page (1 to 500,
// default 50), starting after the record Before (0: the newest). The
// iterators follow the pages themselves; Page only sets where they start
// and how much each request carries.
type Page struct {
	Limit  int
	Before int64
}

func (p Page) query(q url.Values) url.Values {
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Before > 0 {
		q.Set("before", strconv.FormatInt(p.Before, 10))
	}
	return q
}

// set adds a filter to q when it is given.
func set(q url.Values, name, value string) {
	if value != "" {
		q.Set(name, value)
	}
}

// EventFilter selects events; empty fields select all. Repository is
// needed unless the token reads every repository.
type EventFilter struct {
	Repository, Artifact, Stage string
	// Type is registration, deregistration, assignment, unassignment,
	// deprecation or tag_deleted.
	Type string
	Page
}

// DeliveryFilter selects deliveries.
type DeliveryFilter struct {
	Repository, Event string
	// Status is queued, processed, ignored or failed.
	Status string
	Page
}

// RunFilter selects runs.
type RunFilter struct {
	Repository, Artifact, Stage, Action string
	// Status is queued, running, succeeded, failed or superseded.
	Status string
	// EventID keeps the runs of one event.
	EventID int64
	Page
}

// LaneFilter selects lanes (environments).
type LaneFilter struct {
	Repository, Artifact, Stage, Action string
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Repository, Principal, Artifact string
	Page
}

// list pages through a list endpoint, newest first: each page is the
// records under key and the cursor of the next page, null on the last.
func list[T any](ctx context.Context, c *Client, path, key string, q url.Values, p Page) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		before := p.Before
		for {
			var page map[string]json.RawMessage
			pq := Page{Limit: p.Limit, Before: before}.query(cloneValues(q))
			var records []T
			var next *int64
			err := c.do(ctx, http.MethodGet, path, pq, nil, &page, http.StatusOK, nil)
			if err == nil {
				err = json.Unmarshal(page[key], &records)
			}
			if err == nil {
				err = json.Unmarshal(page["next_before"], &next)
			}
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, rec := range records {
				if !yield(rec, nil) {
					return
				}
			}
			if next == nil {
				return
			}
			before = *next
		}
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	return out
}

// Events lists the events f selects, newest first, fetching pages as the
// loop goes on.
func (c *Client) Events(ctx context.Context, f EventFilter) iter.Seq2[Event, error] {
	q := url.Values{}
	set(q, "repository", f.Repository)
	set(q, "artifact", f.Artifact)
	set(q, "stage", f.Stage)
	set(q, "type", f.Type)
	return list[Event](ctx, c, "/api/v1/events", "events", q, f.Page)
}

// Event returns one event.
func (c *Client) Event(ctx context.Context, id int64) (Event, error) {
	var e Event
	err := c.do(ctx, http.MethodGet, "/api/v1/events/"+strconv.FormatInt(id, 10), nil, nil, &e, http.StatusOK, nil)
	return e, err
}

// Deliveries lists the deliveries f selects, newest first.
func (c *Client) Deliveries(ctx context.Context, f DeliveryFilter) iter.Seq2[Delivery, error] {
	q := url.Values{}
	set(q, "repository", f.Repository)
	set(q, "event", f.Event)
	set(q, "status", f.Status)
	return list[Delivery](ctx, c, "/api/v1/deliveries", "deliveries", q, f.Page)
}

// Delivery returns one delivery, with its payload unless retention pruned
// it.
func (c *Client) Delivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	err := c.do(ctx, http.MethodGet, "/api/v1/deliveries/"+url.PathEscape(id), nil, nil, &d, http.StatusOK, nil)
	return d, err
}

// ReplayDelivery processes a delivery again; the token needs retry.
func (c *Client) ReplayDelivery(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/deliveries/"+url.PathEscape(id)+"/replay", nil, nil, nil, http.StatusAccepted, nil)
}

// Runs lists the runs f selects, newest first.
func (c *Client) Runs(ctx context.Context, f RunFilter) iter.Seq2[Run, error] {
	q := url.Values{}
	set(q, "repository", f.Repository)
	set(q, "artifact", f.Artifact)
	set(q, "stage", f.Stage)
	set(q, "action", f.Action)
	set(q, "status", f.Status)
	if f.EventID > 0 {
		q.Set("event", strconv.FormatInt(f.EventID, 10))
	}
	return list[Run](ctx, c, "/api/v1/runs", "runs", q, f.Page)
}

// Run returns one run with its attempts.
func (c *Client) Run(ctx context.Context, id int64) (Run, error) {
	var r Run
	err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+strconv.FormatInt(id, 10), nil, nil, &r, http.StatusOK, nil)
	return r, err
}

// RetryRun queues a finished (or stranded) run again, with as many
// attempts as its action allows; the token needs retry. A run still queued
// or running is a 409 *Error with Code "run_not_finished".
func (c *Client) RetryRun(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/api/v1/runs/"+strconv.FormatInt(id, 10)+"/retry", nil, nil, nil, http.StatusAccepted, nil)
}

// Lanes lists the environments f selects: for each action, repository,
// artifact and stage, what GTO shows (Desired) beside what the action last
// deployed. Lanes are few, so they come in one answer.
func (c *Client) Lanes(ctx context.Context, f LaneFilter) ([]Lane, error) {
	q := url.Values{}
	set(q, "repository", f.Repository)
	set(q, "artifact", f.Artifact)
	set(q, "stage", f.Stage)
	set(q, "action", f.Action)
	var page struct {
		Lanes []Lane `json:"lanes"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/lanes", q, nil, &page, http.StatusOK, nil)
	return page.Lanes, err
}

// Audit lists the audit log's entries f selects, newest first.
func (c *Client) Audit(ctx context.Context, f AuditFilter) iter.Seq2[AuditEntry, error] {
	q := url.Values{}
	set(q, "repository", f.Repository)
	set(q, "principal", f.Principal)
	set(q, "artifact", f.Artifact)
	return list[AuditEntry](ctx, c, "/api/v1/audit", "entries", q, f.Page)
}

// Command runs a chat command as the token's holder. A command that was
// read and run answers with OK false rather than an error when it was
// refused.
func (c *Client) Command(ctx context.Context, req CommandRequest) (CommandReply, error) {
	var r CommandReply
	err := c.do(ctx, http.MethodPost, "/api/v1/command", nil, req, &r, http.StatusOK, nil)
	return r, err
}

// OpenAPI returns the server's OpenAPI document of /api/v1 (no token
// needed).
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var raw []byte
	err := c.do(ctx, http.MethodGet, "/api/v1/openapi.json", nil, nil, nil, http.StatusOK, []CallOption{KeepBody(&raw)})
	return raw, err
}

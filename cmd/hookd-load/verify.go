package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// report is what the API says became of a run's acknowledged deliveries.
// lost, duplicated, overlapping and unprocessed must all be 0.
type report struct {
	acknowledged int // distinct delivery ids
	tags         int // GTO tags announced
	events       int // of those tags
	runs         int // of -action, for their assignments
	failedRuns   int // runs whose action failed: reported, not a loss

	lost        []string // acknowledged ids hookd does not know
	unprocessed []string // still queued, failed, or an event or run missing
	duplicated  []string // a second event for a tag, an event for a non-GTO tag, a second run, a second start
	overlapping []string // two runs of one lane at once
}

func (r *report) clean() bool {
	return len(r.lost)+len(r.unprocessed)+len(r.duplicated)+len(r.overlapping) == 0
}

// settled says whether hookd has nothing left to do that could change r.
func (r *report) settled() bool {
	return !slices.ContainsFunc(r.unprocessed, func(s string) bool { return strings.Contains(s, "still ") })
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "verified      %d acknowledged deliveries, %d GTO tags, %d events, %d runs (%d failed)\n",
		r.acknowledged, r.tags, r.events, r.runs, r.failedRuns)
	for _, c := range []struct {
		name string
		list []string
	}{{"lost", r.lost}, {"duplicated", r.duplicated}, {"overlapping", r.overlapping}, {"unprocessed", r.unprocessed}} {
		fmt.Fprintf(w, "%-13s %d\n", c.name, len(c.list))
		for i, s := range c.list {
			if i == 10 {
				fmt.Fprintf(w, "  ... and %d more\n", len(c.list)-10)
				break
			}
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

// verify waits until hookd has settled what acked announced, or o.settle
// has passed, and reports what the API shows. hookd is settled when no
// acknowledged delivery is still queued, no run is queued or running, and
// the picture stayed the same for a few polls (a run is created after its
// event is).
func verify(ctx context.Context, o options, acked []*delivery) (*report, error) {
	api := &apiClient{bases: o.urls, token: o.token, http: &http.Client{Timeout: 30 * time.Second}}
	deadline := time.Now().Add(o.settle)
	var last *report
	same := 0
	for {
		r, err := check(ctx, api, o, acked, false)
		if err != nil {
			return nil, err
		}
		if last != nil && fmt.Sprint(*r) == fmt.Sprint(*last) {
			same++
		} else {
			same = 0
		}
		last = r
		if (r.clean() || r.settled() && same >= 3) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// The runs' attempts, read one run at a time, only once at the end.
	return check(ctx, api, o, acked, true)
}

// check compares what acked should have led to with what the API shows.
func check(ctx context.Context, api *apiClient, o options, acked []*delivery, attempts bool) (*report, error) {
	r := &report{}
	byID := map[string]*delivery{}
	wantEvent, noEvent := map[string]bool{}, map[string]bool{}
	for _, d := range acked {
		byID[d.id] = d
		for _, t := range d.gto {
			wantEvent[t] = true
		}
		for _, t := range d.nonGTO {
			noEvent[t] = true
		}
	}
	r.acknowledged, r.tags = len(byID), len(wantEvent)

	var deliveries []struct{ ID, Status, Reason string }
	if err := api.list(ctx, "/api/v1/deliveries", nil, "deliveries", &deliveries); err != nil {
		return nil, err
	}
	stored := map[string]bool{}
	for _, d := range deliveries {
		if byID[d.ID] == nil {
			continue
		}
		stored[d.ID] = true
		switch d.Status {
		case "queued":
			r.unprocessed = append(r.unprocessed, fmt.Sprintf("delivery %s still queued", d.ID))
		case "failed":
			r.unprocessed = append(r.unprocessed, fmt.Sprintf("delivery %s failed: %s", d.ID, d.Reason))
		}
	}
	for _, d := range acked {
		if !stored[d.id] {
			stored[d.id] = true // once per id
			r.lost = append(r.lost, fmt.Sprintf("delivery %s (%s) acknowledged but not stored", d.id, d.kind))
		}
	}

	var events []struct {
		ID              int64
		Tag, Type       string
		Repository      string
		Artifact, Stage string
	}
	if err := api.list(ctx, "/api/v1/events", nil, "events", &events); err != nil {
		return nil, err
	}
	eventsOf := map[string][]int64{}
	assignment := map[int64]string{} // event id → tag
	for _, e := range events {
		switch {
		case wantEvent[e.Tag]:
			eventsOf[e.Tag] = append(eventsOf[e.Tag], e.ID)
			r.events++
			if e.Type == "assignment" {
				assignment[e.ID] = e.Tag
			}
		case noEvent[e.Tag]:
			r.duplicated = append(r.duplicated, fmt.Sprintf("tag %s is no GTO tag but has event %d", e.Tag, e.ID))
		}
	}
	for _, t := range slices.Sorted(maps.Keys(wantEvent)) {
		switch n := len(eventsOf[t]); {
		case n == 0:
			r.unprocessed = append(r.unprocessed, fmt.Sprintf("tag %s has no event", t))
		case n > 1:
			r.duplicated = append(r.duplicated, fmt.Sprintf("tag %s has %d events %v", t, n, eventsOf[t]))
		}
	}
	if o.action == "" {
		return r, nil
	}
	return r, checkRuns(ctx, api, o, assignment, attempts, r)
}

type apiRun struct {
	ID             int64  `json:"id"`
	EventID        int64  `json:"event_id"`
	Repository     string `json:"repository"`
	Artifact       string `json:"artifact"`
	Stage          string `json:"stage"`
	Action         string `json:"action"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	IdempotencyKey string `json:"idempotency_key"`
	History        []struct {
		Number     int        `json:"number"`
		StartedAt  time.Time  `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
	} `json:"history"`
}

// checkRuns: each assignment ran -action once, finished; with attempts,
// no two attempts of a lane overlapped and the ledger has at most one start
// per attempt.
func checkRuns(ctx context.Context, api *apiClient, o options, assignment map[int64]string, attempts bool, r *report) error {
	var runs []apiRun
	if err := api.list(ctx, "/api/v1/runs", url.Values{"action": {o.action}}, "runs", &runs); err != nil {
		return err
	}
	runsOf := map[int64][]apiRun{}
	for _, run := range runs {
		if _, ok := assignment[run.EventID]; ok {
			runsOf[run.EventID] = append(runsOf[run.EventID], run)
		}
	}
	var mine []apiRun
	for _, id := range slices.Sorted(maps.Keys(assignment)) {
		rs := runsOf[id]
		switch {
		case len(rs) == 0:
			r.unprocessed = append(r.unprocessed, fmt.Sprintf("assignment %s (event %d) has no %s run", assignment[id], id, o.action))
		case len(rs) > 1:
			r.duplicated = append(r.duplicated, fmt.Sprintf("assignment %s (event %d) has %d %s runs", assignment[id], id, len(rs), o.action))
		}
		for _, run := range rs {
			r.runs++
			switch run.Status {
			case "queued", "running":
				r.unprocessed = append(r.unprocessed, fmt.Sprintf("run %d still %s", run.ID, run.Status))
			case "failed":
				r.failedRuns++
			}
		}
		mine = append(mine, rs...)
	}
	if !attempts {
		return nil
	}
	for i := range mine {
		if err := api.get(ctx, fmt.Sprintf("/api/v1/runs/%d", mine[i].ID), &mine[i]); err != nil {
			return err
		}
	}
	r.overlapping = overlaps(mine)
	if o.ledger == "" {
		return nil
	}
	data, err := os.ReadFile(o.ledger)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	starts := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			starts[f[0]]++
		}
	}
	for _, run := range mine {
		switch n := starts[run.IdempotencyKey]; {
		case n > run.Attempts:
			r.duplicated = append(r.duplicated, fmt.Sprintf("run %d started its program %d times in %d attempts", run.ID, n, run.Attempts))
		case n == 0 && run.Status == "succeeded":
			r.unprocessed = append(r.unprocessed, fmt.Sprintf("run %d succeeded without starting its program", run.ID))
		}
	}
	return nil
}

// overlaps finds attempts of one lane (repository, artifact, stage, action)
// that ran at the same time. An attempt with no end was cut short by a
// crash; it cannot be placed, and its successor waited for its lease.
func overlaps(runs []apiRun) []string {
	type span struct {
		run        int64
		start, end time.Time
	}
	lanes := map[string][]span{}
	for _, run := range runs {
		lane := strings.Join([]string{run.Repository, run.Artifact, run.Stage, run.Action}, "\x00")
		for _, a := range run.History {
			if a.FinishedAt != nil {
				lanes[lane] = append(lanes[lane], span{run.ID, a.StartedAt, *a.FinishedAt})
			}
		}
	}
	var out []string
	for _, spans := range lanes {
		slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
		for i := 1; i < len(spans); i++ {
			if spans[i].start.Before(spans[i-1].end) {
				out = append(out, fmt.Sprintf("run %d started at %s while run %d ran until %s",
					spans[i].run, spans[i].start.Format(time.RFC3339Nano), spans[i-1].run, spans[i-1].end.Format(time.RFC3339Nano)))
			}
		}
	}
	return out
}

// apiClient reads hookd's operations API from whichever replica answers.
type apiClient struct {
	bases []string
	token string
	http  *http.Client
}

// get decodes GET path into v, trying each replica in turn (one may be
// the one a fault test stopped).
func (c *apiClient) get(ctx context.Context, path string, v any) error {
	var errs []error
	for _, base := range c.bases {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := c.http.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		switch {
		case err != nil:
			errs = append(errs, err)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return fmt.Errorf("GET %s: %s: the token may not read it (it needs the read operation on every repository)", path, resp.Status)
		case resp.StatusCode != http.StatusOK:
			errs = append(errs, fmt.Errorf("GET %s%s: %s: %s", base, path, resp.Status, strings.TrimSpace(string(body))))
		default:
			return json.Unmarshal(body, v)
		}
	}
	return errors.Join(errs...)
}

// list reads every page of one of the API's lists into out (a pointer to
// a slice).
func (c *apiClient) list(ctx context.Context, path string, q url.Values, key string, out any) error {
	var all []json.RawMessage
	for before := ""; ; {
		v := url.Values{"limit": {"500"}}
		for k, vs := range q {
			v[k] = vs
		}
		if before != "" {
			v.Set("before", before)
		}
		var page map[string]json.RawMessage
		if err := c.get(ctx, path+"?"+v.Encode(), &page); err != nil {
			return err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(page[key], &items); err != nil {
			return fmt.Errorf("GET %s: no %q list: %w", path, key, err)
		}
		all = append(all, items...)
		var next *int64
		if err := json.Unmarshal(page["next_before"], &next); err != nil || next == nil {
			break
		}
		before = fmt.Sprint(*next)
	}
	b, _ := json.Marshal(all)
	return json.Unmarshal(b, out)
}

package ui

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/store"
)

var runStatuses = []string{string(store.RunQueued), string(store.RunRunning), string(store.RunSucceeded), string(store.RunFailed), string(store.RunSuperseded)}

type runRow struct {
	store.Run
	Repo     string
	Event    store.Event
	Duration time.Duration
	CanRetry bool
}

// Deploys is the version the run deploys (or, for a removal, the one the
// stage lost): the run's own, else its event's.
func (r runRow) Deploys() string {
	if r.Version != "" {
		return r.Version
	}
	return r.Event.Version
}

// finished reports whether nothing will change the run any more unless it
// is retried.
func finished(s store.RunStatus) bool {
	return s == store.RunSucceeded || s == store.RunFailed || s == store.RunSuperseded
}

func (h *Handler) runRow(r *http.Request, s *session, run store.Run) (runRow, error) {
	row := runRow{Run: run, Repo: h.apiName(run.Repository)}
	e, err := h.events.get(r.Context(), run.EventID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return row, err
	}
	row.Event = e
	if finished(run.Status) {
		row.Duration = run.UpdatedAt.Sub(run.CreatedAt)
	} else {
		row.Duration = time.Since(run.CreatedAt)
	}
	row.CanRetry = finished(run.Status) && s.Principal.Allows(access.Request{Repository: row.Repo, Operation: access.Retry})
	return row, nil
}

type runsData struct {
	*Listing
	Statuses []string
	Runs     []runRow
	Queue    []queueLane
}

// queueLane is an environment's action whose newest run did not succeed:
// what runs, what waits and why, what failed.
type queueLane struct {
	Repo, Artifact, Stage, Action string
	Latest                        runRow
	Waiting                       []waitingRun
	Why                           string
}

type waitingRun struct {
	runRow
	Why string
}

// runs is the Deployments page: the runs, newest first, and each
// environment's queue.
func (h *Handler) runs(w http.ResponseWriter, r *http.Request, s *session) {
	l, ok := h.listingOf(w, r, s, "artifact", "stage", "action", "status")
	if !ok {
		return
	}
	status := l.status(runStatuses)
	d := runsData{Listing: l, Statuses: runStatuses}
	runs, err := h.store.Runs(r.Context(), store.RunFilter{Repository: l.identity, Artifact: l.filter("artifact"), Stage: l.filter("stage"),
		Action: l.filter("action"), Status: store.RunStatus(status), Page: store.Page{Limit: pageSize, Before: l.Before}})
	if err == nil {
		for _, run := range runs {
			var row runRow
			if row, err = h.runRow(r, s, run); err != nil {
				break
			}
			d.Runs = append(d.Runs, row)
		}
	}
	if err == nil && l.Before == 0 {
		d.Queue, err = h.queue(r, s, l)
	}
	if err != nil {
		h.storeFailed(w, r, s, err)
		return
	}
	if n := len(runs); n > 0 {
		l.page(n, runs[n-1].ID)
	}
	h.render(w, r, http.StatusOK, "runs", &page{Title: "Deployments", Nav: "runs", Session: s, Data: d})
}

// queueShown bounds the environments the queue lists.
const queueShown = 20

// queue is every environment whose newest run is not a success (the
// first queueShown of them, those with a run going first), with the runs
// waiting in it and why.
func (h *Handler) queue(r *http.Request, s *session, l *Listing) ([]queueLane, error) {
	type unsettled struct {
		repo Repository
		lane store.LaneRuns
	}
	var lanes []unsettled
	for _, repo := range l.Repos {
		if l.identity != "" && repo.Identity != l.identity {
			continue
		}
		all, err := h.envRuns.get(r.Context(), repo.Identity, l.filter("artifact"))
		if err != nil {
			return nil, err
		}
		for _, lr := range all {
			if lr.Latest.Status != store.RunSucceeded && (l.filter("stage") == "" || lr.Stage == l.filter("stage")) &&
				(l.filter("action") == "" || lr.Action == l.filter("action")) {
				lanes = append(lanes, unsettled{repo, lr})
			}
		}
	}
	going := func(u unsettled) bool { return !finished(u.lane.Latest.Status) }
	slices.SortStableFunc(lanes, func(a, b unsettled) int {
		if going(a) != going(b) {
			if going(a) {
				return -1
			}
			return 1
		}
		return b.lane.Latest.UpdatedAt.Compare(a.lane.Latest.UpdatedAt)
	})
	var out []queueLane
	for _, u := range lanes[:min(len(lanes), queueShown)] {
		lr := u.lane
		q := queueLane{Repo: u.repo.Name, Artifact: lr.Artifact, Stage: lr.Stage, Action: lr.Action}
		latest, err := h.store.Run(r.Context(), lr.Latest.ID)
		if err != nil {
			return nil, err
		}
		if q.Latest, err = h.runRow(r, s, latest); err != nil {
			return nil, err
		}
		q.Why = whyLatest(latest)
		if going(u) {
			if q.Waiting, err = h.waiting(r, s, latest); err != nil {
				return nil, err
			}
		}
		out = append(out, q)
	}
	return out, nil
}

// waiting lists the queued runs of latest's environment, oldest first
// (the order they run in), and why each waits.
func (h *Handler) waiting(r *http.Request, s *session, latest store.Run) ([]waitingRun, error) {
	queued, err := h.store.Runs(r.Context(), store.RunFilter{Repository: latest.Repository, Artifact: latest.Artifact, Stage: latest.Stage,
		Action: latest.Action, Status: store.RunQueued, Page: store.Page{Limit: pageSize}})
	if err != nil {
		return nil, err
	}
	slices.Reverse(queued)
	var running *store.Run
	if latest.Status == store.RunRunning {
		running = &latest
	} else {
		// An older run of the environment may hold it.
		rs, err := h.store.Runs(r.Context(), store.RunFilter{Repository: latest.Repository, Artifact: latest.Artifact, Stage: latest.Stage,
			Action: latest.Action, Status: store.RunRunning, Page: store.Page{Limit: 1}})
		if err != nil {
			return nil, err
		}
		if len(rs) > 0 {
			running = &rs[0]
		}
	}
	var out []waitingRun
	for i, run := range queued {
		row, err := h.runRow(r, s, run)
		if err != nil {
			return nil, err
		}
		wr := waitingRun{runRow: row}
		switch {
		case running != nil:
			wr.Why = fmt.Sprintf("waits for run #%d, which is running in this environment: one run at a time per environment", running.ID)
		case i > 0:
			wr.Why = fmt.Sprintf("waits behind run #%d, queued before it", queued[i-1].ID)
		default:
			wr.Why = "waits for a deploy worker to pick it up"
		}
		out = append(out, wr)
	}
	return out, nil
}

// whyLatest says why an environment's newest run stands where it does.
func whyLatest(run store.Run) string {
	var last store.Attempt
	if n := len(run.History); n > 0 {
		last = run.History[n-1]
	}
	switch run.Status {
	case store.RunRunning:
		return fmt.Sprintf("attempt %d running since %s", run.Attempts, when(last.StartedAt))
	case store.RunQueued:
		if run.Attempts > 0 {
			return fmt.Sprintf("attempt %d failed (%s); it will be tried again", run.Attempts, lastError(last))
		}
		return "queued"
	case store.RunFailed:
		return fmt.Sprintf("failed after %d attempts: %s", run.Attempts, lastError(last))
	case store.RunSuperseded:
		why := "superseded: a newer change to this stage made it moot before it started"
		if run.SupersededBy != 0 {
			why = fmt.Sprintf("superseded by run #%d, a newer change to this stage, before it started", run.SupersededBy)
		}
		if run.Note != "" {
			why += " (" + run.Note + ")"
		}
		return why
	}
	return ""
}

func lastError(a store.Attempt) string {
	switch {
	case a.Error != "":
		return a.Error
	case a.ExitCode != nil:
		return "exit code " + strconv.Itoa(*a.ExitCode)
	}
	return "no error recorded"
}

type runData struct {
	runRow
	Attempts []attemptRow
	Why      string
	Done     bool // nothing will change it unless it is retried
}

type attemptRow struct {
	store.Attempt
	Duration time.Duration
}

// run is a run's page: the address GitHub Deployment statuses' log_url
// points at.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, s *session) {
	run, ok := h.loadRun(w, r, s)
	if !ok {
		return
	}
	row, err := h.runRow(r, s, run)
	if err != nil {
		h.storeFailed(w, r, s, err)
		return
	}
	d := runData{runRow: row, Why: whyLatest(run), Done: finished(run.Status)}
	for _, a := range run.History {
		ar := attemptRow{Attempt: a}
		if a.FinishedAt != nil {
			ar.Duration = a.FinishedAt.Sub(a.StartedAt)
		}
		d.Attempts = append(d.Attempts, ar)
	}
	h.render(w, r, http.StatusOK, "run", &page{Title: fmt.Sprintf("Run #%d", run.ID), Nav: "runs", Session: s, Data: d})
}

// loadRun reads the path's run for a principal that may read its
// repository; any other is not found, as in the API.
func (h *Handler) loadRun(w http.ResponseWriter, r *http.Request, s *session) (store.Run, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var run store.Run
	if err == nil && id > 0 {
		run, err = h.store.Run(r.Context(), id)
	} else {
		err = store.ErrNotFound
	}
	if err == nil && !s.Principal.Allows(access.Request{Repository: h.apiName(run.Repository), Operation: access.Read}) {
		err = store.ErrNotFound
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.notFound(w, r, s, "There is no run "+r.PathValue("id")+".")
		return run, false
	case err != nil:
		h.storeFailed(w, r, s, err)
		return run, false
	}
	return run, true
}

// retry queues a finished run again.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request, s *session) {
	run, ok := h.loadRun(w, r, s)
	if !ok {
		return
	}
	if err := s.Principal.Check(access.Request{Repository: h.apiName(run.Repository), Operation: access.Retry}); err != nil {
		h.refuse(w, r, s, http.StatusForbidden, err.Error())
		return
	}
	switch err := h.store.RetryRun(r.Context(), run.ID); {
	case errors.Is(err, store.ErrRunState):
		h.refuse(w, r, s, http.StatusConflict, "Only a finished run (succeeded, failed or superseded) can be retried; this one is queued or running.")
		return
	case err != nil:
		h.storeFailed(w, r, s, err)
		return
	}
	h.log.Info("run retried by hand", "run", run.ID, "principal", s.Principal.Name, "via", "dashboard")
	http.Redirect(w, r, fmt.Sprintf("/ui/runs/%d", run.ID), http.StatusSeeOther)
}

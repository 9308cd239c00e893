package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/hookd-dev/hookd/store"
)

// Runs is what the engine needs from the store (*store.Store has it all):
// runs unique per (event, action), each attempt recorded, and the lane lease
// that lets one run at a time per (repository, artifact, stage, action)
// across processes.
type Runs interface {
	CreateRuns(ctx context.Context, eventID int64, actions []string) ([]store.Run, error)
	StartRun(ctx context.Context, runID int64, ttl time.Duration) (store.Run, error)
	ExtendRun(ctx context.Context, runID int64, ttl time.Duration) error
	FinishRun(ctx context.Context, runID int64, status store.RunStatus, res store.AttemptResult) error
	SupersedeRun(ctx context.Context, runID int64) error
	RetryRun(ctx context.Context, runID int64) error
	Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	Run(ctx context.Context, id int64) (store.Run, error)
	Event(ctx context.Context, id int64) (store.Event, error)
}

// Options are the engine's collaborators and settings; all are optional.
type Options struct {
	// GitHub serves the github_* kinds; NewEngine refuses such actions
	// without it.
	GitHub GitHubClients
	// PublicURL is hookd's address as users reach it; runs link to their
	// page in the dashboard, PublicURL/ui/runs/{id} (in HOOKD_RUN_URL,
	// bodies and deployment statuses' log_url).
	PublicURL string
	// Annotations looks up what the repository's .gto says about the
	// event's artifact; without it annotations are empty.
	Annotations func(ctx context.Context, e *Event) (Annotations, error)
	// LeaseTTL is how long a crashed process holds a lane before another
	// may resume its run (default 30s). Live runs renew it every third.
	LeaseTTL time.Duration
	// LaneWait is about how long a run waits before trying again for a
	// lane another run holds (default 500ms, with jitter).
	LaneWait time.Duration
	// MaxFollowers bounds how many github_deployment runs this process
	// has following their event's other runs at once (default 2). A
	// follower holds a job worker while it waits, so without a bound
	// followers could take every worker from the runs they wait for.
	MaxFollowers int
	Logger       *slog.Logger
}

// Engine turns events into runs and executes runs. It is safe for
// concurrent use.
type Engine struct {
	set    atomic.Pointer[actionSet] // swapped whole by SetActions
	runs   Runs
	opts   Options
	logger *slog.Logger

	mu        sync.Mutex
	executing map[int64]bool // runs this process is executing now
	followers chan struct{}  // a slot per github_deployment run following
}

// actionSet is one configuration's compiled actions.
type actionSet struct {
	actions []*compiled
	byName  map[string]*compiled
}

// NewEngine compiles actions and returns an engine that keeps its runs in
// runs; a Problems error lists every mistake in actions.
func NewEngine(actions []Action, runs Runs, opts Options) (*Engine, error) {
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 30 * time.Second
	}
	if opts.LaneWait <= 0 {
		opts.LaneWait = 500 * time.Millisecond
	}
	if opts.MaxFollowers <= 0 {
		opts.MaxFollowers = 2
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	e := &Engine{
		runs:      runs,
		opts:      opts,
		logger:    opts.Logger,
		executing: map[int64]bool{},
		followers: make(chan struct{}, opts.MaxFollowers),
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	if err := e.SetActions(actions); err != nil {
		return nil, err
	}
	return e, nil
}

// SetActions replaces the engine's actions (a configuration reload). It is
// the same engine afterwards, on purpose: the runs it is executing stay
// known to it, so a job River hands out again while one runs is not run a
// second time. On error the actions stay as they were.
func (e *Engine) SetActions(actions []Action) error {
	ready, problems := compile(actions)
	if len(problems) > 0 {
		return problems
	}
	set := &actionSet{actions: ready, byName: make(map[string]*compiled, len(ready))}
	for _, a := range ready {
		if strings.HasPrefix(a.kind, "github_") && e.opts.GitHub == nil {
			return fmt.Errorf("action %q: %s needs a GitHub client", a.Name, a.kind)
		}
		set.byName[a.Name] = a
	}
	e.set.Store(set)
	return nil
}

// Match returns the names of the actions e triggers, in configuration order.
func (e *Engine) Match(ev *Event) []string {
	var names []string
	for _, a := range e.set.Load().actions {
		if a.On.Matches(ev) {
			names = append(names, a.Name)
		}
	}
	return names
}

// Dispatch creates the runs ev triggers and queues them. Call it after the
// event is recorded, every time (it is idempotent): a crash between
// recording the event and creating its runs is healed by doing both again.
func (e *Engine) Dispatch(ctx context.Context, ev store.Event) ([]store.Run, error) {
	de := fromStore(ev)
	names := e.Match(&de)
	if len(names) == 0 {
		return nil, nil
	}
	return e.runs.CreateRuns(ctx, ev.ID, names)
}

// fromStore is the event as actions see it, without annotations.
func fromStore(ev store.Event) Event {
	e := Event{
		EventID:    ev.ID,
		DeliveryID: ev.DeliveryID,
		Type:       string(ev.Type),
		Repository: ev.Repository,
		Artifact:   ev.Artifact,
		Version:    ev.Version,
		Stage:      ev.Stage,
		Commit:     ev.CommitSHA,
		Tag:        ev.TagName,
		TagObject:  ev.TagObjectSHA,
		Tagger:     Person{Name: ev.Tagger.Name, Email: ev.Tagger.Email},
		Date:       ev.Tagger.When,
		Message:    ev.Message,
	}
	// The stage's previous version is the latest one active before the
	// event that is not the event's own.
	for i := len(ev.ActiveBefore) - 1; i >= 0; i-- {
		if v := ev.ActiveBefore[i]; v != ev.Version {
			e.Previous = v
			break
		}
	}
	return e
}

// Execute runs the next attempt of a run; it is the store's RunAction
// worker. A run whose lane is busy, or whose attempt failed with attempts
// left, comes back as river.JobSnooze so that River calls Execute again
// later without spending one of its own attempts; any other error is
// trouble with the store, and River retries it.
//
// Attempts count across rounds: a run is failed when an attempt fails and
// its number is a multiple of max_attempts, so a run retried by hand gets
// max_attempts more.
func (e *Engine) Execute(ctx context.Context, runID int64) error {
	// River may hand the same run to this process twice (a job rescued
	// while still running); the lane lease would let both in, since its
	// holder is this process.
	if !e.claim(runID) {
		return river.JobSnooze(e.laneWait())
	}
	defer e.release(runID)

	run, err := e.runs.Run(ctx, runID)
	if err != nil {
		return err
	}
	if run.Status != store.RunQueued && run.Status != store.RunRunning {
		return nil // finished, superseded, or done by another process
	}
	action := e.set.Load().byName[run.Action]
	if action != nil && run.Status == store.RunQueued {
		if action.supersede && run.Stage != "" {
			newer, err := e.laneRun(ctx, run, store.Page{Limit: 1}, "")
			if err != nil {
				return err
			}
			if newer > run.ID {
				err := e.runs.SupersedeRun(ctx, runID)
				if errors.Is(err, store.ErrRunState) {
					return nil // it changed state meanwhile: someone else handled it
				}
				e.logger.InfoContext(ctx, "run superseded", "run", runID, "action", run.Action, "by", newer)
				return err
			}
		} else {
			// Without superseding, every run goes in order: the
			// stage must end up with the newest version, not with
			// whichever run won the race for the lane.
			older, err := e.laneRun(ctx, run, store.Page{Limit: 1, Before: run.ID}, store.RunQueued)
			if err != nil {
				return err
			}
			if older != 0 {
				return river.JobSnooze(e.laneWait())
			}
		}
	}

	if action != nil && action.follows {
		select {
		case e.followers <- struct{}{}:
			defer func() { <-e.followers }()
		default:
			return river.JobSnooze(e.laneWait())
		}
	}

	run, err = e.runs.StartRun(ctx, runID, e.opts.LeaseTTL)
	switch {
	case errors.Is(err, store.ErrLeaseHeld):
		return river.JobSnooze(e.laneWait())
	case errors.Is(err, store.ErrRunState):
		return nil
	case err != nil:
		return err
	}
	if action == nil {
		return e.finish(ctx, run, store.RunFailed, store.AttemptResult{Error: fmt.Sprintf("action %q is no longer configured", run.Action)})
	}

	res, err := e.attempt(ctx, action, run)
	switch {
	case errors.Is(err, errLaneLost):
		// Whoever took the lane owns the run now; recording this
		// attempt would overwrite theirs.
		return nil
	case ctx.Err() != nil:
		// hookd is stopping: the attempt did not fail on its own, so
		// the run is not failed for it, whatever its count; River runs
		// it again later.
		res.Error = strings.TrimSpace(res.Error + " (interrupted: hookd stopped)")
		if err := e.finish(ctx, run, store.RunQueued, res); err != nil {
			return err
		}
		return ctx.Err()
	case err == nil:
		return e.finish(ctx, run, store.RunSucceeded, res)
	case run.Attempts%action.maxAttempts() == 0:
		return e.finish(ctx, run, store.RunFailed, res)
	}
	if err := e.finish(ctx, run, store.RunQueued, res); err != nil {
		return err
	}
	return river.JobSnooze(action.Backoff.Delay(run.Attempts % action.maxAttempts()))
}

// errLaneLost: the run's lease expired while it ran and another run took it.
var errLaneLost = errors.New("lost the lane lease")

// attempt performs one attempt of a started run, keeping its lane leased,
// and returns what to record and how it ended: nil, the runner's error, or
// errLaneLost.
func (e *Engine) attempt(ctx context.Context, action *compiled, run store.Run) (store.AttemptResult, error) {
	r := newRedactor(action.secrets)
	out := newOutput(action.secrets)
	started := time.Now()
	e.logger.InfoContext(ctx, "run started", "run", run.ID, "action", run.Action, "attempt", run.Attempts)

	c, err := e.context(ctx, action, run)
	if err != nil {
		return store.AttemptResult{Error: r.redact(err.Error())}, err
	}
	timeoutCtx, cancelTimeout := context.WithTimeoutCause(ctx, action.runner.timeout(),
		fmt.Errorf("timed out after %s", action.runner.timeout()))
	defer cancelTimeout()
	attemptCtx, cancel := context.WithCancelCause(timeoutCtx)
	defer cancel(nil)
	stopRenewing := e.keepLane(attemptCtx, cancel, run.ID)
	exitCode, err := action.runner.run(attemptCtx, &invocation{
		ctx:    c,
		out:    out,
		github: e.opts.GitHub,
		siblings: func(ctx context.Context) ([]store.Run, error) {
			return e.siblings(ctx, run)
		},
		runURL: e.runURL,
	})
	stopRenewing()

	res := store.AttemptResult{ExitCode: exitCode, OutputTail: out.tail(r)}
	if err != nil {
		res.Error = r.redact(err.Error())
	}
	e.logger.InfoContext(ctx, "run attempt finished", "run", run.ID, "action", run.Action, "attempt", run.Attempts,
		"duration", time.Since(started), "error", res.Error)
	if errors.Is(context.Cause(attemptCtx), errLaneLost) {
		return res, errLaneLost
	}
	return res, err
}

// keepLane renews the run's lease while the attempt lasts. Losing it means
// this process was presumed dead and another may be running the lane, so
// the attempt is stopped rather than run twice.
func (e *Engine) keepLane(ctx context.Context, cancel context.CancelCauseFunc, runID int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(e.opts.LeaseTTL / 3)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-ticker.C:
				err := e.runs.ExtendRun(ctx, runID, e.opts.LeaseTTL)
				if errors.Is(err, store.ErrLeaseHeld) {
					e.logger.ErrorContext(ctx, "run lost its lane lease; stopping it", "run", runID)
					cancel(errLaneLost)
					return
				}
				if err != nil && ctx.Err() == nil {
					e.logger.WarnContext(ctx, "renewing a run's lease failed", "run", runID, "error", err)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// finish records the attempt even when ctx was cancelled: the outcome of
// work done must not be lost to a shutdown.
func (e *Engine) finish(ctx context.Context, run store.Run, status store.RunStatus, res store.AttemptResult) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	e.logger.InfoContext(ctx, "run attempt recorded", "run", run.ID, "action", run.Action, "status", string(status))
	return e.runs.FinishRun(ctx, run.ID, status, res)
}

// context builds what templates and runners see for this attempt.
func (e *Engine) context(ctx context.Context, action *compiled, run store.Run) (*Context, error) {
	se, err := e.runs.Event(ctx, run.EventID)
	if err != nil {
		return nil, fmt.Errorf("load event %d: %w", run.EventID, err)
	}
	ev := fromStore(se)
	if e.opts.Annotations != nil {
		if ev.Annotations, err = e.opts.Annotations(ctx, &ev); err != nil {
			return nil, fmt.Errorf("read annotations of %s: %w", ev.Artifact, err)
		}
	}
	return &Context{
		Event:          ev,
		IdempotencyKey: run.IdempotencyKey,
		RunID:          run.ID,
		Attempt:        run.Attempts,
		RunURL:         e.runURL(run.ID),
		secrets:        action.Secrets,
	}, nil
}

// laneRun returns the id of the newest run in run's lane within page and
// with status (any if ""), or 0.
func (e *Engine) laneRun(ctx context.Context, run store.Run, page store.Page, status store.RunStatus) (int64, error) {
	runs, err := e.runs.Runs(ctx, store.RunFilter{
		Repository: run.Repository, Artifact: run.Artifact, Stage: run.Stage, Action: run.Action,
		Status: status, Page: page,
	})
	if err != nil || len(runs) == 0 {
		return 0, err
	}
	return runs[0].ID, nil
}

// siblings are the event's other runs.
func (e *Engine) siblings(ctx context.Context, run store.Run) ([]store.Run, error) {
	all, err := e.runs.Runs(ctx, store.RunFilter{EventID: run.EventID, Page: store.Page{Limit: 500}})
	if err != nil {
		return nil, err
	}
	others := all[:0]
	for _, r := range all {
		if r.ID != run.ID {
			others = append(others, r)
		}
	}
	return others, nil
}

func (e *Engine) runURL(id int64) string {
	if e.opts.PublicURL == "" {
		return ""
	}
	return e.opts.PublicURL + "/ui/runs/" + strconv.FormatInt(id, 10)
}

// laneWait spreads the retries of runs waiting for the same lane.
func (e *Engine) laneWait() time.Duration {
	d := e.opts.LaneWait
	return d/2 + rand.N(d)
}

func (e *Engine) claim(runID int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.executing[runID] {
		return false
	}
	e.executing[runID] = true
	return true
}

func (e *Engine) release(runID int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.executing, runID)
}

package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/hookd-dev/hookd/store"
	"github.com/hookd-dev/hookd/tagparse"
)

// Runs is what the engine needs from the store (*store.Store has it all):
// runs unique per (event, action, stage), each attempt recorded and fenced,
// and the lanes that let one run at a time per (repository, artifact,
// stage, action) across processes converge on what GTO shows.
type Runs interface {
	QueueRuns(ctx context.Context, all []store.EventRuns) error
	StartLane(ctx context.Context, runID int64, ttl time.Duration, policy store.LanePolicy) (store.Run, error)
	WakeLane(ctx context.Context, runID int64) error
	ExtendRun(ctx context.Context, runID int64, ttl time.Duration) error
	FinishRun(ctx context.Context, runID int64, status store.RunStatus, res store.AttemptResult) error
	RetryRun(ctx context.Context, runID int64) error
	Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error)
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
	executing map[string]bool  // lanes this process is deploying to now
	woken     map[string]int64 // wake-ups that came for them meanwhile
	followers chan struct{}    // a slot per github_deployment run following
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
		executing: map[string]bool{},
		woken:     map[string]int64{},
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

// Dispatch creates the runs ev calls for and queues them. Call it after the
// event is recorded, every time (it is idempotent): a crash between
// recording the event and creating its runs is healed by doing both again.
//
// An event without a stage (a registration, a deregistration, a
// deprecation) runs the actions whose `on:` selects it, once each. Stages
// are level-triggered instead: every stage the event changed (ev.Stages)
// moves the desired state of the lanes of the actions watching that stage,
// and a lane gets a run when the change is what the action asks for: the
// stage holds a version it did not, or the event re-assigned the version
// it holds (assignment), or the stage lost one (unassignment). A tag that
// changes nothing GTO shows, such as an older assignment pushed late,
// deploys nothing. It returns the event's runs, oldest first.
func (e *Engine) Dispatch(ctx context.Context, ev store.Event) ([]store.Run, error) {
	if err := e.DispatchAll(ctx, []store.Event{ev}); err != nil {
		return nil, err
	}
	runs, err := e.runs.Runs(ctx, store.RunFilter{EventID: ev.ID, Page: store.Page{Limit: 500}})
	slices.Reverse(runs) // in the order they were made
	return runs, err
}

// DispatchAll is Dispatch of each of evs, in order, written in one go: a
// burst of new tags queues its runs in one transaction.
func (e *Engine) DispatchAll(ctx context.Context, evs []store.Event) error {
	plans := make([]store.EventRuns, 0, len(evs))
	for _, ev := range evs {
		if p := e.plan(ev); len(p.Actions)+len(p.Changes) > 0 {
			plans = append(plans, p)
		}
	}
	if len(plans) == 0 {
		return nil
	}
	return e.runs.QueueRuns(ctx, plans)
}

// plan is what ev asks of the actions: the runs of those that act on the
// event itself, and its changes to the lanes of those that follow stages.
func (e *Engine) plan(ev store.Event) store.EventRuns {
	de := fromStore(ev)
	plan := store.EventRuns{EventID: ev.ID}
	for _, a := range e.set.Load().actions {
		if !stageEvent(ev.Type) && a.On.Matches(&de) {
			plan.Actions = append(plan.Actions, a.Name)
		}
		for _, sc := range ev.Stages {
			if c, ok := a.laneChange(ev, sc); ok {
				plan.Changes = append(plan.Changes, c)
			}
		}
	}
	return plan
}

// stageEvent reports whether events of type t act only through lanes.
func stageEvent(t store.EventType) bool {
	return t == store.EventAssignment || t == store.EventUnassignment || t == store.EventTagDeleted
}

// laneChange is what the change sc of event ev is to action a's lane of
// that stage; ok is false when a has no such lane (it watches other
// repositories, artifacts or stages, or no stage events at all).
func (a *compiled) laneChange(ev store.Event, sc store.StageChange) (store.LaneChange, bool) {
	m := a.On
	wantsAssign := len(m.Event) == 0 || m.Event.Match(string(store.EventAssignment))
	wantsUnassign := len(m.Event) == 0 || m.Event.Match(string(store.EventUnassignment))
	if !wantsAssign && !wantsUnassign || !m.Repository.Match(ev.Repository) || !m.Artifact.Match(ev.Artifact) ||
		len(m.Stage) > 0 && !m.Stage.Match(sc.Stage) {
		return store.LaneChange{}, false
	}
	c := store.LaneChange{Action: a.Name, Stage: sc.Stage, Before: sc.Before, After: sc.After}
	gained := missing(sc.After, sc.Before)
	lost := missing(sc.Before, sc.After)
	redeploy := ev.Type == store.EventAssignment && ev.Stage == sc.Stage &&
		slices.Contains(sc.Before, ev.Version) && slices.Contains(sc.After, ev.Version)
	switch {
	case wantsAssign && redeploy:
		c.Trigger, c.Version, c.Redeploy = store.EventAssignment, ev.Version, true
	case wantsAssign && len(gained) > 0:
		c.Trigger, c.Version = store.EventAssignment, gained[len(gained)-1]
		if slices.Contains(gained, ev.Version) {
			c.Version = ev.Version
		}
	case wantsUnassign && len(lost) > 0:
		c.Trigger, c.Version = store.EventUnassignment, lost[0]
	}
	if c.Trigger != "" && !m.Version.Matches(c.Version) {
		c.Trigger, c.Version, c.Redeploy = "", "", false
	}
	return c, true
}

// missing lists the versions of a that b lacks.
func missing(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

// direction names how desired compares with what the lane deployed: a
// rollback deploys a lower SemVer than the lane holds, a promotion a higher
// one (or the first), a redeploy the same; removal leaves the stage empty.
func direction(deployed, desired []string) string {
	switch {
	case len(desired) == 0:
		return "removal"
	case len(deployed) == 0:
		return "promotion"
	}
	to, from := desired[len(desired)-1], deployed[len(deployed)-1]
	if to == from {
		return "redeploy"
	}
	if tagparse.IsVersion(to) && tagparse.IsVersion(from) && tagparse.CompareVersions(to, from) < 0 {
		return "rollback"
	}
	return "promotion"
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
	e.Previous = previous(ev.ActiveBefore, ev.Version)
	return e
}

// previous is the latest of before that is not version.
func previous(before []string, version string) string {
	for i := len(before) - 1; i >= 0; i-- {
		if v := before[i]; v != version {
			return v
		}
	}
	return ""
}

// laneOf names a run's lane, for this process's bookkeeping.
func laneOf(r store.Run) string {
	return strings.Join([]string{r.Repository, r.Artifact, r.Stage, r.Action}, "\x00")
}

// Execute runs the next attempt in the lane of a run; it is the store's
// RunAction worker. The store picks which run that is (see
// store.StartLane): the one a stopped process left running, else the
// newest queued (the older ones superseded) or, without superseding, the
// oldest. When another live run holds the lane there is nothing to do: it
// wakes the lane's next run as it finishes, so no job polls. An attempt
// that failed with attempts left comes back as river.JobSnooze, which
// spends none of River's own attempts; any other error is trouble with the
// store, and River retries it.
//
// Attempts count across rounds: a run is failed when an attempt fails and
// its number is a multiple of max_attempts, so a run retried by hand gets
// max_attempts more.
func (e *Engine) Execute(ctx context.Context, runID int64) error {
	found, err := e.runs.Runs(ctx, store.RunFilter{ID: runID, Page: store.Page{Limit: 1}})
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return store.ErrNotFound
	}
	job := found[0]
	// River may hand this process a second job for a lane it is deploying
	// to (a wake-up, a job rescued while it runs); the lease alone would
	// let it in, since its holder is this process.
	lane := laneOf(job)
	if !e.claim(lane, runID) {
		return nil // release wakes the lane again
	}
	defer e.release(ctx, lane)

	action := e.set.Load().byName[job.Action]
	if action != nil && action.follows {
		select {
		case e.followers <- struct{}{}:
			defer func() { <-e.followers }()
		default:
			return river.JobSnooze(e.laneWait())
		}
	}
	policy := store.LanePolicy{Supersede: action == nil || action.supersede, Direction: direction}
	leased := time.Now()
	run, err := e.runs.StartLane(ctx, runID, e.opts.LeaseTTL, policy)
	switch {
	case errors.Is(err, store.ErrLaneBusy), errors.Is(err, store.ErrNothingDue), errors.Is(err, store.ErrNotFound):
		return nil
	case errors.Is(err, store.ErrLeaseHeld):
		// Its holder stopped; the lease expires within LeaseTTL.
		return river.JobSnooze(e.laneWait())
	case err != nil:
		return err
	}
	if action == nil {
		return e.finish(ctx, run, store.RunFailed, store.AttemptResult{Error: fmt.Sprintf("action %q is no longer configured", run.Action)})
	}

	res, err := e.attempt(ctx, action, run, leased)
	switch {
	case errors.Is(err, errLaneLost):
		// Whoever took the lane owns the run now; recording this
		// attempt would overwrite theirs.
		return nil
	case errors.Is(err, errLeaseExpired):
		// Stopped so as never to overlap a run another process may
		// start once the lease expires; resumed with the same key.
		res.Error = strings.TrimSpace(res.Error + " (interrupted: the run's lease could not be renewed before it expired)")
		if err := e.finish(ctx, run, store.RunQueued, res); err != nil {
			return err
		}
		return river.JobSnooze(e.laneWait())
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
	case run.Attempts%action.maxAttempts() == 0 || permanent(err):
		return e.finish(ctx, run, store.RunFailed, res)
	}
	if err := e.finish(ctx, run, store.RunQueued, res); err != nil {
		return err
	}
	return river.JobSnooze(retryDelay(err, action.Backoff.Delay(run.Attempts%action.maxAttempts())))
}

// RunTimeout is how long one job of a run of the named action may take:
// an attempt's timeout (a github_deployment's follow included), plus time
// to read the run's context and to record the outcome through a short
// outage of the database. Unknown actions have no limit.
func (e *Engine) RunTimeout(action string) time.Duration {
	a := e.set.Load().byName[action]
	if a == nil {
		return 0
	}
	return a.runner.timeout() + 2*e.opts.LeaseTTL + time.Minute
}

var (
	// errLaneLost: another run took the lane while this one ran.
	errLaneLost = errors.New("lost the lane lease")
	// errLeaseExpired: the lease could not be renewed (the database did
	// not answer) before it would expire.
	errLeaseExpired = errors.New("the run's lease could not be renewed")
)

// attempt performs one attempt of a started run, keeping its lane leased,
// and returns what to record and how it ended: nil, the runner's error,
// errLaneLost or errLeaseExpired. leased is when the lease was asked for.
func (e *Engine) attempt(ctx context.Context, action *compiled, run store.Run, leased time.Time) (store.AttemptResult, error) {
	r := newRedactor(action.secrets)
	out := newOutput(action.secrets)
	started := time.Now()
	e.logger.InfoContext(ctx, "run started", "run", run.ID, "action", run.Action, "attempt", run.Attempts,
		"repository", run.Repository, "artifact", run.Artifact, "stage", run.Stage, "version", run.Version,
		"direction", run.Direction)

	attemptCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The lease is renewed from the start: reading the context may wait
	// on GitHub, and an attempt that cannot prove it holds its lane must
	// not start a deploy either.
	stopRenewing := e.keepLane(attemptCtx, cancel, run.ID, leased)
	defer stopRenewing()
	c, err := e.context(attemptCtx, action, run)
	if err != nil {
		if cause := context.Cause(attemptCtx); errors.Is(cause, errLaneLost) || errors.Is(cause, errLeaseExpired) {
			return store.AttemptResult{Error: r.redact(err.Error())}, cause
		}
		return store.AttemptResult{Error: r.redact(err.Error())}, err
	}
	timeoutCtx, cancelTimeout := context.WithTimeoutCause(attemptCtx, action.runner.timeout(),
		fmt.Errorf("timed out after %s", action.runner.timeout()))
	defer cancelTimeout()
	exitCode, err := action.runner.run(timeoutCtx, &invocation{
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
	if cause := context.Cause(attemptCtx); errors.Is(cause, errLaneLost) || errors.Is(cause, errLeaseExpired) {
		return res, cause
	}
	return res, err
}

// keepLane renews the run's lease while the attempt lasts. Losing it means
// this process was presumed dead and another may be running the lane, so
// the attempt is stopped rather than run twice; and when the lease cannot
// be renewed at all (the database is unreachable), the attempt is stopped
// before the lease would expire, since another process may then take the
// lane. acquired is when the lease was last taken.
func (e *Engine) keepLane(ctx context.Context, cancel context.CancelCauseFunc, runID int64, acquired time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	ttl := e.opts.LeaseTTL
	// The lease expires TTL after the database granted it, which was no
	// earlier than the request's start; stop a sixth of it sooner, to
	// leave the process group time to die.
	margin := ttl / 6
	go func() {
		defer close(finished)
		ticker := time.NewTicker(ttl / 3)
		defer ticker.Stop()
		deadline := time.NewTimer(time.Until(acquired.Add(ttl - margin)))
		defer deadline.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-deadline.C:
				e.logger.ErrorContext(ctx, "run's lease could not be renewed before it expires; stopping the attempt", "run", runID)
				cancel(errLeaseExpired)
				return
			case <-ticker.C:
				asked := time.Now()
				err := e.runs.ExtendRun(ctx, runID, ttl)
				switch {
				case err == nil:
					deadline.Reset(time.Until(asked.Add(ttl - margin)))
				case errors.Is(err, store.ErrLeaseHeld):
					e.logger.ErrorContext(ctx, "run lost its lane lease; stopping it", "run", runID)
					cancel(errLaneLost)
					return
				case ctx.Err() == nil:
					e.logger.WarnContext(ctx, "renewing a run's lease failed; will retry", "run", runID, "error", err)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// finish records the attempt. An attempt's outcome is never given up to a
// shutdown or to an outage of the database: it is retried until the
// database takes it (for up to finishPatience after hookd began stopping),
// so a deploy that finished is not run again. A refusal (ErrRunState: the
// attempt was fenced off, another process took the run) is logged and
// ends the job.
func (e *Engine) finish(ctx context.Context, run store.Run, status store.RunStatus, res store.AttemptResult) error {
	res.Attempt = run.Attempts
	wait := 100 * time.Millisecond
	var stopping time.Time
	for {
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := e.runs.FinishRun(recordCtx, run.ID, status, res)
		cancel()
		switch {
		case err == nil:
			e.logger.InfoContext(ctx, "run attempt recorded", "run", run.ID, "action", run.Action,
				"attempt", run.Attempts, "status", string(status))
			return nil
		case errors.Is(err, store.ErrRunState), errors.Is(err, store.ErrNotFound):
			e.logger.WarnContext(ctx, "run attempt not recorded: another process owns the run now", "run", run.ID,
				"action", run.Action, "attempt", run.Attempts, "status", string(status))
			return nil
		}
		if ctx.Err() != nil && stopping.IsZero() {
			stopping = time.Now()
		}
		if !stopping.IsZero() && time.Since(stopping) > finishPatience {
			e.logger.ErrorContext(ctx, "run attempt could not be recorded before hookd stopped", "run", run.ID,
				"action", run.Action, "attempt", run.Attempts, "status", string(status), "error", err)
			return err
		}
		e.logger.WarnContext(ctx, "recording a run attempt failed; will retry", "run", run.ID, "action", run.Action,
			"attempt", run.Attempts, "status", string(status), "error", err)
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// finishPatience is how long a stopping hookd keeps trying to record an
// attempt's outcome.
const finishPatience = 15 * time.Second

// context builds what templates and runners see for this attempt.
func (e *Engine) context(ctx context.Context, action *compiled, run store.Run) (*Context, error) {
	se, err := e.runs.Event(ctx, run.EventID)
	if err != nil {
		return nil, fmt.Errorf("load event %d: %w", run.EventID, err)
	}
	ev := fromStore(se)
	if run.Stage != "" && run.Trigger != "" {
		if err := e.laneContext(ctx, &ev, run); err != nil {
			return nil, err
		}
	}
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

// laneContext makes ev read as the lane run it is: its type is the run's
// trigger (the event behind it is kept as Cause), its version the one the
// stage gained or lost, and the lane's states and the events of the runs
// it superseded are added.
func (e *Engine) laneContext(ctx context.Context, ev *Event, run store.Run) error {
	if ev.Type != string(run.Trigger) || ev.Stage != run.Stage {
		ev.Cause = ev.Type
	}
	ev.Type, ev.Stage, ev.Version = string(run.Trigger), run.Stage, run.Version
	ev.Previous = previous(run.DesiredBefore, run.Version)
	ev.DesiredBefore, ev.Desired, ev.Deployed = run.DesiredBefore, run.Desired, run.DeployedBefore
	ev.Direction, ev.Redeploy = run.Direction, run.Redeploy
	superseded, err := e.runs.Runs(ctx, store.RunFilter{SupersededBy: run.ID, Page: store.Page{Limit: 500}})
	if err != nil {
		return fmt.Errorf("list the runs run %d superseded: %w", run.ID, err)
	}
	for _, r := range slices.Backward(superseded) {
		ev.Events = append(ev.Events, r.EventID)
	}
	ev.Events = append(ev.Events, run.EventID)
	return nil
}

// siblings are the other runs of the run's event.
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

// laneWait spreads the retries of runs waiting for a lane whose holder
// stopped.
func (e *Engine) laneWait() time.Duration {
	d := e.opts.LaneWait
	return d/2 + rand.N(d)
}

// claim marks lane as deployed to by this process; when it already is,
// the wake-up (a job of run runID) is kept for release.
func (e *Engine) claim(lane string, runID int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.executing[lane] {
		e.woken[lane] = runID
		return false
	}
	e.executing[lane] = true
	return true
}

// release ends this process's turn at lane and passes on a wake-up that
// came meanwhile, so that a run queued while the lane was busy here is not
// left without a job.
func (e *Engine) release(ctx context.Context, lane string) {
	e.mu.Lock()
	delete(e.executing, lane)
	runID, woken := e.woken[lane]
	delete(e.woken, lane)
	e.mu.Unlock()
	if !woken {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.runs.WakeLane(ctx, runID); err != nil {
		// The store's sweep wakes it later.
		e.logger.WarnContext(ctx, "waking a lane failed", "run", runID, "error", err)
	}
}

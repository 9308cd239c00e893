package ui

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/store"
)

// Lane is one environment's action, (repository, artifact, stage,
// action): what GTO shows for the stage (Desired, since the event
// DesiredEventID) and what the last successful run delivered (Deployed,
// by run DeployedRunID). Its shape is the store's lanes'.
type Lane struct {
	Repository, Artifact, Stage, Action string
	Desired                             []string
	DesiredEventID                      int64
	Deployed                            []string
	DeployedRunID                       int64
	UpdatedAt                           time.Time
}

// LaneFilter selects lanes; empty fields match everything but Repository,
// which is required.
type LaneFilter struct {
	Repository, Artifact, Stage, Action string
}

// Lanes tells lanes; the store's own lanes will satisfy it.
type Lanes interface {
	Lanes(ctx context.Context, f LaneFilter) ([]Lane, error)
}

// derivedLanes works lanes out from what is stored today: the newest
// successful run of each (artifact, stage, action) and the stage's holders
// after the event it deployed, beside what the stored registry shows the
// stage holds now.
type derivedLanes struct {
	store  Store
	runs   *laneRuns
	events *eventCache
	regs   *registries
	repos  func() *repositories
}

func (l derivedLanes) Lanes(ctx context.Context, f LaneFilter) ([]Lane, error) {
	repo, ok := l.repos().byIdentity[f.Repository]
	if !ok {
		return nil, errNotFound
	}
	snap, err := l.regs.get(ctx, repo)
	if err != nil {
		return nil, err
	}
	runs, err := l.runs.get(ctx, f.Repository, f.Artifact)
	if err != nil {
		return nil, err
	}
	var out []Lane
	for _, lr := range runs {
		if f.Stage != "" && lr.Stage != f.Stage || f.Action != "" && lr.Action != f.Action {
			continue
		}
		lane := Lane{Repository: f.Repository, Artifact: lr.Artifact, Stage: lr.Stage, Action: lr.Action, UpdatedAt: lr.Latest.UpdatedAt}
		lane.Desired = heldIn(snap.Registry, lr.Artifact, lr.Stage)
		evs, err := l.store.Events(ctx, store.EventFilter{Repository: f.Repository, Artifact: lr.Artifact, Stage: lr.Stage, Page: store.Page{Limit: 1}})
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 {
			lane.DesiredEventID = evs[0].ID
		}
		if ok := lr.Succeeded; ok != nil {
			e, err := l.events.get(ctx, ok.EventID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			lane.Deployed, lane.DeployedRunID = e.ActiveAfter, ok.ID
		}
		out = append(out, lane)
	}
	return out, nil
}

// heldIn lists the versions a stage holds, as `gto show` does.
func heldIn(reg *registry.Registry, artifact, stage string) []string {
	held, err := reg.Which(artifact, stage, registry.DefaultShowOptions())
	if err != nil {
		return nil
	}
	var out []string
	for _, vs := range held {
		out = append(out, vs.Version)
	}
	return out
}

// envStage is one stage of the Environments pipeline.
type envStage struct {
	Stage   string
	Desired []string
	Actions []envAction
}

// envAction is one action of a stage: what it last delivered, and whether
// that is what GTO shows.
type envAction struct {
	Lane
	Latest store.Run
	// State: "in sync", "drift" (deployed differs from what GTO shows),
	// "deploying" (a run is queued or running), "never deployed".
	State string
}

// pipeline lays an artifact's environments out in promotion order (the
// repository's promotion:, else its stages), stages outside that order
// after it.
func (h *Handler) pipeline(ctx context.Context, repo Repository, snap *snapshot, artifact string) ([]envStage, error) {
	lanes, err := h.lanes.Lanes(ctx, LaneFilter{Repository: repo.Identity, Artifact: artifact})
	if err != nil {
		return nil, err
	}
	latest, err := h.envRuns.get(ctx, repo.Identity, artifact)
	if err != nil {
		return nil, err
	}
	order := slices.Clone(repo.Promotion)
	if len(order) == 0 {
		order = stagesOf(snap)
	}
	for _, l := range lanes {
		if !slices.Contains(order, l.Stage) {
			order = append(order, l.Stage)
		}
	}
	var out []envStage
	for _, stage := range order {
		es := envStage{Stage: stage, Desired: heldIn(snap.Registry, artifact, stage)}
		for _, l := range lanes {
			if l.Stage != stage {
				continue
			}
			a := envAction{Lane: l}
			for _, lr := range latest {
				if lr.Stage == l.Stage && lr.Action == l.Action {
					a.Latest = lr.Latest
				}
			}
			switch {
			case a.Latest.Status == store.RunQueued || a.Latest.Status == store.RunRunning:
				a.State = "deploying"
			case l.DeployedRunID == 0:
				a.State = "never deployed"
			case slices.Equal(l.Deployed, es.Desired):
				a.State = "in sync"
			default:
				a.State = "drift"
			}
			es.Actions = append(es.Actions, a)
		}
		out = append(out, es)
	}
	return out, nil
}

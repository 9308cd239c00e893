package ui

import (
	"context"
	"slices"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/store"
)

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
	store.Lane
	Latest store.Run
	// State: "in sync", "drift" (deployed differs from what GTO shows),
	// "deploying" (a run is queued or running), "never deployed".
	State string
}

// pipeline lays an artifact's environments out in promotion order (the
// repository's promotion:, else its stages), stages outside that order
// after it.
func (h *Handler) pipeline(ctx context.Context, repo Repository, snap *snapshot, artifact string) ([]envStage, error) {
	lanes, err := h.store.Lanes(ctx, store.LaneFilter{Repository: repo.Identity, Artifact: artifact})
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
			case l.InSync():
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

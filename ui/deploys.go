package ui

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hookd-dev/hookd/store"
)

const (
	// changeOverlap is how far back a refresh reads changed runs again:
	// replicas' clocks, and commits still in flight when the newest change
	// was read, can put a change a little before it. Reading one twice
	// changes nothing.
	changeOverlap = 5 * time.Second
	// maxChanges bounds the changed runs one refresh merges; past it the
	// environments are read whole again.
	maxChanges = 500
)

// laneRuns keeps each repository's environments' newest and last
// successful runs (store.LatestRuns), brought up to date from the runs
// that changed since it last looked (store.RunsChangedSince), so that a
// page view with a hundred thousand runs stored reads a few rows, not all.
type laneRuns struct {
	store Store

	mu     sync.Mutex
	byRepo map[string]*laneState
}

type laneState struct {
	mu      sync.Mutex
	version time.Time
	lanes   map[[3]string]store.LaneRuns // by artifact, stage, action
}

func newLaneRuns(st Store) *laneRuns { return &laneRuns{store: st, byRepo: map[string]*laneState{}} }

// get returns the environments of repository (of artifact only, unless it
// is ""), by artifact, stage and action.
func (c *laneRuns) get(ctx context.Context, repository, artifact string) ([]store.LaneRuns, error) {
	version, err := c.store.RunsVersion(ctx, repository)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	st := c.byRepo[repository]
	if st == nil {
		st = &laneState{}
		c.byRepo[repository] = st
	}
	c.mu.Unlock()

	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.refresh(ctx, c.store, repository, version); err != nil {
		return nil, err
	}
	var out []store.LaneRuns
	for k, l := range st.lanes {
		if artifact == "" || k[0] == artifact {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b store.LaneRuns) int {
		return cmp.Or(cmp.Compare(a.Artifact, b.Artifact), cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Action, b.Action))
	})
	return out, nil
}

func (st *laneState) refresh(ctx context.Context, s Store, repository string, version time.Time) error {
	if st.lanes != nil && version.Equal(st.version) {
		return nil
	}
	if st.lanes != nil {
		changed, err := s.RunsChangedSince(ctx, repository, st.version.Add(-changeOverlap), maxChanges+1)
		if err != nil {
			return err
		}
		if len(changed) <= maxChanges && merge(st.lanes, changed) {
			st.version = version
			return nil
		}
	}
	all, err := s.LatestRuns(ctx, repository, "")
	if err != nil {
		return err
	}
	st.lanes = make(map[[3]string]store.LaneRuns, len(all))
	for _, l := range all {
		st.lanes[[3]string{l.Artifact, l.Stage, l.Action}] = l
	}
	st.version = version
	return nil
}

// merge applies changed runs to the environments. It reports false when a
// run that was an environment's last success is one no more (retried),
// which only reading the environments whole can settle.
func merge(lanes map[[3]string]store.LaneRuns, changed []store.Run) bool {
	for _, r := range changed {
		k := [3]string{r.Artifact, r.Stage, r.Action}
		l, ok := lanes[k]
		if !ok {
			l = store.LaneRuns{Artifact: r.Artifact, Stage: r.Stage, Action: r.Action, Latest: r}
		}
		if r.ID >= l.Latest.ID {
			l.Latest = r
		}
		switch {
		case r.Status == store.RunSucceeded && (l.Succeeded == nil || r.ID >= l.Succeeded.ID):
			ok := r
			l.Succeeded = &ok
		case r.Status != store.RunSucceeded && l.Succeeded != nil && l.Succeeded.ID == r.ID:
			return false
		}
		lanes[k] = l
	}
	return true
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// One listing of a repository at a time, across processes.
//
// Replicas each schedule reconciliations, and a request made while a
// listing runs queues another (see EnqueueReconcile), which another replica
// would otherwise start at once: two listings of one repository side by
// side, spending GitHub's rate limit twice for nothing. A listing holds a
// lease, renewed while it runs; a job that finds it held waits a moment and
// tries again. A holder that dies stops renewing, and within holdTTL
// another replica lists in its place (the lease is kept as a repository
// hold is: hold.go).
const listingRetry = time.Second

func listingLease(repository string) string { return "listing/" + repository }

// listAlone runs reconcile for repository under its listing lease, held as
// job jobID of this process.
func (s *Store) listAlone(ctx context.Context, repository string, jobID int64, reconcile func(context.Context, string) error) error {
	name, holder := listingLease(repository), fmt.Sprintf("%s/job/%d", s.holder, jobID)
	ok, err := s.acquireLease(ctx, s.db, name, holder, s.holdTTL)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(listingRetry)
	}
	listing, release := s.keepLease(ctx, name, holder)
	defer release()
	err = reconcile(listing, repository)
	var l limited
	if errors.As(err, &l) {
		// Listing again before the limit lifts would only meet it again.
		s.logger.WarnContext(ctx, "listing put off until a limit of its source lifts", "repository", repository,
			"until", l.RetryAt(), "error", err)
		return river.JobSnooze(max(time.Until(l.RetryAt()), 0))
	}
	return err
}

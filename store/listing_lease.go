package store

import (
	"context"
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
// tries again. A holder that dies stops renewing, and within listingTTL
// another replica lists in its place.
const (
	listingTTL   = 15 * time.Second
	listingRenew = 5 * time.Second
	listingRetry = time.Second
)

func listingLease(repository string) string { return "listing/" + repository }

// listAlone runs reconcile for repository under its listing lease, held as
// job jobID of this process.
func (s *Store) listAlone(ctx context.Context, repository string, jobID int64, reconcile func(context.Context, string) error) error {
	name, holder := listingLease(repository), fmt.Sprintf("%s/job/%d", s.holder, jobID)
	ok, err := s.acquireLease(ctx, s.db, name, holder, listingTTL)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(listingRetry)
	}
	listing, stop := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(listingRenew)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				ok, err := s.acquireLease(listing, s.db, name, holder, listingTTL)
				switch {
				case err == nil && !ok:
					// Expired and taken: another replica lists now.
					s.logger.Warn("listing lease lost; the listing stops", "repository", repository)
					stop()
					return
				case err != nil && listing.Err() == nil:
					s.logger.Warn("could not renew the listing lease; will retry", "repository", repository, "error", err)
				}
			case <-listing.Done():
				return
			}
		}
	}()
	err = reconcile(listing, repository)
	stop()
	<-renewed
	release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := releaseLease(release, s.db, name, holder); rerr != nil {
		s.logger.Warn("could not release the listing lease; it expires by itself", "repository", repository, "error", rerr)
	}
	return err
}

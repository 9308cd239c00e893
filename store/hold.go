package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A repository's syncs, one process at a time.
//
// ingest decides a repository's events by comparing what it lists with the
// tags the store holds. Two processes doing that at once compare a listing
// taken before the other's tags were stored, and see deletions that never
// happened; their before/after states disagree too. HoldRepository gives
// one holder the repository for the length of one sync, through a lease in
// hookd_lease: the same on SQLite and PostgreSQL, and it expires by itself
// when its process dies.

const (
	// holdTTL is how long a dead process keeps a repository held. A hold
	// renews its lease every third of that: a failed renewal is tried
	// again at the next tick, and a second failure in a row stops the
	// sync before the lease can expire under it.
	holdTTL = 15 * time.Second
	// holdPoll bounds the wait between two tries to take a repository
	// someone else holds.
	holdPoll = 250 * time.Millisecond
)

// ErrHoldLost: a repository's hold could not be renewed before it expired
// (the database was unreachable, say), so another process may hold it now.
var ErrHoldLost = errors.New("store: the repository's hold was lost (not renewed in time, or taken over)")

// holds numbers the holds of this process, so that two of them exclude
// each other too.
var holds atomic.Int64

func repositoryLease(repository string) string { return "repository " + strconv.Quote(repository) }

// HoldRepository waits until it holds repository, or ctx ends, and keeps
// holding it until release is called. The returned context is ctx, cancelled
// with ErrHoldLost as its cause if the hold cannot be renewed before it
// expires: work done under it after that may overlap another holder's, so
// it must stop. release gives the repository up at once rather than at the
// lease's expiry; calling it again does nothing.
func (s *Store) HoldRepository(ctx context.Context, repository string) (held context.Context, release func(), err error) {
	name, holder := repositoryLease(repository), s.holder+"/hold/"+strconv.FormatInt(holds.Add(1), 10)
	if err := s.waitLease(ctx, name, holder); err != nil {
		return nil, nil, err
	}
	held, release = s.keepLease(ctx, name, holder)
	return held, release, nil
}

// keepLease renews the lease name, which holder has just taken, until
// release is called, and then gives it up. held is ctx, cancelled with
// ErrHoldLost if the lease is lost.
func (s *Store) keepLease(ctx context.Context, name, holder string) (held context.Context, release func()) {
	h := &hold{s: s, name: name, holder: holder, stop: make(chan struct{}), done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancelCause(ctx)
	go func() {
		defer close(h.done)
		h.renew()
	}()
	return h.ctx, func() { h.once.Do(h.release) }
}

// hold is a lease kept by keepLease, renewed until released.
type hold struct {
	s            *Store
	name, holder string
	ctx          context.Context
	cancel       context.CancelCauseFunc
	stop, done   chan struct{} // stop ends renew, which closes done
	once         sync.Once
}

func (h *hold) release() {
	close(h.stop)
	<-h.done
	h.cancel(nil)
	// The hold's context may be cancelled already; giving the lease up
	// still matters to whoever waits for it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 5*time.Second)
	defer cancel()
	if err := releaseLease(ctx, h.s.db, h.name, h.holder); err != nil {
		h.s.logger.Warn("could not give up a lease; it expires by itself", "lease", h.name, "error", err)
	}
}

// waitLease takes the lease name for holder, trying again with a growing,
// jittered pause while another holder has it.
func (s *Store) waitLease(ctx context.Context, name, holder string) error {
	pause := 5 * time.Millisecond
	for logged := false; ; {
		ok, err := s.acquireLease(ctx, s.db, name, holder, s.holdTTL)
		switch {
		case err != nil:
			return fmt.Errorf("store: take %s: %w", name, err)
		case ok:
			return nil
		case !logged:
			logged = true
			s.logger.DebugContext(ctx, "waiting for a repository another sync holds", "lease", name, "holder", s.leaseHolder(ctx, name))
		}
		t := time.NewTimer(pause/2 + rand.N(pause/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
		pause = min(2*pause, holdPoll)
	}
}

// leaseHolder names who holds a lease, for the log ("" if nobody does now).
func (s *Store) leaseHolder(ctx context.Context, name string) string {
	var holder string
	_ = s.db.QueryRow(ctx, `SELECT holder FROM hookd_lease WHERE name = $1`, name).Scan(&holder)
	return holder
}

// renew renews the lease until stop is closed. When the lease was
// taken over, or has gone unrenewed for longer than it lasts, it cancels
// the hold's context with ErrHoldLost.
func (h *hold) renew() {
	every := h.s.holdTTL / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	renewed := time.Now()
	for {
		select {
		case <-h.stop:
			return
		case <-h.ctx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), every/2)
		ok, err := h.s.acquireLease(ctx, h.s.db, h.name, h.holder, h.s.holdTTL)
		cancel()
		switch {
		case err == nil && ok:
			renewed = time.Now()
			continue
		case err == nil:
			h.s.logger.Error("a lease was taken over; the work under it stops", "lease", h.name)
		case time.Since(renewed) < h.s.holdTTL-every:
			h.s.logger.Warn("could not renew a lease; will retry", "lease", h.name, "error", err)
			continue
		default:
			h.s.logger.Error("could not renew a lease before it expires; the work under it stops", "lease", h.name, "error", err)
		}
		h.cancel(ErrHoldLost)
		return
	}
}

package store

import (
	"context"
	"sync"
	"time"

	"github.com/hookd-dev/hookd/store/driver"
)

// txGroup lets small write transactions that arrive while another commits
// share the next commit, as Accept's deliveries do. On a database with one
// writer (SQLite) every transaction queues for its one connection, and a
// commit (a WAL write and an fsync) costs about as much as the statements
// of a run's start or finish: a burst of deploys spent two thirds of its
// time holding the writer, most of it one commit per start and per finish.
//
// Each transaction of a shared commit runs in a savepoint of its own, so
// one that fails is rolled back alone and its caller gets its error; the
// others commit together, and all get the commit's outcome. There is no
// goroutine: the first caller to find the group idle commits what has
// queued, then hands the group to the next caller waiting, so nobody waits
// for more than the commit in progress and the one it is part of.
type txGroup struct {
	db driver.Driver

	mu      sync.Mutex
	busy    bool
	waiting []*groupedTx
}

type groupedTx struct {
	ctx  context.Context
	fn   func(context.Context, driver.Tx) error
	done chan groupAnswer // buffered
}

type groupAnswer struct {
	err  error
	lead bool // no answer yet: commit the next group
}

// maxGrouped bounds how many transactions share one commit, and
// groupTimeout how long the commit may take.
const (
	maxGrouped   = 64
	groupTimeout = 30 * time.Second
)

// inSharedTx runs fn in a transaction that may be shared with others
// (see txGroup) and returns once it has committed or failed. fn gets a
// context that the caller's cancellation does not end: interrupting one
// statement would roll back the others' work with it. A caller whose
// context has ended before its turn gets the context's error, and fn does
// not run. On a database with several writers it is inTx.
func (s *Store) inSharedTx(ctx context.Context, fn func(context.Context, driver.Tx) error) error {
	if s.db.Writers() != 1 {
		return inTx(ctx, s.db, func(tx driver.Tx) error { return fn(ctx, tx) })
	}
	g := &s.group
	req := &groupedTx{ctx: ctx, fn: fn, done: make(chan groupAnswer, 1)}
	g.mu.Lock()
	if g.busy {
		g.waiting = append(g.waiting, req)
		g.mu.Unlock()
		a := <-req.done
		if !a.lead {
			return a.err
		}
		g.mu.Lock() // the group is still busy: it was handed over
	} else {
		g.busy = true
	}
	n := min(len(g.waiting), maxGrouped-1)
	batch := append([]*groupedTx{req}, g.waiting[:n]...)
	g.waiting = g.waiting[n:]
	g.mu.Unlock()

	errs := g.commit(batch)
	for i, r := range batch[1:] {
		r.done <- groupAnswer{err: errs[i+1]}
	}

	g.mu.Lock()
	if len(g.waiting) > 0 {
		next := g.waiting[0]
		g.waiting = g.waiting[1:]
		next.done <- groupAnswer{lead: true}
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return errs[0]
}

// commit runs batch's transactions in one and returns each one's outcome.
func (g *txGroup) commit(batch []*groupedTx) []error {
	errs := make([]error, len(batch))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), groupTimeout)
	defer cancel()
	if len(batch) == 1 {
		if errs[0] = batch[0].ctx.Err(); errs[0] == nil {
			errs[0] = inTx(ctx, g.db, func(tx driver.Tx) error { return batch[0].fn(ctx, tx) })
		}
		return errs
	}
	tx, err := g.db.Begin(ctx)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var ran []int // those whose work the commit carries
	for i, r := range batch {
		if errs[i] = r.ctx.Err(); errs[i] != nil {
			continue
		}
		var broken error
		if errs[i], broken = savepoint(ctx, tx, r.fn); broken != nil {
			// The transaction itself failed (SQLite rolls back
			// a whole transaction on some errors): nothing in it holds.
			_ = tx.Rollback(ctx)
			for _, j := range append(ran, i) {
				errs[j] = broken
			}
			for j := i + 1; j < len(batch); j++ {
				errs[j] = broken
			}
			return errs
		}
		if errs[i] == nil {
			ran = append(ran, i)
		}
	}
	if len(ran) == 0 {
		_ = tx.Rollback(ctx)
		return errs
	}
	if err := tx.Commit(ctx); err != nil {
		for _, i := range ran {
			errs[i] = err
		}
	}
	return errs
}

// savepoint runs fn inside a savepoint of tx, rolling back to it when fn
// fails. broken is an error of the transaction itself.
func savepoint(ctx context.Context, tx driver.Tx, fn func(context.Context, driver.Tx) error) (err, broken error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT grouped`); err != nil {
		return nil, err
	}
	if err = fn(ctx, tx); err != nil {
		if _, broken = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT grouped`); broken != nil {
			return err, broken
		}
	}
	_, broken = tx.Exec(ctx, `RELEASE SAVEPOINT grouped`)
	return err, broken
}

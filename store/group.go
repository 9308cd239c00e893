package store

import (
	"context"
	"fmt"
	"slices"
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
// queued (up to maxGrouped), then hands the group to the next caller
// waiting.
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
	err      error
	lead     bool // no answer yet: commit the next group
	panicked any  // what the transaction panicked with
}

// maxGrouped bounds how many transactions share one commit, and
// groupTimeout how long the commit may take.
const (
	maxGrouped   = 64
	groupTimeout = 30 * time.Second
)

// inSharedTx runs fn in a transaction that may be shared with others
// (see txGroup) and returns once it has committed or failed. fn gets a
// context with the caller's values that the caller's cancellation does not
// end: interrupting one statement would roll back the others' work with
// it. A caller whose context ends while it waits its turn gets the
// context's error, and fn does not run. A panic in fn is rolled back to
// its savepoint and raised again in its caller. On a database with several
// writers it is inTx, under the caller's context.
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
		a, err := g.await(req)
		if err != nil || !a.lead {
			return a.outcome(err)
		}
		g.mu.Lock() // the group is still busy: it was handed over
	} else {
		g.busy = true
	}
	n := min(len(g.waiting), maxGrouped-1)
	batch := append([]*groupedTx{req}, g.waiting[:n]...)
	g.waiting = g.waiting[n:]
	g.mu.Unlock()

	answers := g.commit(batch)
	for i, r := range batch[1:] {
		r.done <- answers[i+1]
	}
	g.handOver()
	return answers[0].outcome(nil)
}

// await waits for req's answer, or for its caller to give up while it is
// still waiting: then it leaves the queue and returns the context's error.
// A request already taken into a batch, or handed the group, waits on: its
// batch answers it, and the group must not be left without a leader.
func (g *txGroup) await(req *groupedTx) (groupAnswer, error) {
	select {
	case a := <-req.done:
		return a, nil
	case <-req.ctx.Done():
	}
	g.mu.Lock()
	if i := slices.Index(g.waiting, req); i >= 0 {
		g.waiting = slices.Delete(g.waiting, i, i+1)
		g.mu.Unlock()
		return groupAnswer{}, req.ctx.Err()
	}
	g.mu.Unlock()
	return <-req.done, nil
}

// handOver gives the group to the next caller waiting, or leaves it idle.
func (g *txGroup) handOver() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiting) > 0 {
		next := g.waiting[0]
		g.waiting = g.waiting[1:]
		next.done <- groupAnswer{lead: true}
		return
	}
	g.busy = false
}

// outcome is the answer as inSharedTx returns it: err when set, else the
// transaction's error; a panic of the transaction is raised again.
func (a groupAnswer) outcome(err error) error {
	if a.panicked != nil {
		panic(a.panicked)
	}
	if err != nil {
		return err
	}
	return a.err
}

// commit runs batch's transactions in one and returns each one's outcome.
func (g *txGroup) commit(batch []*groupedTx) []groupAnswer {
	answers := make([]groupAnswer, len(batch))
	deadline := time.Now().Add(groupTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	tx, err := g.db.Begin(ctx)
	if err != nil {
		for i := range answers {
			answers[i].err = err
		}
		return answers
	}
	// Alone, a transaction needs no savepoint: its failure rolls back all.
	run := savepoint
	if len(batch) == 1 {
		run = func(ctx context.Context, tx driver.Tx, fn func(context.Context, driver.Tx) error) (error, error) {
			return fn(ctx, tx), nil
		}
	}
	var ran []int // those whose work the commit carries
	for i, r := range batch {
		if answers[i].err = r.ctx.Err(); answers[i].err != nil {
			continue
		}
		// Each transaction sees its own caller's values, under the
		// shared deadline.
		rctx, cancel := context.WithDeadline(context.WithoutCancel(r.ctx), deadline)
		fnErr, broken := run(rctx, tx, func(ctx context.Context, tx driver.Tx) error {
			return guarded(&answers[i], func() error { return r.fn(ctx, tx) })
		})
		cancel()
		answers[i].err = fnErr
		if broken != nil {
			// The transaction itself failed (SQLite rolls back
			// a whole transaction on some errors): nothing in it holds.
			_ = tx.Rollback(ctx)
			for _, j := range append(ran, i) {
				answers[j].err = broken
			}
			for j := i + 1; j < len(batch); j++ {
				answers[j].err = broken
			}
			return answers
		}
		if fnErr == nil {
			ran = append(ran, i)
		}
	}
	if len(ran) == 0 {
		_ = tx.Rollback(ctx)
		return answers
	}
	if err := tx.Commit(ctx); err != nil {
		for _, i := range ran {
			answers[i].err = err
		}
	}
	return answers
}

// guarded runs fn, turning a panic into an error (so that its transaction
// is rolled back) and keeping the panic in a for its caller.
func guarded(a *groupAnswer, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			a.panicked = p
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn()
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

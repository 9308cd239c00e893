package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/store/driver"
)

// groupOf opens a SQLite store and holds its group busy with a transaction
// that waits for release, so that the next n callers queue and then share
// one commit.
func groupOf(t *testing.T, n int) (s *Store, release func()) {
	t.Helper()
	s = open(t, filepath.Join(t.TempDir(), "hookd.db"))
	ctx := ctxT(t)
	if _, err := s.db.Exec(ctx, `CREATE TABLE grouped (name TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	started, hold := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.inSharedTx(ctx, func(ctx context.Context, tx driver.Tx) error {
			close(started)
			<-hold
			_, err := tx.Exec(ctx, `INSERT INTO grouped (name) VALUES ('first')`)
			return err
		})
	}()
	<-started
	return s, func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.group.mu.Lock()
			queued := len(s.group.waiting)
			s.group.mu.Unlock()
			if queued == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d callers queued, want %d", queued, n)
			}
			time.Sleep(time.Millisecond)
		}
		close(hold)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
}

func grouped(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.db.Query(ctxT(t), `SELECT name FROM grouped`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names[name] = true
	}
	return names
}

// insertAll has n callers each insert t<i> in a shared transaction and then
// run then, lets the group go with release, and returns their errors.
func insertAll(s *Store, release func(), n int, then func(ctx context.Context, tx driver.Tx, i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.inSharedTx(context.Background(), func(ctx context.Context, tx driver.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO grouped (name) VALUES ($1)`, fmt.Sprint("t", i)); err != nil {
					return err
				}
				return then(ctx, tx, i)
			})
		})
	}
	release()
	wg.Wait()
	return errs
}

// Transactions that share a commit keep their own outcomes: one that fails
// leaves nothing behind and its caller gets its error, while the others'
// writes, made before and after it in the same commit, all land.
func TestSharedCommitKeepsEachTransactionsOutcome(t *testing.T) {
	const n = 9
	s, release := groupOf(t, n)
	errs := insertAll(s, release, n, func(_ context.Context, _ driver.Tx, i int) error {
		if i%3 == 1 {
			return fmt.Errorf("transaction %d refuses", i)
		}
		return nil
	})

	names := grouped(t, s)
	for i := range n {
		name := fmt.Sprint("t", i)
		if i%3 == 1 {
			if errs[i] == nil || errs[i].Error() != fmt.Sprintf("transaction %d refuses", i) {
				t.Errorf("%s: error %v, want its own", name, errs[i])
			}
			if names[name] {
				t.Errorf("%s failed, yet its write was committed", name)
			}
			continue
		}
		if errs[i] != nil || !names[name] {
			t.Errorf("%s: error %v, committed %v; want nil and true", name, errs[i], names[name])
		}
	}
	if !names["first"] {
		t.Error("the transaction that held the group was not committed")
	}
}

// A caller whose context ends while it waits its turn gets the context's
// error, and its transaction never runs; one whose context ends while its
// transaction runs is not interrupted halfway, which would roll back the
// others sharing the commit.
func TestSharedCommitAndCancelledCallers(t *testing.T) {
	s, release := groupOf(t, 2)
	ctx := ctxT(t)
	gone, cancelGone := context.WithCancel(ctx)
	running, cancelRunning := context.WithCancel(ctx)
	var errGone, errRunning error
	ran := false
	var wg sync.WaitGroup
	wg.Go(func() {
		errGone = s.inSharedTx(gone, func(ctx context.Context, tx driver.Tx) error {
			ran = true
			return nil
		})
	})
	wg.Go(func() {
		errRunning = s.inSharedTx(running, func(ctx context.Context, tx driver.Tx) error {
			cancelRunning()
			_, err := tx.Exec(ctx, `INSERT INTO grouped (name) VALUES ('running')`)
			return err
		})
	})
	for {
		s.group.mu.Lock()
		queued := len(s.group.waiting)
		s.group.mu.Unlock()
		if queued == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancelGone()
	release()
	wg.Wait()
	if !errors.Is(errGone, context.Canceled) || ran {
		t.Errorf("cancelled while waiting: error %v, ran %v; want context.Canceled and not run", errGone, ran)
	}
	if errRunning != nil || !grouped(t, s)["running"] {
		t.Errorf("cancelled while running: error %v; want its write committed", errRunning)
	}
}

// When a transaction breaks the shared one (here it ends it), nothing of the
// commit holds, and every caller in it is told so.
func TestBrokenSharedCommitFailsEveryone(t *testing.T) {
	const n = 3
	s, release := groupOf(t, n)
	ctx := ctxT(t)
	errs := insertAll(s, release, n, func(ctx context.Context, tx driver.Tx, i int) error {
		if i == 1 {
			_, err := tx.Exec(ctx, `ROLLBACK`)
			return err
		}
		return nil
	})
	names := grouped(t, s)
	for i := range n {
		if names[fmt.Sprint("t", i)] {
			t.Errorf("t%d was committed by a broken transaction", i)
		}
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("t%d was not told the shared commit broke", i)
		}
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO grouped (name) VALUES ('after')`); err != nil || !grouped(t, s)["after"] {
		t.Errorf("the database takes no writes after a broken shared commit: %v", err)
	}
}

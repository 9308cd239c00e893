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

// A caller whose context ends while its transaction runs is not
// interrupted halfway, which would roll back the others sharing the
// commit: its transaction commits.
func TestCancelledCallerIsNotInterruptedMidTransaction(t *testing.T) {
	s, release := groupOf(t, 1)
	running, cancelRunning := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		done <- s.inSharedTx(running, func(ctx context.Context, tx driver.Tx) error {
			cancelRunning()
			_, err := tx.Exec(ctx, `INSERT INTO grouped (name) VALUES ('running')`)
			return err
		})
	}()
	release()
	if err := <-done; err != nil || !grouped(t, s)["running"] {
		t.Errorf("cancelled while running: error %v; want its write committed", err)
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

// A transaction that panics is rolled back alone and its caller panics with
// the same value; the others of its commit land, and the group goes on.
func TestPanicInASharedTransaction(t *testing.T) {
	const n = 3
	s, release := groupOf(t, n)
	panics := make([]any, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = s.inSharedTx(context.Background(), func(ctx context.Context, tx driver.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO grouped (name) VALUES ($1)`, fmt.Sprint("t", i)); err != nil {
					return err
				}
				if i == 1 {
					panic("deploy policy blew up")
				}
				return nil
			})
		})
	}
	release()
	wg.Wait()
	names := grouped(t, s)
	for i := range n {
		switch {
		case i == 1 && (panics[i] != "deploy policy blew up" || names["t1"]):
			t.Errorf("t1: panicked with %v, committed %v; want its own panic and nothing committed", panics[i], names["t1"])
		case i != 1 && (panics[i] != nil || errs[i] != nil || !names[fmt.Sprint("t", i)]):
			t.Errorf("t%d: panic %v, error %v, committed %v", i, panics[i], errs[i], names[fmt.Sprint("t", i)])
		}
	}
	if err := s.inSharedTx(ctxT(t), func(ctx context.Context, tx driver.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO grouped (name) VALUES ('after')`)
		return err
	}); err != nil || !grouped(t, s)["after"] {
		t.Fatalf("the group after a panic: %v", err)
	}
}

// A caller that gives up while another commit holds the group gets its
// context's error at once, not when its turn comes, and its transaction
// never runs.
func TestCallerGivesUpWhileWaiting(t *testing.T) {
	s, release := groupOf(t, 0)
	ctx, cancel := context.WithCancel(ctxT(t))
	ran := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.inSharedTx(ctx, func(context.Context, driver.Tx) error { ran <- struct{}{}; return nil })
	}()
	for {
		s.group.mu.Lock()
		queued := len(s.group.waiting)
		s.group.mu.Unlock()
		if queued == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("gave up while waiting: %v, want context.Canceled", err)
	}
	s.group.mu.Lock()
	left := len(s.group.waiting)
	s.group.mu.Unlock()
	release() // the group is still held until here
	if left != 0 {
		t.Errorf("%d callers left in the queue, want 0", left)
	}
	select {
	case <-ran:
		t.Error("the transaction of a caller that gave up ran")
	default:
	}
}

package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// On SQLite a read outside a transaction does not wait for the writer: a
// dashboard page, or a run reading its event, is answered while a write
// transaction holds the one writer connection, from the last commit.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"))
	if _, err := s.Accept(ctx, delivery("d-1")); err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE hookd_delivery SET reason = 'uncommitted' WHERE id = $1`, "d-1"); err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		d, err := s.Delivery(ctx, "d-1")
		if err == nil && d.Reason == "uncommitted" {
			err = errors.New("the read saw a write that is not committed")
		}
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read waited for the open write transaction")
	}
}

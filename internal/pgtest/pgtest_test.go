package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

var pg *Server

func TestMain(m *testing.M) { os.Exit(Main(m, &pg)) }

// Each database is fresh and private to its test.
func TestDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := pg.Database(t), pg.Database(t)
	if a == b {
		t.Fatalf("two tests got the same database %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	var n int
	if err := other.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a table made in one test database shows in another")
	}
}

// A paused server refuses connections; resumed, it has its data back on
// the same URL.
func TestPauseAndResume(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Pause(); err != nil {
		t.Fatal(err)
	}
	if conn.Ping(ctx) == nil {
		t.Error("a connection made before the pause still answers")
	}
	if c, err := pgx.Connect(ctx, url); err == nil {
		c.Close(ctx)
		t.Fatal("a paused server accepted a connection")
	}
	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	again, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(ctx)
	var x int
	if err := again.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Fatalf("after Resume: %d, %v", x, err)
	}
}

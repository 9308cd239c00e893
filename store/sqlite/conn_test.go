package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func openKeeping(t *testing.T) *sql.DB {
	t.Helper()
	db, err := openDB("file:" + filepath.Join(t.TempDir(), "kept.db") + "?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE n (v INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for v := range 5 {
		if _, err := db.Exec(`INSERT INTO n (v) VALUES ($1)`, v); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// kept is how many statements the connection keeps prepared.
func kept(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.Raw(func(c any) error { n = len(c.(*keepingConn).kept); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func sum(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) int {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		total += v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// A statement run again is the one kept from its first run, in and out of
// transactions, and it answers each run with that run's arguments.
func TestStatementsAreKeptOnTheConnection(t *testing.T) {
	db := openKeeping(t)
	before := kept(t, db)
	for v := range 5 {
		if got := sum(t, db, `SELECT v FROM n WHERE v >= $1`, v); got != (10 - v*(v-1)/2) {
			t.Fatalf("v >= %d summed to %d", v, got)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if got := sum(t, tx, `SELECT v FROM n WHERE v >= $1`, 3); got != 7 {
		t.Fatalf("in a transaction: %d, want 7", got)
	}
	if _, err := tx.Exec(`INSERT INTO n (v) VALUES ($1)`, 10); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := kept(t, db) - before; got != 1 {
		t.Errorf("the connection keeps %d more statements after one SELECT run six times and a known INSERT, want 1", got)
	}
}

// The same statement asked for while rows of its last run are still open
// (a query inside a loop over the same query's rows, in one transaction)
// runs on its own, and neither run disturbs the other; nor does a kept
// statement pushed out of the cache while its rows are open.
func TestAStatementReusedWhileItsRowsAreOpen(t *testing.T) {
	db := openKeeping(t)
	const q = `SELECT v FROM n WHERE v >= $1 ORDER BY v`
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query(q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var outer []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, v)
		if got, want := sum(t, tx, q, v), 10-v*(v-1)/2; got != want {
			t.Fatalf("inner run for v >= %d summed to %d, want %d", v, got, want)
		}
		if v == 2 {
			// Push q out of the cache while its rows are open.
			for i := range maxKept + 1 {
				if got := sum(t, tx, fmt.Sprintf(`SELECT v + %d FROM n WHERE v = 0`, i)); got != i {
					t.Fatalf("filler %d summed to %d", i, got)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if fmt.Sprint(outer) != "[0 1 2 3 4]" {
		t.Fatalf("outer run read %v", outer)
	}
	if got := sum(t, tx, q, 2); got != 9 {
		t.Fatalf("after both runs: %d, want 9", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := kept(t, db); n > maxKept {
		t.Errorf("the connection keeps %d statements, more than %d", n, maxKept)
	}
}

// Scripts of several statements and batches of many arguments run each time
// as given and are not kept.
func TestScriptsAndLongBatchesAreNotKept(t *testing.T) {
	db := openKeeping(t)
	before := kept(t, db)
	for i := range 3 {
		if _, err := db.Exec(fmt.Sprintf(`INSERT INTO n (v) VALUES (%d); INSERT INTO n (v) VALUES (%d)`, 100+2*i, 101+2*i)); err != nil {
			t.Fatal(err)
		}
	}
	args := make([]any, maxKeptArgs+1)
	marks := ""
	for i := range args {
		args[i] = 200 + i
		if i > 0 {
			marks += ","
		}
		marks += fmt.Sprintf("($%d)", i+1)
	}
	if _, err := db.Exec(`INSERT INTO n (v) VALUES `+marks, args...); err != nil {
		t.Fatal(err)
	}
	if got := sum(t, db, `SELECT count(*) FROM n`); got != 5+6+len(args) {
		t.Fatalf("%d rows, want %d", got, 5+6+len(args))
	}
	if got := kept(t, db) - before; got != 1 {
		t.Errorf("%d more statements kept, want 1 (the count)", got)
	}
}

package ops

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd-dev/hookd/internal/hookdtest"
	"github.com/hookd-dev/hookd/internal/testenv"
)

// writing runs the load tool against p in the background (signed branch
// pushes, each stored with its job) and returns a function that waits for
// it to end.
func writing(t *testing.T, p *hookdtest.Process) (wait func()) {
	t.Helper()
	load := exec.Command(loadBin, "-url", p.URL(), "-secret", secret, "-count", "3000", "-rate", "300", "-duration", "15s", "-concurrency", "8")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	return func() { _ = load.Wait() }
}

// waitRows polls count until it reaches n.
func waitRows(t *testing.T, count func() int, n int) int {
	t.Helper()
	deadline := time.Now().Add(hookdtest.WaitLimit)
	for {
		got := count()
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries stored, want %d", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSQLiteOnlineBackupWhileHookdWrites takes the backup OPERATIONS.md
// gives (sqlite3's .backup) while hookd stores deliveries: the copy passes
// SQLite's integrity check, holds at least what was stored before it
// began, and hookd starts on it.
func TestSQLiteOnlineBackupWhileHookdWrites(t *testing.T) {
	sqlite3 := program(t, "sqlite3", "sqlite3")
	db := filepath.Join(t.TempDir(), "hookd.db")
	p := serve(t, db)
	wait := writing(t, p)
	defer wait()
	query := func(file, sql string) string {
		out, err := exec.Command(sqlite3, "-cmd", ".timeout 5000", file, sql).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s %q: %v\n%s", file, sql, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	count := func(file string) int {
		n, _ := strconv.Atoi(query(file, "SELECT count(*) FROM hookd_delivery"))
		return n
	}
	before := waitRows(t, func() int { return count(db) }, 300)
	backup := filepath.Join(t.TempDir(), "backup.db")
	query(db, ".backup '"+backup+"'")
	if live := count(db); live <= before {
		t.Logf("hookd stored nothing during the backup (%d rows before, %d after)", before, live)
	}
	wait()

	if got := query(backup, "PRAGMA integrity_check"); got != "ok" {
		t.Fatalf("integrity_check of the backup: %s", got)
	}
	if n := count(backup); n < before {
		t.Errorf("the backup holds %d deliveries, fewer than the %d stored before it began", n, before)
	}
	restored := serve(t, backup)
	if status, _ := restored.Get("/readyz"); status != 200 {
		t.Errorf("hookd on the backup: /readyz %d", status)
	}
}

// TestPgDumpWhileHookdWrites dumps hookd's PostgreSQL database with
// pg_dump while hookd stores deliveries, restores it into an empty
// database with pg_restore, and starts hookd on that.
func TestPgDumpWhileHookdWrites(t *testing.T) {
	bin := testenv.PostgresBinDir()
	url := pg.Database(t)
	p := serve(t, url)
	wait := writing(t, p)
	defer wait()
	ctx := context.Background()
	count := func(url string) int {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM hookd_delivery").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := waitRows(t, func() int { return count(url) }, 300)
	dump := filepath.Join(t.TempDir(), "hookd.dump")
	run(t, filepath.Join(bin, "pg_dump"), "--format=custom", "--file", dump, url)
	wait()

	restoredURL := pg.Database(t)
	run(t, filepath.Join(bin, "pg_restore"), "--no-owner", "--exit-on-error", "--dbname", restoredURL, dump)
	if n := count(restoredURL); n < before {
		t.Errorf("the restored database holds %d deliveries, fewer than the %d stored before the dump began", n, before)
	}
	restored := serve(t, restoredURL)
	if status, _ := restored.Get("/readyz"); status != 200 {
		t.Errorf("hookd on the restored database: /readyz %d", status)
	}
}

package store

import (
	"fmt"
	"strings"
	"testing"
)

// hotStatements are the statements every delivery runs, with the index
// each must be planned on: a plan that reads another index (or the whole
// table) makes a delivery's cost grow with the backlog, and fails here
// before it fails a benchmark.
func hotStatements(s *Store) []struct {
	name  string
	sql   string
	args  []any
	index string // the plan must use this index ("id": hookd_delivery's id)
	avoid string // and must not use this one
} {
	ids := make([]any, deliveriesPerJob)
	for i := range ids {
		ids[i] = fmt.Sprintf("d-%d", i)
	}
	return []struct {
		name  string
		sql   string
		args  []any
		index string
		avoid string
	}{
		{"queued deliveries of a job", queuedDeliveriesSQL(len(ids)), ids, "id", "hookd_delivery_status"},
		{"waiting reconciliation", waitingReconcileSQL(s.db.Types()), []any{"acme/models"}, "river_job_kind", ""},
	}
}

// TestHotStatementPlans reads the planner's choice for each hot statement
// on a store holding a backlog of queued deliveries, the case where SQLite
// once switched queuedDeliveries to the status index.
func TestHotStatementPlans(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := ctxT(t)
		for i := range 300 {
			if _, err := s.Accept(ctx, delivery(fmt.Sprintf("backlog-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		// hookd never runs ANALYZE on SQLite, so its planner judges by
		// the schema alone; PostgreSQL's autovacuum gathers figures.
		if s.db.Types().Dialect == "postgres" {
			if _, err := s.db.Exec(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		for _, st := range hotStatements(s) {
			plan := explain(t, s, st.sql, st.args)
			index := st.index
			if index == "id" {
				index = idIndex(s)
			}
			if !strings.Contains(plan, index) {
				t.Errorf("%s: plan does not use %s:\n%s", st.name, index, plan)
			}
			if st.avoid != "" && strings.Contains(plan, st.avoid) {
				t.Errorf("%s: plan uses %s:\n%s", st.name, st.avoid, plan)
			}
		}
	})
}

// idIndex names the index of hookd_delivery's UNIQUE id column.
func idIndex(s *Store) string {
	if s.db.Types().Dialect == "sqlite" {
		return "sqlite_autoindex_hookd_delivery_1"
	}
	return "hookd_delivery_id_key"
}

// explain returns the plan of sql as text: EXPLAIN QUERY PLAN's details on
// SQLite, EXPLAIN's lines on PostgreSQL (with sequential scans priced out,
// so that a small test table shows the index a large one would use).
func explain(t *testing.T, s *Store, sql string, args []any) string {
	t.Helper()
	ctx := ctxT(t)
	var lines []string
	if s.db.Types().Dialect == "sqlite" {
		rows, err := s.db.Query(ctx, "EXPLAIN QUERY PLAN "+sql, args...)
		if err != nil {
			t.Fatalf("explain %s: %v", sql, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

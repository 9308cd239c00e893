package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookd-dev/hookd/store/driver"
)

// repositoryTables are the tables whose rows name a repository, each with
// the columns that, beside the repository, make a row unique (unique:
// the repository is part of a uniqueness rule).
var repositoryTables = []struct {
	table  string
	unique bool
	keys   []string
}{
	{table: "hookd_delivery"},
	{table: "hookd_tag", unique: true, keys: []string{"name"}},
	{table: "hookd_listing", unique: true},
	{table: "hookd_event", unique: true, keys: []string{"tag_object_sha", "type"}},
	{table: "hookd_run"},
	{table: "hookd_lane", unique: true, keys: []string{"artifact", "stage", "action"}},
	{table: "hookd_audit"},
}

// RenameRepository gives the records stored under the repository name from
// (deliveries, tags, its listing, events, runs, lanes, audit entries) the name to,
// in one transaction, and returns how many it renamed. A record that to
// already has (the same tag, the same event) stays under from: the one
// under to is the newer. Older hookd versions recorded a path repository
// under its path; renaming carries its history, tags and baseline over to
// its name.
func (s *Store) RenameRepository(ctx context.Context, from, to string) (int64, error) {
	var renamed int64
	err := inTx(ctx, s.db, func(tx driver.Tx) error {
		for _, t := range repositoryTables {
			q := fmt.Sprintf(`UPDATE %s SET repository = $2 WHERE repository = $1`, t.table)
			if t.unique {
				same := []string{"o.repository = $2"}
				for _, k := range t.keys {
					same = append(same, fmt.Sprintf("o.%s = %s.%s", k, t.table, k))
				}
				q += fmt.Sprintf(` AND NOT EXISTS (SELECT 1 FROM %s o WHERE %s)`, t.table, strings.Join(same, " AND "))
			}
			n, err := tx.Exec(ctx, q, from, to)
			if err != nil {
				return fmt.Errorf("rename %s in %s: %w", from, t.table, err)
			}
			renamed += n
		}
		return nil
	})
	return renamed, err
}

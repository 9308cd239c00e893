package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookd-dev/hookd/store/driver"
)

// migrations are hookd's own schema steps, applied in order and recorded in
// hookd_migration; append new steps, never edit applied ones. Times are
// microseconds since the Unix epoch (UTC) so that the same SQL serves both
// databases; a tagger's UTC offset is kept beside its time, in seconds.
// {{ID}} and {{BYTES}} are the driver's column types.
var migrations = []string{
	// 1: deliveries, tags, listing state, events, runs, leases.
	`
CREATE TABLE hookd_delivery (
	seq         {{ID}},
	id          TEXT NOT NULL UNIQUE,
	source      TEXT NOT NULL CHECK (source IN ('github', 'git')),
	event       TEXT NOT NULL,
	repository  TEXT NOT NULL,
	body        {{BYTES}},
	received_at BIGINT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('queued', 'processed', 'ignored', 'failed')),
	reason      TEXT NOT NULL DEFAULT '',
	updated_at  BIGINT NOT NULL
);
CREATE INDEX hookd_delivery_repository ON hookd_delivery (repository, seq);
CREATE INDEX hookd_delivery_status ON hookd_delivery (status, seq);
CREATE INDEX hookd_delivery_received ON hookd_delivery (received_at);

CREATE TABLE hookd_tag (
	repository    TEXT NOT NULL,
	name          TEXT NOT NULL,
	object_sha    TEXT NOT NULL,
	commit_sha    TEXT NOT NULL,
	annotated     BOOLEAN NOT NULL,
	tagger_name   TEXT NOT NULL,
	tagger_email  TEXT NOT NULL,
	tagger_time   BIGINT NOT NULL,
	tagger_offset INTEGER NOT NULL,
	message       TEXT NOT NULL,
	first_seen    BIGINT NOT NULL,
	deleted_at    BIGINT,
	PRIMARY KEY (repository, name)
);

CREATE TABLE hookd_listing (
	repository TEXT PRIMARY KEY,
	etag       TEXT NOT NULL,
	listed_at  BIGINT NOT NULL
);

CREATE TABLE hookd_event (
	id             {{ID}},
	repository     TEXT NOT NULL,
	artifact       TEXT NOT NULL,
	type           TEXT NOT NULL,
	version        TEXT NOT NULL,
	stage          TEXT NOT NULL,
	commit_sha     TEXT NOT NULL,
	tag_name       TEXT NOT NULL,
	tag_object_sha TEXT NOT NULL,
	tagger_name    TEXT NOT NULL,
	tagger_email   TEXT NOT NULL,
	tagger_time    BIGINT NOT NULL,
	tagger_offset  INTEGER NOT NULL,
	message        TEXT NOT NULL,
	delivery_id    TEXT NOT NULL,
	active_before  TEXT NOT NULL,
	active_after   TEXT NOT NULL,
	recorded_at    BIGINT NOT NULL,
	UNIQUE (repository, tag_object_sha, type)
);
CREATE INDEX hookd_event_artifact ON hookd_event (repository, artifact, id);

CREATE TABLE hookd_run (
	id              {{ID}},
	event_id        BIGINT NOT NULL REFERENCES hookd_event (id),
	action          TEXT NOT NULL,
	repository      TEXT NOT NULL,
	artifact        TEXT NOT NULL,
	stage           TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'superseded')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	UNIQUE (event_id, action)
);
CREATE INDEX hookd_run_lane ON hookd_run (repository, artifact, stage, action, id);

CREATE TABLE hookd_run_attempt (
	run_id      BIGINT NOT NULL REFERENCES hookd_run (id),
	attempt     INTEGER NOT NULL,
	holder      TEXT NOT NULL,
	started_at  BIGINT NOT NULL,
	finished_at BIGINT,
	exit_code   INTEGER,
	output_tail TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, attempt)
);

CREATE TABLE hookd_lease (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
`,
	// 2: the audit log of writes asked for through the API, chat or remote
	// CLI, and the keys of signed requests already seen (replay protection).
	`
CREATE TABLE hookd_audit (
	id         {{ID}},
	at         BIGINT NOT NULL,
	principal  TEXT NOT NULL,
	via        TEXT NOT NULL,
	repository TEXT NOT NULL,
	operation  TEXT NOT NULL,
	artifact   TEXT NOT NULL,
	version    TEXT NOT NULL,
	stage      TEXT NOT NULL,
	request    TEXT NOT NULL,
	status     INTEGER NOT NULL,
	tags       TEXT NOT NULL,
	error      TEXT NOT NULL
);
CREATE INDEX hookd_audit_repository ON hookd_audit (repository, id);
CREATE INDEX hookd_audit_principal ON hookd_audit (principal, id);

CREATE TABLE hookd_nonce (
	key        TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX hookd_nonce_expires ON hookd_nonce (expires_at);
`,
	// 3: lanes. An environment (repository, artifact, stage, action)
	// converges on what GTO shows for the stage: hookd_lane keeps the
	// desired and the deployed versions, and a run records the change it
	// converges to. One event can change several stages (a deregistration
	// of a version two stages hold), so runs are unique per event, action
	// and stage (dialectSteps drops the old uniqueness first). An event
	// keeps every stage it changed.
	`
ALTER TABLE hookd_run ADD COLUMN trigger_type TEXT NOT NULL DEFAULT '';
ALTER TABLE hookd_run ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE hookd_run ADD COLUMN desired_before TEXT NOT NULL DEFAULT '[]';
ALTER TABLE hookd_run ADD COLUMN desired TEXT NOT NULL DEFAULT '[]';
ALTER TABLE hookd_run ADD COLUMN deployed_before TEXT NOT NULL DEFAULT '[]';
ALTER TABLE hookd_run ADD COLUMN direction TEXT NOT NULL DEFAULT '';
ALTER TABLE hookd_run ADD COLUMN redeploy BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE hookd_run ADD COLUMN superseded_by BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hookd_run ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX hookd_run_event_action_stage ON hookd_run (event_id, action, stage);
CREATE INDEX hookd_run_status ON hookd_run (status, id);
CREATE INDEX hookd_run_superseded ON hookd_run (superseded_by);
ALTER TABLE hookd_event ADD COLUMN stages TEXT NOT NULL DEFAULT '[]';

CREATE TABLE hookd_lane (
	repository       TEXT NOT NULL,
	artifact         TEXT NOT NULL,
	stage            TEXT NOT NULL,
	action           TEXT NOT NULL,
	desired          TEXT NOT NULL,
	desired_event_id BIGINT NOT NULL,
	deployed         TEXT NOT NULL DEFAULT '[]',
	deployed_run_id  BIGINT NOT NULL DEFAULT 0,
	deployed_at      BIGINT NOT NULL DEFAULT 0,
	updated_at       BIGINT NOT NULL,
	PRIMARY KEY (repository, artifact, stage, action)
);
`,
	// 4: why a delivery waits: its processing attempts so far, the last
	// one's error and when the next is due (NULL: none is).
	`
ALTER TABLE hookd_delivery ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hookd_delivery ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE hookd_delivery ADD COLUMN next_attempt_at BIGINT;
`,
	// 5: the deliveries whose payloads are still kept, oldest first: pruning
	// reads only them, a batch at a time, however many were pruned before.
	// And the rows readiness probes write (see Ready).
	`
CREATE INDEX hookd_delivery_unpruned ON hookd_delivery (received_at) WHERE body IS NOT NULL;

CREATE TABLE hookd_probe (
	holder TEXT PRIMARY KEY,
	pad    {{BYTES}} NOT NULL
);
`,
	// 6: what the dashboard reads without reading everything: the events
	// of one delivery, and those no delivery brought; the runs of a
	// repository by when they last changed; the newest change to a
	// repository's tags (TagsVersion).
	`
CREATE INDEX hookd_event_delivery ON hookd_event (delivery_id, id);
CREATE INDEX hookd_run_updated ON hookd_run (repository, updated_at);
CREATE INDEX hookd_tag_seen ON hookd_tag (repository, first_seen);
CREATE INDEX hookd_tag_deleted ON hookd_tag (repository, deleted_at);
`,
}

// dialectSteps run before the shared step of the same number, on the one
// database they are written for.
var dialectSteps = map[int]map[string]string{
	3: {
		"postgres": `ALTER TABLE hookd_run DROP CONSTRAINT IF EXISTS hookd_run_event_id_action_key`,
		// SQLite cannot drop a table's UNIQUE constraint: the table is
		// rebuilt with the same rows and ids. hookd_run_attempt names
		// hookd_run by name, so it follows the new table.
		"sqlite": `
CREATE TABLE hookd_run_rebuilt (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id        BIGINT NOT NULL REFERENCES hookd_event (id),
	action          TEXT NOT NULL,
	repository      TEXT NOT NULL,
	artifact        TEXT NOT NULL,
	stage           TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'superseded')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL
);
INSERT INTO hookd_run_rebuilt (id, event_id, action, repository, artifact, stage, idempotency_key, status,
	attempts, created_at, updated_at)
	SELECT id, event_id, action, repository, artifact, stage, idempotency_key, status, attempts, created_at,
	updated_at FROM hookd_run;
DROP TABLE hookd_run;
ALTER TABLE hookd_run_rebuilt RENAME TO hookd_run;
CREATE INDEX hookd_run_lane ON hookd_run (repository, artifact, stage, action, id);
`,
	},
}

// migrate brings River's schema and hookd's own up to date. It is safe to run
// on every start and from several processes at once.
func migrate(ctx context.Context, d driver.Driver) error {
	return d.WithMigrationLock(ctx, func(ctx context.Context) error {
		if err := d.MigrateQueue(ctx); err != nil {
			return fmt.Errorf("river migrations: %w", err)
		}
		if _, err := d.Exec(ctx, `CREATE TABLE IF NOT EXISTS hookd_migration (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var applied int
		if err := d.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM hookd_migration`).Scan(&applied); err != nil {
			return err
		}
		types := d.Types()
		expand := strings.NewReplacer("{{ID}}", types.ID, "{{BYTES}}", types.Bytes)
		for i := applied; i < len(migrations); i++ {
			err := inTx(ctx, d, func(tx driver.Tx) error {
				steps := dialectSteps[i+1][types.Dialect] + ";" + migrations[i]
				for _, stmt := range strings.Split(expand.Replace(steps), ";") {
					if strings.TrimSpace(stmt) == "" {
						continue
					}
					if _, err := tx.Exec(ctx, stmt); err != nil {
						return err
					}
				}
				_, err := tx.Exec(ctx, `INSERT INTO hookd_migration (version, applied_at) VALUES ($1, $2)`, i+1, micros(now()))
				return err
			})
			if err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		return nil
	})
}

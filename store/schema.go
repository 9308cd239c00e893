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
	// 3: what the dashboard reads without reading everything: the events
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
				for _, stmt := range strings.Split(expand.Replace(migrations[i]), ";") {
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

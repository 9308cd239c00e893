// Package postgres is store's driver for PostgreSQL (pgx v5 and a pgxpool).
// Several hookd replicas may share one database; this package owns what that
// needs from the connection side: the pool size and a migration lock.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/hookd-dev/hookd/store/driver"
)

// defaultMaxConns replaces pgxpool's default of max(4, CPUs): River's
// listener and producers hold connections of their own besides store's.
const defaultMaxConns = 16

// migrationLockID is the advisory lock key replicas take while migrating.
const migrationLockID = 0x686f6f6b64 // "hookd"

// Open connects to the database at url (postgres://...). A pool_max_conns
// parameter in url overrides the default pool size.
func Open(ctx context.Context, url string) (driver.Driver, error) {
	// lz4 stores payloads about three times cheaper in server CPU than the
	// default pglz; a server without it (built without lz4, or older than
	// 14) refuses the setting, and then keeps its default.
	pool, err := connect(ctx, url, map[string]string{"default_toast_compression": "lz4"})
	if err != nil {
		pool, err = connect(ctx, url, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &pgDriver{querier: querier{pool}, pool: pool}, nil
}

func connect(ctx context.Context, url string, params map[string]string) (*pgxpool.Pool, error) {
	config, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(url, "pool_max_conns") {
		config.MaxConns = defaultMaxConns
	}
	maps.Copy(config.ConnConfig.RuntimeParams, params)
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

type pgDriver struct {
	querier
	pool *pgxpool.Pool
}

func (d *pgDriver) Begin(ctx context.Context) (driver.Tx, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{querier{tx}, tx}, nil
}

func (d *pgDriver) Types() driver.Types {
	return driver.Types{ID: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", Bytes: "BYTEA",
		LastAttemptedBy: "attempted_by[array_length(attempted_by, 1)]",
		JobRunID:        "CAST(args->>'run_id' AS BIGINT)",
		JobRepository:   "args->>'repository'",
		Now:             "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
		Dialect:         "postgres"}
}

// WithMigrationLock holds a session advisory lock so that replicas starting
// together migrate one after the other.
func (d *pgDriver) WithMigrationLock(ctx context.Context, fn func(context.Context) error) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID) //nolint:errcheck // the lock also ends with the session
	return fn(ctx)
}

func (d *pgDriver) NewQueue(config *river.Config) (driver.Queue, error) {
	return driver.NewQueue(riverpgxv5.New(d.pool), config, func(tx driver.Tx) pgx.Tx { return tx.(*pgTx).tx })
}

func (d *pgDriver) MigrateQueue(ctx context.Context) error {
	return driver.MigrateQueue(ctx, riverpgxv5.New(d.pool))
}

// Writers is the pool's size: PostgreSQL writes on every connection.
func (d *pgDriver) Writers() int { return int(d.pool.Config().MaxConns) }

// Tune lets producers fetch again soon after a burst; new jobs are announced
// by LISTEN/NOTIFY, so polling stays at River's default.
func (d *pgDriver) Tune(config *river.Config) {
	config.FetchCooldown = 10 * time.Millisecond
}

func (d *pgDriver) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }
func (d *pgDriver) Close() error                   { d.pool.Close(); return nil }

type pgTx struct {
	querier
	tx pgx.Tx
}

func (t *pgTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t *pgTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// querier runs SQL on a pool or a transaction.
type querier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (q querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (q querier) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	return q.q.Query(ctx, sql, args...)
}

func (q querier) QueryRow(ctx context.Context, sql string, args ...any) driver.Row {
	return row{q.q.QueryRow(ctx, sql, args...)}
}

type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.ErrNoRows
	}
	return err
}

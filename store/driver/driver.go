// Package driver is the narrow seam between package store and a database.
//
// Store keeps every query, the schema and the job logic; a driver (store/sqlite,
// store/postgres) only knows how to connect, run SQL written with $1-style
// placeholders, open transactions and host a River client for its transaction
// type. Everything a driver would otherwise repeat lives here once.
package driver

import (
	"context"
	"errors"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// ErrNoRows is returned by Row.Scan when a query matched nothing, whatever the
// database.
var ErrNoRows = errors.New("no rows in result set")

// Driver is one database behind package store.
type Driver interface {
	Querier
	// Begin starts a read-write transaction.
	Begin(ctx context.Context) (Tx, error)
	// Types names what the shared SQL must write differently per database.
	Types() Types
	// WithMigrationLock runs fn so that processes migrating the same
	// database at once all succeed: under a lock, or by retrying fn.
	WithMigrationLock(ctx context.Context, fn func(context.Context) error) error
	// NewQueue builds a River client over this database.
	NewQueue(config *river.Config) (Queue, error)
	// MigrateQueue applies River's own migrations.
	MigrateQueue(ctx context.Context) error
	// Writers is how many transactions can write at once: 1 where the
	// database has one writer (SQLite), and transactions that would queue
	// for it share commits instead (see store's inSharedTx).
	Writers() int
	// Tune adjusts River's settings for this database.
	Tune(config *river.Config)
	Ping(ctx context.Context) error
	Close() error
}

// Types are the pieces of SQL that differ between databases.
type Types struct {
	ID    string // auto-increment BIGINT primary key
	Bytes string // raw bytes
	// LastAttemptedBy is an expression for the ID of the River client that
	// last attempted a river_job row (River keeps the list in attempted_by).
	LastAttemptedBy string
	// JobRunID is an expression for the run_id in a river_job row's args
	// (as a BIGINT, NULL when there is none): the run a run_action job
	// executes.
	JobRunID string
	// JobRepository is an expression for the repository in a river_job
	// row's args: the repository a reconcile_repository job lists.
	JobRepository string
	// Now is an expression for the database's clock, in microseconds since
	// the Unix epoch: leases are judged by one clock, whatever the clocks
	// of the processes sharing the database say.
	Now string
	// Dialect is "sqlite" or "postgres", for the few schema steps that
	// only one database can write (SQLite cannot drop a constraint).
	Dialect string
}

// Querier runs SQL with $1-style placeholders.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// Tx is an open transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Rows iterates over a query's result.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result; Scan returns ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Queue is a River client with its transaction type hidden.
type Queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	// InsertTx enqueues jobs inside tx, so they commit or vanish with it.
	InsertTx(ctx context.Context, tx Tx, jobs []river.InsertManyParams) error
	// Insert enqueues one job in its own transaction; never call it while
	// the caller holds a Tx (SQLite has one connection).
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	// OldestAvailable returns the job that has waited longest to run, or nil.
	OldestAvailable(ctx context.Context) (*rivertype.JobRow, error)
}

// NewQueue wraps a River client; unwrap returns the driver's native
// transaction inside a Tx it created.
func NewQueue[TTx any](rd riverdriver.Driver[TTx], config *river.Config, unwrap func(Tx) TTx) (Queue, error) {
	client, err := river.NewClient(rd, config)
	if err != nil {
		return nil, err
	}
	return &queue[TTx]{client: client, unwrap: unwrap}, nil
}

// MigrateQueue applies River's migrations through rd.
func MigrateQueue[TTx any](ctx context.Context, rd riverdriver.Driver[TTx]) error {
	migrator, err := rivermigrate.New(rd, nil)
	if err != nil {
		return err
	}
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

type queue[TTx any] struct {
	client *river.Client[TTx]
	unwrap func(Tx) TTx
}

func (q *queue[TTx]) Start(ctx context.Context) error         { return q.client.Start(ctx) }
func (q *queue[TTx]) Stop(ctx context.Context) error          { return q.client.Stop(ctx) }
func (q *queue[TTx]) StopAndCancel(ctx context.Context) error { return q.client.StopAndCancel(ctx) }

func (q *queue[TTx]) InsertTx(ctx context.Context, tx Tx, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	_, err := q.client.InsertManyFastTx(ctx, q.unwrap(tx), jobs)
	return err
}

func (q *queue[TTx]) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := q.client.Insert(ctx, args, opts)
	return err
}

func (q *queue[TTx]) OldestAvailable(ctx context.Context) (*rivertype.JobRow, error) {
	res, err := q.client.JobList(ctx, river.NewJobListParams().
		States(rivertype.JobStateAvailable).
		OrderBy(river.JobListOrderByScheduledAt, river.SortOrderAsc).
		First(1))
	if err != nil || len(res.Jobs) == 0 {
		return nil, err
	}
	return res.Jobs[0], nil
}

// Package sqlite is store's driver for a SQLite file (modernc.org/sqlite, no
// cgo). It owns the connection settings that keep SQLite from losing work
// (WAL, a busy timeout, durable commits, BEGIN IMMEDIATE and one writer
// connection) and those that keep it fast: readers beside the writer for
// statements that only read, and statements prepared once.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivershared/baseservice"
	"github.com/riverqueue/river/rivershared/riverpilot"
	"github.com/riverqueue/river/rivertype"
	msqlite "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd-dev/hookd/store/driver"
)

// busyTimeout is how long a statement waits for another connection's lock
// (SQLite's busy_timeout), and how long Open keeps trying to connect.
const busyTimeout = 5 * time.Second

// Open opens (creating if needed) the SQLite database at path.
func Open(ctx context.Context, path string) (driver.Driver, error) {
	pragmas := fmt.Sprintf("?_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
	db, err := openDB("file:" + path + pragmas + "&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has one writer, and a second connection turns
	// contention into SQLITE_BUSY errors instead of waiting.
	db.SetMaxOpenConns(1)
	// Keep the connection: closing the last one checkpoints the WAL.
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	if err := connect(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Readers beside the writer: in WAL mode a read never waits for a
	// write (it reads the last commit), so statements outside transactions
	// that only read (a run's event, a dashboard page) do not queue for the
	// writer's one connection behind every commit.
	read, err := openDB("file:" + path + pragmas + "&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, err
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	read.SetConnMaxIdleTime(0)
	return &sqliteDriver{
		querier: querier{on: db, read: read},
		db:      db, reader: read,
	}, nil
}

// readers is how many connections read beside the writer.
const readers = 4

// connect makes the first connection, which applies the pragmas. Processes
// opening a new database at once race to switch it to WAL, which takes an
// exclusive lock; SQLite answers the losers SQLITE_BUSY at once instead of
// waiting out busy_timeout (waiting could deadlock them), so connecting is
// tried again, within the busy timeout.
func connect(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func isBusy(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

type sqliteDriver struct {
	querier
	db     *sql.DB // the writer
	reader *sql.DB // readers, for statements that only read

	mu sync.Mutex
	// wake tells the working River client's producers that jobs of the
	// given queues were committed (nil until a client with workers
	// exists): SQLite has no LISTEN/NOTIFY to tell them.
	wake func(ctx context.Context, res []*rivertype.JobInsertResult)
}

func (d *sqliteDriver) Begin(ctx context.Context) (driver.Tx, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqliteTx{querier: querier{on: tx}, tx: tx, d: d}, nil
}

// wakeQueues has the workers fetch from queues now, instead of at their
// next poll.
func (d *sqliteDriver) wakeQueues(queues []string) {
	d.mu.Lock()
	wake := d.wake
	d.mu.Unlock()
	if wake == nil || len(queues) == 0 {
		return
	}
	res := make([]*rivertype.JobInsertResult, len(queues))
	for i, q := range queues {
		res[i] = &rivertype.JobInsertResult{Job: &rivertype.JobRow{Queue: q}}
	}
	wake(context.Background(), res)
}

func (d *sqliteDriver) Types() driver.Types {
	return driver.Types{ID: "INTEGER PRIMARY KEY AUTOINCREMENT", Bytes: "BLOB",
		LastAttemptedBy: "json_extract(attempted_by, '$[#-1]')",
		// River stores args as JSON text in a BLOB column; JSON functions
		// try a BLOB as SQLite's binary JSONB first, text never.
		JobRunID:      "json_extract(CAST(args AS TEXT), '$.run_id')",
		JobRepository: "json_extract(CAST(args AS TEXT), '$.repository')",
		Now:           "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)",
		Dialect:       "sqlite"}
}

// WithMigrationLock retries instead of locking: with one connection, no lock
// can be held across River's own migration transactions. Every migration
// step is a transaction, so when processes starting together collide, the
// loser's step rolls back and its retry finds the step applied.
func (d *sqliteDriver) WithMigrationLock(ctx context.Context, fn func(context.Context) error) error {
	var err error
	for attempt := range 5 {
		if err = fn(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return err
}

// NewQueue builds a River client whose jobs, inserted in a transaction of
// this driver, wake the workers when it commits. River does that itself only
// for jobs inserted outside a transaction, through its pilot's
// NotifyNonTxJobInsert; wakingDriver hands River a pilot that keeps that
// function for Commit to call.
func (d *sqliteDriver) NewQueue(config *river.Config) (driver.Queue, error) {
	rd := &wakingDriver{Driver: riversqlite.New(d.db), pilot: &wakingPilot{d: d, working: config.Workers != nil}}
	q, err := driver.NewQueue(rd, config, func(tx driver.Tx) *sql.Tx { return tx.(*sqliteTx).tx })
	if err != nil {
		return nil, err
	}
	return &wakingQueue{Queue: q, d: d}, nil
}

// wakingDriver is River's SQLite driver with wakingPilot as its pilot.
type wakingDriver struct {
	*riversqlite.Driver
	pilot *wakingPilot
}

func (*wakingDriver) PluginInit(*baseservice.Archetype) {}

func (w *wakingDriver) PluginPilot() riverpilot.Pilot { return w.pilot }

// wakingPilot is River's standard pilot that, in the client that works
// jobs, hands the driver the function that wakes its producers.
type wakingPilot struct {
	riverpilot.StandardPilot
	d       *sqliteDriver
	working bool
}

func (p *wakingPilot) PilotInit(archetype *baseservice.Archetype, params *riverpilot.PilotInitParams) {
	p.StandardPilot.PilotInit(archetype, params)
	if p.working {
		p.d.mu.Lock()
		p.d.wake = params.NotifyNonTxJobInsert
		p.d.mu.Unlock()
	}
}

// wakingQueue notes on the transaction which queues got jobs, for its
// Commit to wake them; a job inserted on its own wakes them at once.
type wakingQueue struct {
	driver.Queue
	d *sqliteDriver
}

func (q *wakingQueue) InsertTx(ctx context.Context, tx driver.Tx, jobs []river.InsertManyParams) error {
	if err := q.Queue.InsertTx(ctx, tx, jobs); err != nil {
		return err
	}
	t := tx.(*sqliteTx)
	for _, j := range jobs {
		if name := queueOf(j.Args, j.InsertOpts); !slices.Contains(t.queues, name) {
			t.queues = append(t.queues, name)
		}
	}
	return nil
}

func (q *wakingQueue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if err := q.Queue.Insert(ctx, args, opts); err != nil {
		return err
	}
	q.d.wakeQueues([]string{queueOf(args, opts)})
	return nil
}

// queueOf is the queue River puts a job in: its insert options', else its
// args' own, else River's default queue.
func queueOf(args river.JobArgs, opts *river.InsertOpts) string {
	if opts != nil && opts.Queue != "" {
		return opts.Queue
	}
	if a, ok := args.(river.JobArgsWithInsertOpts); ok && a.InsertOpts().Queue != "" {
		return a.InsertOpts().Queue
	}
	return river.QueueDefault
}

func (d *sqliteDriver) MigrateQueue(ctx context.Context) error {
	return driver.MigrateQueue(ctx, riversqlite.New(d.db))
}

// Writers is one: SQLite has a single writer, and batching, not
// concurrency, is what makes its commits cheap.
func (d *sqliteDriver) Writers() int { return 1 }

// Tune sets River's polling for SQLite, which has no LISTEN/NOTIFY. Jobs
// hookd inserts wake the workers when their transaction commits (see
// NewQueue), so the poll only finds what River itself makes available
// (retries, snoozed and rescued jobs) and can be slow: a 5 ms poll cost 7 %
// of a core with nothing queued, and a poll of each queue every second was
// still a third of an idle daemon's 1.1 %. A tag's deploy waits for two
// fetches (its delivery's job, then its run's); before the wake-up, 5 ms
// polls measured p50 44 ms / p99 60 ms there, 20 ms polls 55 ms / 105 ms.
func (d *sqliteDriver) Tune(config *river.Config) {
	config.FetchCooldown = 2 * time.Millisecond
	config.FetchPollInterval = 2 * time.Second
}

func (d *sqliteDriver) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

func (d *sqliteDriver) Close() error {
	return errors.Join(d.reader.Close(), d.db.Close())
}

type sqliteTx struct {
	querier
	tx *sql.Tx
	d  *sqliteDriver
	// queues got jobs in this transaction.
	queues []string
}

func (t *sqliteTx) Commit(ctx context.Context) error {
	if err := t.tx.Commit(); err != nil {
		return err
	}
	t.d.wakeQueues(t.queues)
	return nil
}

func (t *sqliteTx) Rollback(ctx context.Context) error { return t.tx.Rollback() }

// querier runs SQL on the writer (the *sql.DB's one connection, or the
// *sql.Tx holding it); outside a transaction, a statement that only reads
// runs on the readers (read). The connections keep the statements prepared.
type querier struct {
	on   sqlQuerier
	read *sql.DB // nil in a transaction
}

type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// to is where query runs: the readers for a SELECT outside a transaction,
// else the writer.
func (q querier) to(query string) sqlQuerier {
	if q.read != nil && readOnly(query) {
		return q.read
	}
	return q.on
}

// readOnly reports whether query is one SELECT, which writes nothing.
func readOnly(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT") && !strings.Contains(q, ";")
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.to(query).ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	rows, err := q.to(query).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	return sqlRow{q.to(query).QueryRowContext(ctx, query, args...)}
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type sqlRow struct{ row *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return driver.ErrNoRows
	}
	return err
}

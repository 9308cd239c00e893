// Package store owns hookd's durable state and its job queue: deliveries,
// tags, events and deploy runs, on SQLite (the default, a single file) or
// PostgreSQL (shared by several replicas), with River as the queue on both.
//
// # Opening
//
// [Open] takes a SQLite path (also sqlite://path or file:path) or a
// postgres:// URL, and applies River's migrations and hookd's own before it
// returns, so every start brings the schema up to date. [Store.Ready] backs
// the readiness probe (the database answers and takes writes);
// [Store.Close] stops everything.
//
// # Deliveries
//
// A webhook or git hook delivery is handed to [Store.Accept], which returns
// once the delivery and the job that will process it are committed: only
// then may the HTTP handler answer 2xx. An error means nothing was
// acknowledged (answer 503). A known id comes back as
// [AcceptResult].Duplicate, and with [Delivery].ProcessAgain (GitHub's
// Redeliver) it is queued for processing again. Accept calls made at the same time share one
// transaction (group commit), so throughput grows with concurrency rather
// than with connections. Deliveries hookd has no use for are stored with
// status [DeliveryIgnored] and no job.
//
// [Store.Deliveries] and [Store.Delivery] list and show them (a worker's
// [Outcome] is recorded on each), [Store.Replay] processes one again, and
// [Store.PrunePayloads] drops old payloads while keeping the rows, a small
// batch at a time so that acceptance never waits for it.
//
// # Jobs
//
// The rest of hookd writes its workers as plain functions in [Workers] and
// starts them with [Store.StartWorkers]; [Store.StopWorkers] stops fetching
// and lets running jobs finish until its context ends. Jobs live in the
// database, so work accepted before a crash is done after the restart.
// [Store.EnqueueReconcile] asks for a repository's tags to be re-listed, and
// [Store.QueueStats] feeds the metrics.
//
// # Tags and events
//
// [Store.UpsertTag], [Store.DeleteTag] and [Store.Tags] keep the tags the
// registry is rebuilt from, their text byte for byte on both databases
// (text.go escapes what PostgreSQL's TEXT refuses: bytes that are not
// UTF-8, NUL), and [Store.Listing]/[Store.SaveListing] whether a
// repository has been listed yet (its first listing is a baseline). [Store.RecordEvent] stores the
// lifecycle event a tag object means, at most once per (repository, tag
// object, event type) however many paths bring it. [Store.HoldRepository]
// lets one sync of a repository at a time decide its events, across
// processes (hold.go).
//
// # Runs and lanes
//
// [Store.CreateRuns] creates the runs of an event without a stage, and
// [Store.Converge] records what an event did to lanes (one action deploying
// one artifact's stage): each lane's desired state follows, and a change the
// action asks for gets a queued run, with its job, in the same transaction.
// The RunAction worker brackets each attempt with [Store.StartLane], which
// picks the lane's next run (a resumed one, else the newest queued, the
// older ones superseded) under a lease per (repository, artifact, stage,
// action), so one run at a time per lane across all processes, and
// [Store.FinishRun], fenced by attempt and holder, which records what the
// lane deployed and wakes the lane's next run. [Store.ExtendRun] keeps the
// lease during long runs; a crashed holder's lease expires. [Store.Lanes]
// lists desired beside deployed. The same kind of lease keeps a heartbeat
// per worker process, which tells a crashed process's jobs from a live
// one's (orphans.go), and a sweep wakes a lane left with nothing to start
// it (lane.go). On SQLite, starts and finishes that arrive together share a
// commit, each in a savepoint of its own (group.go).
//
// # Audit and replay protection
//
// [Store.RecordAudit] keeps who asked hookd, through its API, chat or remote
// CLI, for which write and how it was answered; [Store.Audit] lists it.
// [Store.ClaimNonce] spends a signed request's key once, across replicas,
// so a captured request re-sent within its validity window is refused.
//
// # Drivers
//
// Queries and schema are written once, here; the packages sqlite and
// postgres implement the small [driver.Driver] interface: connecting,
// transactions, and a River client for their transaction type.
package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/hookd-dev/hookd/store/driver"
	"github.com/hookd-dev/hookd/store/postgres"
	"github.com/hookd-dev/hookd/store/sqlite"
)

var (
	// ErrNotFound: no delivery, event or run has that id.
	ErrNotFound = errors.New("store: not found")
	// ErrClosed: the store was closed; nothing was stored.
	ErrClosed = errors.New("store: closed")
)

// Store is hookd's durable state and job queue. It is safe for concurrent use.
type Store struct {
	db     driver.Driver
	queue  driver.Queue // inserts jobs; the worker-side client is separate
	logger *slog.Logger
	holder string // names this process in leases and run attempts
	// holdTTL is how long a repository hold lasts unrenewed (hold.go).
	holdTTL time.Duration

	// Group commit (see Accept): callers hand requests to one writer.
	mu      sync.RWMutex
	closed  bool
	accepts chan *acceptRequest
	writers sync.WaitGroup
	// group shares commits among runs' small transactions (group.go).
	group txGroup

	// reachableSince is when this process last started reaching the
	// database without failure (UnixNano; 0 while it fails). See
	// trustsPeers.
	reachableSince atomic.Int64
	// rescueAfter is River's RescueStuckJobsAfter (a test may shorten it).
	rescueAfter time.Duration

	workersMu   sync.Mutex
	workers     driver.Queue // nil unless StartWorkers ran
	stopBeating func()       // stops keepBeating and waits for it
	working     working      // the jobs this process's workers execute
}

// Option configures Open.
type Option func(*Store)

// WithLogger sets the logger River and the store write to (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.logger = l } }

// WithRescueAfter sets how long a job may run before River's rescuer takes
// it for stuck (default 5 minutes). Runs of actions are exempt until their
// action's timeout has passed (see Workers.RunTimeout).
func WithRescueAfter(d time.Duration) Option { return func(s *Store) { s.rescueAfter = d } }

// Open connects to url and brings the schema up to date. url is a SQLite
// path, sqlite://path or file:path (hookd sets the connection parameters
// itself; any given after "?" are dropped), or a postgres:// URL.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	var (
		db  driver.Driver
		err error
	)
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		db, err = postgres.Open(ctx, url)
	} else {
		db, err = sqlite.Open(ctx, sqlitePath(url))
	}
	if err != nil {
		return nil, err
	}
	s, err := newStore(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// sqlitePath turns the accepted spellings of a SQLite location into a path.
func sqlitePath(url string) string {
	if p, ok := strings.CutPrefix(url, "sqlite://"); ok {
		return p
	}
	if p, ok := strings.CutPrefix(url, "file:"); ok {
		p, _, _ = strings.Cut(p, "?")
		return p
	}
	return url
}

func newStore(ctx context.Context, db driver.Driver, opts []Option) (*Store, error) {
	s := &Store{
		db:      db,
		logger:  slog.Default(),
		holder:  newHolder(),
		holdTTL: holdTTL,
		accepts: make(chan *acceptRequest, maxBatch),
		group:   txGroup{db: db},
		working: working{running: map[int64]bool{}, ended: map[int64]time.Time{}, suspect: map[int64]time.Time{}},
	}
	// Trusted from the start: a process that just opened the database
	// lived through no outage of its own.
	s.reachableSince.Store(time.Now().Add(-heartbeatTTL).UnixNano())
	for _, o := range opts {
		o(s)
	}
	if err := migrate(ctx, db); err != nil {
		return nil, err
	}
	queue, err := db.NewQueue(s.riverConfig(nil, 0))
	if err != nil {
		return nil, err
	}
	s.queue = queue
	// One writer of accepted deliveries, on every database: while it
	// commits, the next deliveries gather into its next batch. A second
	// one on PostgreSQL split the batches and cost the server more per
	// delivery than the overlap saved (3 replicas on 2 cores: 13 % fewer
	// deliveries/s with two).
	s.writers.Go(s.writer)
	return s, nil
}

// newHolder names this process uniquely among replicas.
func newHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// ClockSkew bounds how far apart the clocks of the processes sharing the
// database may be, for times one process stamps (a delivery's arrival)
// that another compares with its own: none on SQLite, whose processes
// share one machine and its clock; a second on PostgreSQL, whose replicas
// each keep their own.
func (s *Store) ClockSkew() time.Duration {
	if s.db.Types().Dialect == "sqlite" {
		return 0
	}
	return time.Second
}

// probeBytes is what a readiness probe writes: more than nearly every
// delivery holds.
const probeBytes = 64 << 10

// Ready reports whether the store takes writes now; it backs the readiness
// probe. A database that answers may still refuse every write (its disk is
// full), so Ready stores a row as large as a delivery, of bytes that do not
// compress, and removes it again: when that fails, so would deliveries.
func (s *Store) Ready(ctx context.Context) error {
	pad := make([]byte, probeBytes)
	_, _ = rand.Read(pad)
	if _, err := s.db.Exec(ctx, `INSERT INTO hookd_probe (holder, pad) VALUES ($1, $2)
		ON CONFLICT (holder) DO UPDATE SET pad = excluded.pad`, s.holder, pad); err != nil {
		return fmt.Errorf("store: the database does not take writes: %w", err)
	}
	_, err := s.db.Exec(ctx, `DELETE FROM hookd_probe WHERE holder = $1`, s.holder)
	return err
}

// Close stops accepting, commits what was already handed over, stops the
// workers (running jobs get 10 seconds, then are cancelled and retried
// later; call StopWorkers first to give them longer) and closes the
// database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.accepts)
	s.mu.Unlock()
	s.writers.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.StopWorkers(ctx)
	return errors.Join(err, s.db.Close())
}

// riverConfig is the configuration of both River clients; workers is nil for
// the insert-only client.
func (s *Store) riverConfig(workers *river.Workers, runs int) *river.Config {
	config := &river.Config{
		Logger: riverLogger(s.logger),
		// Workers are registered only on the worker-side client.
		SkipUnknownJobCheck: workers == nil,
		Workers:             workers,
		MaxAttempts:         maxJobAttempts,
		// River wants the rescue interval to be at least the timeout.
		JobTimeout: min(jobTimeout, cmp.Or(s.rescueAfter, rescueAfter)),
		// A job still "running" this long after it started belonged to a
		// process that died; River then runs it again.
		RescueStuckJobsAfter: cmp.Or(s.rescueAfter, rescueAfter),
	}
	if workers != nil {
		// Jobs record this ID as their attempter; the heartbeat under the
		// same name tells whether that process still lives (orphans.go).
		config.ID = s.clientID()
		// Deliveries of one repository take turns anyway; deploys are
		// many at once (DefaultRunConcurrency).
		config.Queues = map[string]river.QueueConfig{
			queueEvents:  {MaxWorkers: 4},
			queueActions: {MaxWorkers: cmp.Or(runs, DefaultRunConcurrency)},
		}
		config.Middleware = []rivertype.Middleware{river.WorkerMiddlewareFunc(s.working.track)}
	}
	s.db.Tune(config)
	return config
}

// inTx runs fn in a transaction and commits it, or rolls back on error.
func inTx(ctx context.Context, db driver.Driver, fn func(driver.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}

func now() time.Time { return time.Now() }

// micros and fromMicros convert to and from the schema's time columns.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// notFound maps the driver's no-rows error to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, driver.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// Page bounds a listing: Limit rows (default 50, at most 500) whose id is
// below Before (0: from the newest). Pass the last row's id as the next
// Before to get the following page.
type Page struct {
	Limit  int
	Before int64
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 500:
		return 500
	}
	return p.Limit
}

// where accumulates optional filters for a listing query.
type where struct {
	conds []string
	args  []any
}

// add appends "column = value" when value is not empty.
func (w *where) add(column string, value any) {
	if value == "" {
		return
	}
	w.args = append(w.args, value)
	w.conds = append(w.conds, fmt.Sprintf("%s = $%d", column, len(w.args)))
}

// page appends the keyset condition on idColumn and returns the tail of the
// query: WHERE ... ORDER BY ... LIMIT.
func (w *where) page(idColumn string, p Page) string {
	if p.Before > 0 {
		w.args = append(w.args, p.Before)
		w.conds = append(w.conds, fmt.Sprintf("%s < $%d", idColumn, len(w.args)))
	}
	q := w.filter()
	w.args = append(w.args, p.limit())
	return q + fmt.Sprintf(" ORDER BY %s DESC LIMIT $%d", idColumn, len(w.args))
}

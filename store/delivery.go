package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/store/driver"
)

// Source is where a delivery came from.
type Source string

const (
	SourceGitHub Source = "github" // a GitHub webhook
	SourceGit    Source = "git"    // a git post-receive hook
)

// DeliveryStatus is how far hookd got with a delivery.
type DeliveryStatus string

const (
	DeliveryQueued    DeliveryStatus = "queued"    // stored, its processing job pending
	DeliveryProcessed DeliveryStatus = "processed" // turned into events
	DeliveryIgnored   DeliveryStatus = "ignored"   // nothing hookd acts on
	DeliveryFailed    DeliveryStatus = "failed"    // processing gave up; see Reason
)

// Delivery is one webhook or hook delivery, stored as received.
type Delivery struct {
	Seq        int64  // listing order, assigned by the store
	ID         string // GitHub's X-GitHub-Delivery, or generated for the git hook
	Source     Source
	Event      string // e.g. "push", "create", "ping"
	Repository string // owner/name
	Body       []byte // raw payload; nil in listings and once pruned
	Pruned     bool   // the payload was removed by PrunePayloads
	ReceivedAt time.Time
	Status     DeliveryStatus
	Reason     string
	UpdatedAt  time.Time
	// Attempts counts the processing attempts that have ended, and
	// LastError is the last failed one's error ("" if none failed).
	Attempts  int
	LastError string
	// NextAttemptAt is when a queued delivery whose last attempt failed
	// is tried again; nil otherwise.
	NextAttemptAt *time.Time
	// ProcessAgain asks Accept, when a delivery with this ID is stored
	// already, to queue that one for processing again (GitHub's Redeliver
	// sends the same delivery with the same ID), its payload restored if
	// it was pruned.
	ProcessAgain bool
	// Announces is the one tag the delivery says was pushed, and the tag
	// object it now names, when ingress could read that much (a GitHub
	// push of an annotated tag). Accept settles a new delivery that
	// announces a tag the store already holds at that object as processed
	// at once, with no job: processing would list the repository only to
	// find what is stored (see AcceptResult.Known).
	Announces *AnnouncedTag
}

// AnnouncedTag is a tag a delivery says was pushed: its name and the tag
// object's SHA.
type AnnouncedTag struct {
	Name, Object string
}

// AcceptResult tells what Accept did.
type AcceptResult struct {
	// Duplicate: a delivery with this id was already stored; nothing new
	// was stored.
	Duplicate bool
	// Requeued: the delivery was a duplicate with ProcessAgain, and it is
	// queued for processing (again, or still).
	Requeued bool
	// Known: the delivery is new and announces a tag the store holds at
	// that object already, while no sync of its repository was under
	// way; it is stored processed, saying so, with no job. A sync that
	// starts later lists the repository after the push it announces, so
	// it can only find the tag there or gone since, which a later
	// delivery announces.
	Known bool
}

// ErrPruned: the delivery's payload was pruned, so it cannot be replayed.
var ErrPruned = errors.New("store: delivery payload pruned")

// maxBatch bounds how many deliveries one group commit writes.
const maxBatch = 256

// writeTimeout bounds one group commit.
const writeTimeout = 30 * time.Second

type acceptRequest struct {
	delivery Delivery
	answer   chan acceptAnswer // buffered: the writer never waits on a caller
	// known: the delivery announces a tag held at its object already, and
	// is stored processed if it is new (AcceptResult.Known).
	known bool
}

// holdsTag reports whether repository's tag t.Name is stored, not deleted,
// at object t.Object, while no sync holds the repository. One statement
// reads both, so that it sees a sync either not begun, and then listing
// after the push that announced t, or finished, its tags stored; a sync
// under way may have listed before that push, and may yet store the tag
// as deleted or elsewhere.
func (s *Store) holdsTag(ctx context.Context, repository string, t AnnouncedTag) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM hookd_tag WHERE repository = $1 AND name = $2 AND object_sha = $3
		AND deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM hookd_lease WHERE name = $4 AND expires_at > `+s.db.Types().Now+`)`,
		repository, toText(t.Name), t.Object, repositoryLease(repository)).Scan(&n)
	return n > 0, err
}

type acceptAnswer struct {
	result AcceptResult
	err    error
}

// Accept stores d and enqueues its processing in one transaction, and
// returns once that transaction has committed: a nil error means d is
// durable. A delivery whose Status is DeliveryIgnored is recorded without a
// job; otherwise Status must be empty or DeliveryQueued. A known ID is
// reported as Duplicate and changes nothing, unless d.ProcessAgain asks
// for the stored delivery to be processed again. ReceivedAt defaults to
// now.
//
// Concurrent callers share transactions: one writer commits whatever has
// queued up while the previous commit ran, with one job per 32 of its
// deliveries (deliveriesPerJob), which is where throughput comes from (a
// River job per delivery costs more than the delivery itself on SQLite).
// If ctx ends first, Accept returns its error, and d may or may not have
// been stored.
func (s *Store) Accept(ctx context.Context, d Delivery) (AcceptResult, error) {
	if d.ID == "" || d.Repository == "" {
		return AcceptResult{}, errors.New("store: delivery needs an ID and a repository")
	}
	switch d.Status {
	case "":
		d.Status = DeliveryQueued
	case DeliveryQueued, DeliveryIgnored:
	default:
		return AcceptResult{}, fmt.Errorf("store: cannot accept a delivery with status %q", d.Status)
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = now()
	}
	if d.Body == nil {
		d.Body = []byte{} // NULL means pruned
	}
	req := &acceptRequest{delivery: d, answer: make(chan acceptAnswer, 1)}
	if t := d.Announces; t != nil && d.Status == DeliveryQueued {
		// Read here, beside the other callers, not on the one writer.
		known, err := s.holdsTag(ctx, d.Repository, *t)
		if err != nil {
			s.logger.DebugContext(ctx, "could not tell whether a delivery's tag is known; it is processed", "delivery", d.ID, "error", err)
		}
		if known {
			req.known = true
			req.delivery.Status = DeliveryProcessed
			req.delivery.Reason = fmt.Sprintf("%s is recorded at tag object %.7s already: nothing new", t.Name, t.Object)
		}
	}

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return AcceptResult{}, ErrClosed
	}
	select {
	case s.accepts <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return AcceptResult{}, ctx.Err()
	}
	s.mu.RUnlock()

	select {
	case a := <-req.answer:
		return a.result, a.err
	case <-ctx.Done():
		return AcceptResult{}, ctx.Err()
	}
}

// writer commits accepted deliveries (one goroutine);
// it runs until Close closes s.accepts and answers every request it received.
func (s *Store) writer() {
	batch := make([]*acceptRequest, 0, maxBatch)
	for req := range s.accepts {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.accepts:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitAccepts(batch)
	}
}

// commitAccepts writes batch in one transaction and answers each caller. If
// the transaction fails while the database is up, one delivery is likely at
// fault: each is then retried alone so the others still get stored.
func (s *Store) commitAccepts(batch []*acceptRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	results, err := s.acceptBatch(ctx, batch)
	if err != nil && len(batch) > 1 && s.db.Ping(ctx) == nil {
		for _, r := range batch {
			s.commitAccepts([]*acceptRequest{r})
		}
		return
	}
	for i, r := range batch {
		if err != nil {
			r.answer <- acceptAnswer{err: fmt.Errorf("store: accept delivery %s: %w", r.delivery.ID, err)}
		} else {
			r.answer <- acceptAnswer{result: results[i]}
		}
	}
}

func (s *Store) acceptBatch(ctx context.Context, batch []*acceptRequest) ([]AcceptResult, error) {
	results := make([]AcceptResult, len(batch))
	// A repeated id within the batch is a duplicate of its first occurrence.
	firstOf := make(map[string]int, len(batch))
	var unique, repeated []int
	for i, r := range batch {
		if _, seen := firstOf[r.delivery.ID]; seen {
			results[i].Duplicate = true
			repeated = append(repeated, i)
			continue
		}
		firstOf[r.delivery.ID] = i
		unique = append(unique, i)
	}
	// Concurrent batches insert in id order, so they cannot deadlock.
	slices.SortFunc(unique, func(a, b int) int { return strings.Compare(batch[a].delivery.ID, batch[b].delivery.ID) })

	var stmt strings.Builder
	stmt.WriteString(`INSERT INTO hookd_delivery (id, source, event, repository, body, received_at, status, reason, updated_at) VALUES `)
	args := make([]any, 0, len(unique)*8)
	queues := false // whether the batch queues work, which needs a transaction
	for n, i := range unique {
		d := batch[i].delivery
		queues = queues || d.Status == DeliveryQueued
		if n > 0 {
			stmt.WriteByte(',')
		}
		// updated_at starts as received_at and reuses its parameter.
		p := len(args)
		fmt.Fprintf(&stmt, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", p+1, p+2, p+3, p+4, p+5, p+6, p+7, p+8, p+6)
		args = append(args, d.ID, string(d.Source), d.Event, d.Repository, d.Body, micros(d.ReceivedAt), string(d.Status), toText(d.Reason))
	}
	stmt.WriteString(` ON CONFLICT (id) DO NOTHING RETURNING id`)

	var (
		inserted map[string]struct{}
		again    []int           // known ids to process again (GitHub's Redeliver)
		willRun  map[string]bool // the ids this batch queues processing for
	)
	classify := func() {
		for _, i := range unique {
			d := batch[i].delivery
			_, ok := inserted[d.ID]
			switch {
			case !ok:
				results[i].Duplicate = true
				if d.ProcessAgain {
					again = append(again, i)
				}
			case batch[i].known:
				results[i].Known = true
			}
		}
	}
	// enqueue queues, inside tx, the new queued deliveries and the known
	// ones to process again.
	enqueue := func(tx driver.Tx) error {
		var queued []string
		for _, i := range again {
			d := batch[i].delivery
			if _, err := tx.Exec(ctx, `UPDATE hookd_delivery SET `+requeue+`, body = COALESCE(body, $3) WHERE id = $1`,
				d.ID, micros(now()), d.Body); err != nil {
				return err
			}
			results[i].Requeued = true
			queued = append(queued, d.ID)
		}
		for _, i := range unique {
			if d := batch[i].delivery; d.Status == DeliveryQueued && !results[i].Duplicate {
				queued = append(queued, d.ID)
			}
		}
		willRun = make(map[string]bool, len(queued))
		for _, id := range queued {
			willRun[id] = true
		}
		return s.enqueueDeliveries(ctx, tx, queued)
	}
	var err error
	if queues {
		err = inTx(ctx, s.db, func(tx driver.Tx) error {
			if inserted, err = queryStrings(ctx, tx, stmt.String(), args...); err != nil {
				return err
			}
			classify()
			return enqueue(tx)
		})
	} else {
		// Nothing new to queue: the INSERT commits on its own, without two
		// more round trips for BEGIN and COMMIT (on PostgreSQL about 14 %
		// of a replica's CPU under branch pushes). A redelivery among its
		// known ids is queued after it, in a transaction of its own.
		if inserted, err = queryStrings(ctx, s.db, stmt.String(), args...); err == nil {
			classify()
			if len(again) > 0 {
				err = inTx(ctx, s.db, enqueue)
			}
		}
	}
	// A repeat within the batch is processed with its first occurrence.
	for _, i := range repeated {
		d := batch[i].delivery
		results[i].Requeued = d.ProcessAgain && willRun[d.ID]
	}
	return results, err
}

// queryStrings collects a one-column result as a set. The rows are closed
// before their error is read: for a statement that commits on its own, the
// commit's error arrives only as the result ends.
func queryStrings(ctx context.Context, q driver.Querier, sql string, args ...any) (map[string]struct{}, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	set := make(map[string]struct{})
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		set[v] = struct{}{}
	}
	rows.Close()
	return set, rows.Err()
}

// DeliveryFilter selects deliveries; empty fields match everything.
type DeliveryFilter struct {
	Repository string
	Status     DeliveryStatus
	Event      string
	Page       // by Seq, newest first
}

const deliverySelect = `SELECT seq, id, source, event, repository, body IS NULL, received_at, status, reason, updated_at,
	attempts, last_error, next_attempt_at`

// Deliveries lists deliveries newest first, without their payloads.
func (s *Store) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	var w where
	w.add("repository", f.Repository)
	w.add("status", string(f.Status))
	w.add("event", f.Event)
	rows, err := s.db.Query(ctx, deliverySelect+` FROM hookd_delivery`+w.page("seq", f.Page), w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Delivery returns one delivery with its payload.
func (s *Store) Delivery(ctx context.Context, id string) (Delivery, error) {
	var body []byte
	d, err := scanDelivery(s.db.QueryRow(ctx, deliverySelect+`, body FROM hookd_delivery WHERE id = $1`, id), &body)
	d.Body = body
	return d, notFound(err)
}

func scanDelivery(row driver.Row, extra ...any) (Delivery, error) {
	var (
		d                   Delivery
		source, status      string
		received, updatedAt int64
		next                sql.NullInt64
	)
	dest := append([]any{&d.Seq, &d.ID, &source, &d.Event, &d.Repository, &d.Pruned, &received, &status, &d.Reason, &updatedAt,
		&d.Attempts, &d.LastError, &next}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Delivery{}, err
	}
	d.Source, d.Status, d.Reason = Source(source), DeliveryStatus(status), fromText(d.Reason)
	d.ReceivedAt, d.UpdatedAt = fromMicros(received), fromMicros(updatedAt)
	if next.Valid {
		t := fromMicros(next.Int64)
		d.NextAttemptAt = &t
	}
	return d, nil
}

// QueuedDeliveries calls fn with each delivery of repository that is still
// queued, payload included, oldest first; an error from fn stops it. The
// deliveries are read a page at a time, so a long backlog is never held
// in memory at once.
func (s *Store) QueuedDeliveries(ctx context.Context, repository string, fn func(Delivery) error) error {
	const page = 100
	for after := int64(0); ; {
		rows, err := s.db.Query(ctx, deliverySelect+`, body FROM hookd_delivery
			WHERE repository = $1 AND status = 'queued' AND seq > $2 ORDER BY seq LIMIT $3`, repository, after, page)
		if err != nil {
			return err
		}
		var batch []Delivery
		for rows.Next() {
			var body []byte
			d, err := scanDelivery(rows, &body)
			if err != nil {
				rows.Close()
				return err
			}
			d.Body = body
			batch = append(batch, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range batch {
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = batch[len(batch)-1].Seq
	}
}

// requeue sets a stored delivery queued again, at $2 (now). updated_at must
// change even within a microsecond: it tells a processing still under way
// that the delivery was queued anew.
const requeue = `status = 'queued', reason = '', attempts = 0, last_error = '', next_attempt_at = NULL,
	updated_at = CASE WHEN updated_at >= $2 THEN updated_at + 1 ELSE $2 END`

// Replay queues a stored delivery for processing again, whatever its status.
func (s *Store) Replay(ctx context.Context, id string) error {
	return inTx(ctx, s.db, func(tx driver.Tx) error {
		var pruned bool
		err := tx.QueryRow(ctx, `SELECT body IS NULL FROM hookd_delivery WHERE id = $1`, id).Scan(&pruned)
		if err != nil {
			return notFound(err)
		}
		if pruned {
			return ErrPruned
		}
		if _, err := tx.Exec(ctx, `UPDATE hookd_delivery SET `+requeue+` WHERE id = $1`, id, micros(now())); err != nil {
			return err
		}
		return s.enqueueDeliveries(ctx, tx, []string{id})
	})
}

// pruneBatch bounds the payloads one pruning statement drops. On SQLite a
// statement holds the only connection, so deliveries being accepted wait
// for one batch at most, never for a whole pruning.
const pruneBatch = 500

// PrunePayloads drops the payloads of deliveries received more than
// olderThan ago, keeping their rows, and returns how many it pruned. It
// works in batches of its own transactions, which acceptance interleaves
// with; if ctx ends, what was pruned so far stays pruned.
func (s *Store) PrunePayloads(ctx context.Context, olderThan time.Duration) (int64, error) {
	cutoff := micros(now().Add(-olderThan))
	var total int64
	for {
		// A queued delivery keeps its payload whatever its age: it has not
		// been processed yet (an outage longer than the retention, say).
		n, err := s.db.Exec(ctx, `UPDATE hookd_delivery SET body = NULL WHERE seq IN (
			SELECT seq FROM hookd_delivery WHERE body IS NOT NULL AND received_at < $1 AND status <> 'queued'
			ORDER BY received_at LIMIT $2)`, cutoff, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

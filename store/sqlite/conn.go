package sqlite

import (
	"container/list"
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"strings"

	msqlite "modernc.org/sqlite"
)

// openDB opens dsn with connections that keep their prepared statements.
// Parsing and planning SQL was a third of the CPU of recording a burst of
// events, and River's own statements, which it runs as text, a fifth of a
// burst's deploys; a statement kept on its connection is only bound and
// stepped. Keeping them in the connection, rather than as *sql.Stmt on the
// pool, covers River's SQL as well as hookd's, and never has to prepare on
// a pool whose one connection a transaction holds.
func openDB(dsn string) (*sql.DB, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(keepingConnector{c}), nil
}

type keepingConnector struct{ sqldriver.Connector }

func (k keepingConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	c, err := k.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &keepingConn{conn: c.(sqliteConn), kept: map[string]*list.Element{}, order: list.New()}, nil
}

// sqliteConn is what database/sql uses of a modernc.org/sqlite connection.
type sqliteConn interface {
	sqldriver.Conn
	sqldriver.ConnBeginTx
	sqldriver.ConnPrepareContext
	sqldriver.ExecerContext
	sqldriver.QueryerContext
	sqldriver.Pinger
	sqldriver.SessionResetter
	sqldriver.Validator
}

type preparedStmt interface {
	sqldriver.Stmt
	sqldriver.StmtExecContext
	sqldriver.StmtQueryContext
}

// Statements built for a batch (a VALUES list or an IN list as long as the
// batch) differ with every length; those of very long batches are run once
// and not kept. The rest are kept up to maxKept a connection, the least
// recently used going first.
const (
	maxKept     = 256
	maxKeptArgs = 300
)

// keepingConn is a connection that keeps the statements it runs prepared.
// database/sql never uses a connection from two goroutines at once, so it
// needs no lock; but one statement may be asked for again while rows of
// its last run are still open (a query inside a loop over another's rows),
// and then runs once on its own.
type keepingConn struct {
	conn  sqliteConn
	kept  map[string]*list.Element // of *keptStmt, in order
	order *list.List               // most recently used first
}

type keptStmt struct {
	query string
	stmt  preparedStmt
	// open: rows of this statement are open; dropped: evicted meanwhile,
	// to be closed with them.
	open, dropped bool
}

// stmt returns query's kept statement, preparing and keeping it if need be,
// or nil when query is to run on its own.
func (c *keepingConn) stmt(ctx context.Context, query string, args int) (*keptStmt, error) {
	if e, ok := c.kept[query]; ok {
		c.order.MoveToFront(e)
		if k := e.Value.(*keptStmt); !k.open {
			return k, nil
		}
		return nil, nil
	}
	if args > maxKeptArgs || strings.Contains(query, ";") {
		return nil, nil // a long batch's, or a script (each run parses it anyway)
	}
	s, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	k := &keptStmt{query: query, stmt: s.(preparedStmt)}
	c.kept[query] = c.order.PushFront(k)
	if c.order.Len() > maxKept {
		c.drop(c.order.Back())
	}
	return k, nil
}

func (c *keepingConn) drop(e *list.Element) {
	k := c.order.Remove(e).(*keptStmt)
	delete(c.kept, k.query)
	if k.open {
		k.dropped = true
		return
	}
	k.stmt.Close()
}

func (c *keepingConn) ExecContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	k, err := c.stmt(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.conn.ExecContext(ctx, query, args)
	}
	return k.stmt.ExecContext(ctx, args)
}

func (c *keepingConn) QueryContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	k, err := c.stmt(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.conn.QueryContext(ctx, query, args)
	}
	rows, err := k.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	k.open = true
	return &keptRows{Rows: rows, k: k}, nil
}

// keptRows frees its statement for the next run when closed.
type keptRows struct {
	sqldriver.Rows
	k *keptStmt
}

func (r *keptRows) Close() error {
	err := r.Rows.Close()
	if r.k != nil {
		r.k.open = false
		if r.k.dropped {
			r.k.stmt.Close()
		}
		r.k = nil
	}
	return err
}

func (c *keepingConn) Close() error {
	for e := c.order.Front(); e != nil; e = e.Next() {
		if k := e.Value.(*keptStmt); !k.open {
			k.stmt.Close()
		}
	}
	c.kept, c.order = nil, list.New()
	return c.conn.Close()
}

func (c *keepingConn) Prepare(query string) (sqldriver.Stmt, error) { return c.conn.Prepare(query) }

func (c *keepingConn) PrepareContext(ctx context.Context, query string) (sqldriver.Stmt, error) {
	return c.conn.PrepareContext(ctx, query)
}

// Begin is driver.Conn's; database/sql calls BeginTx.
func (c *keepingConn) Begin() (sqldriver.Tx, error) { return c.conn.Begin() }

func (c *keepingConn) BeginTx(ctx context.Context, opts sqldriver.TxOptions) (sqldriver.Tx, error) {
	return c.conn.BeginTx(ctx, opts)
}

func (c *keepingConn) Ping(ctx context.Context) error { return c.conn.Ping(ctx) }

func (c *keepingConn) ResetSession(ctx context.Context) error { return c.conn.ResetSession(ctx) }

func (c *keepingConn) IsValid() bool { return c.conn.IsValid() }

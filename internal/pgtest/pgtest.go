// Package pgtest runs a throwaway PostgreSQL server for tests, from the
// binaries installed on the machine (initdb, pg_ctl, postgres), in a temp
// dir, on 127.0.0.1 and a free port. One server serves a test package; each
// test gets a fresh database.
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
//
//	func TestX(t *testing.T) { url := pg.Database(t) ... }
//
// PostgreSQL refuses to run as root, so when the tests run as root the
// server runs as the "postgres" user (or "nobody" when there is none).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"github.com/hookd-dev/hookd/internal/testenv"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL server, or the reason there is none.
type Server struct {
	bin     string // directory of the PostgreSQL binaries
	dir     string // temp dir: data, socket, log
	port    int
	cred    *syscall.Credential // whom the server runs as; nil: as us
	missing string              // why there is no server; tests skip with it
	dbs     atomic.Int64
}

// ErrNotInstalled: the PostgreSQL server binaries are not on this machine.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under /usr/lib/postgresql/*/bin")

// Main starts a server, runs the package's tests and stops the server. When
// PostgreSQL is not installed, *srv still gets a Server whose Database skips
// the test saying so. A server that is installed but fails to start fails
// the run.
func Main(m *testing.M, srv **Server) int {
	s, err := Start()
	switch {
	case errors.Is(err, ErrNotInstalled):
		fmt.Fprintln(os.Stderr, "pgtest:", err, "- PostgreSQL tests will be skipped")
		*srv = &Server{missing: err.Error()}
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: stop:", err)
	}
	return code
}

// Start initialises and starts a server.
func Start() (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func findBinaries() (string, error) {
	if dir := testenv.PostgresBinDir(); dir != "" {
		return dir, nil
	}
	return "", ErrNotInstalled
}

func (s *Server) start() error {
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return err
		}
		s.cred = cred
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A free port can be taken between probing and binding: try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", port, s.dir)
		out, err := s.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "start")
		if err == nil {
			s.port = port
			return nil
		}
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		lastErr = fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return lastErr
}

// unprivileged picks the user to run the server as when we are root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("pgtest: running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// run runs one of the PostgreSQL binaries as the server's user.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the connection URL of a database on the server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// Database creates a fresh, empty database and returns its URL; it is
// dropped when the test ends. It skips the test when PostgreSQL is not
// installed.
func (s *Server) Database(tb testing.TB) string {
	tb.Helper()
	if s == nil || s.missing != "" {
		testenv.Missing(tb, "PostgreSQL ("+s.reason()+")", "postgresql")
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.dbs.Add(1))
	s.admin(tb, "CREATE DATABASE "+name)
	tb.Cleanup(func() { s.admin(tb, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return s.URL(name)
}

func (s *Server) reason() string {
	if s == nil {
		return "pgtest.Main was not called in TestMain"
	}
	return s.missing
}

func (s *Server) admin(tb testing.TB, sql string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// Stop stops the server and removes its files.
func (s *Server) Stop() error {
	var err error
	if s.port != 0 {
		var out []byte
		if out, err = s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "stop"); err != nil {
			err = fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
		}
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// Pause stops the server as a crash or an outage would (no clean
// shutdown), keeping its data, so that a test can watch clients lose the
// database; Resume starts it again on the same port.
func (s *Server) Pause() error {
	if out, err := s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Resume starts a paused server on its port.
func (s *Server) Resume() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", s.port, s.dir)
	if out, err := s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

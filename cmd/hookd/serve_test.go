package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/internal/hookdtest"
	"github.com/hookd-dev/hookd/internal/pgtest"
	"github.com/hookd-dev/hookd/internal/testenv"
	"github.com/hookd-dev/hookd/store"
)

// waitLimit bounds every wait on the daemon.
const waitLimit = 30 * time.Second

// process is `hookd serve` running as a process (see hookdtest), with
// the requests these tests send it.
type process struct {
	*hookdtest.Process
	t   testing.TB
	cmd *exec.Cmd // Process.Cmd, as the benchmarks read its pid
}

// startDaemon runs hookd serve in dir on a free 127.0.0.1 port and waits
// until it listens.
func startDaemon(t testing.TB, dir string, env []string, args ...string) *process {
	t.Helper()
	p := hookdtest.Serve(t, hookdBin, dir, env, args...)
	return &process{Process: p, t: t, cmd: p.Cmd}
}

// github posts a push for repository signed with secret and returns the
// status code.
func (d *process) github(repository, secret, id string) int {
	d.t.Helper()
	body := []byte(`{"ref":"refs/tags/churn#prod#1","repository":{"full_name":"` + repository + `"}}`)
	req, _ := http.NewRequest("POST", d.URL()+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", handlers.Sign(secret, body))
	return d.request(req)
}

func (d *process) get(path string) int {
	d.t.Helper()
	req, _ := http.NewRequest("GET", d.URL()+path, nil)
	return d.request(req)
}

func (d *process) request(req *http.Request) int {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// postgres is one PostgreSQL server for the package's tests, started by the
// first test that needs it and stopped by TestMain.
var postgres struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

// postgresDatabase returns the URL of a fresh database on that server.
func postgresDatabase(t testing.TB) string {
	t.Helper()
	postgres.once.Do(func() { postgres.srv, postgres.err = pgtest.Start() })
	if errors.Is(postgres.err, pgtest.ErrNotInstalled) {
		testenv.Missing(t, "postgres", "postgresql")
	}
	if postgres.err != nil {
		t.Fatal(postgres.err)
	}
	return postgres.srv.Database(t)
}

func stopPostgres() {
	if postgres.srv != nil {
		_ = postgres.srv.Stop()
	}
}

// openDatabase opens the database at url while no daemon works on it,
// with a context for what the test does with it; close the store before
// a daemon starts on it.
func openDatabase(t *testing.T, url string) (context.Context, *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, st
}

// storedDeliveries opens the database a stopped daemon left behind.
func storedDeliveries(t *testing.T, url string) []store.Delivery {
	t.Helper()
	ctx, st := openDatabase(t, url)
	defer st.Close()
	ds, err := st.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestServeWithoutConfigRunsOnDefaults(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, gitEnv(t))
	d.WaitLog("no configuration file")
	d.WaitLog("no repositories configured")
	if got := d.github("acme/models", "whatever", "d-1"); got != http.StatusUnauthorized {
		t.Errorf("webhook without repositories: %d, want 401", got)
	}
	if got := d.get("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz: %d", got)
	}
	if got := d.get("/readyz"); got != http.StatusOK {
		t.Errorf("/readyz: %d", got)
	}
	if got := d.get("/metrics"); got != http.StatusOK {
		t.Errorf("/metrics: %d", got)
	}
	d.Stop()
	if _, err := os.Stat(filepath.Join(dir, "hookd.db")); err != nil {
		t.Errorf("default SQLite database not created in the working directory: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestServeSIGHUPReloadsAndKeepsOldConfigWhenInvalid(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfgPath, "repositories:\n  - github: acme/models\n    secret: ${MODELS_SECRET}\n")
	env := append(gitEnv(t), "MODELS_SECRET=first-secret", "OTHER_SECRET=second-secret")
	d := startDaemon(t, dir, env, "--config", cfgPath)
	if got := d.github("acme/models", "first-secret", "r-1"); got != http.StatusAccepted {
		t.Fatalf("configured repository: %d, want 202", got)
	}

	writeFile(t, cfgPath, "repositories:\n  - github: acme/other\n    secret: ${OTHER_SECRET}\n    colour: blue\n")
	d.Signal(syscall.SIGHUP)
	failed := d.WaitLog("config reload failed")
	if e, _ := failed["error"].(string); !strings.Contains(e, `line 4: unknown key "colour"`) {
		t.Errorf("reload error %q does not name the line", e)
	}
	if got := d.github("acme/models", "first-secret", "r-2"); got != http.StatusAccepted {
		t.Errorf("after an invalid reload the old repository answers %d, want 202", got)
	}
	if got := d.github("acme/other", "second-secret", "r-3"); got != http.StatusUnauthorized {
		t.Errorf("after an invalid reload the new repository answers %d, want 401", got)
	}

	writeFile(t, cfgPath, "repositories:\n  - github: acme/other\n    secret: ${OTHER_SECRET}\n")
	d.Signal(syscall.SIGHUP)
	d.WaitLog("config reloaded")
	if got := d.github("acme/other", "second-secret", "r-4"); got != http.StatusAccepted {
		t.Errorf("after a valid reload the new repository answers %d, want 202", got)
	}
	if got := d.github("acme/models", "first-secret", "r-5"); got != http.StatusUnauthorized {
		t.Errorf("after a valid reload the removed repository answers %d, want 401", got)
	}
	d.Stop()
	for _, secret := range []string{"first-secret", "second-secret"} {
		if strings.Contains(d.LogText(), secret) {
			t.Errorf("a secret was logged:\n%s", d.LogText())
		}
	}
	if n := len(storedDeliveries(t, filepath.Join(dir, "hookd.db"))); n != 3 {
		t.Errorf("stored %d deliveries, want 3", n)
	}
}

// SIGTERM while a delivery is being received: the daemon stops accepting
// connections, finishes the request, stores the delivery and exits 0.
func TestServeShutdownFinishesInFlightRequest(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookd.yaml")
	// debug logs the start of each request: the request is known to be in
	// flight, not just queued in the listener's backlog, before SIGTERM.
	writeFile(t, cfgPath, "log:\n  level: debug\nrepositories:\n  - github: acme/models\n    secret: s3cret\n")
	d := startDaemon(t, dir, gitEnv(t), "--config", cfgPath)

	body := []byte(`{"ref":"refs/tags/churn#prod#1","repository":{"full_name":"acme/models"}}`)
	conn, err := net.DialTimeout("tcp", d.Addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	head := fmt.Sprintf("POST /webhooks/github HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"X-GitHub-Event: push\r\nX-GitHub-Delivery: inflight-1\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n",
		d.Addr, handlers.Sign("s3cret", body), len(body))
	half := len(body) / 2
	if _, err := conn.Write(append([]byte(head), body[:half]...)); err != nil {
		t.Fatal(err)
	}

	d.WaitLog("webhook request started")
	d.Signal(syscall.SIGTERM)
	d.WaitLog("shutting down")
	// New connections are refused while the request is still in flight.
	refused := false
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Error("hookd still accepts connections after SIGTERM")
	}

	if _, err := conn.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		<-d.Done
		t.Fatalf("in-flight request got no answer: %v; log:\n%s", err, d.LogText())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight request answered %d, want 202", resp.StatusCode)
	}
	select {
	case <-d.Done:
	case <-time.After(waitLimit):
		t.Fatalf("hookd did not exit; log:\n%s", d.LogText())
	}
	if code := d.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, d.LogText())
	}
	ds := storedDeliveries(t, filepath.Join(dir, "hookd.db"))
	if len(ds) != 1 || ds[0].ID != "inflight-1" {
		t.Fatalf("stored %+v, want the in-flight delivery", ds)
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfgPath, "repositories:\n  - github: acme/models\n")
	res := runHookd(t, dir, gitEnv(t), "serve", "--config", cfgPath, "--listen", "127.0.0.1:0")
	if res.code != exitError || !strings.Contains(res.stderr, "line 2: repository acme/models: secret is required") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, "listen: 127.0.0.1:9000\nrepositories:\n  - github: acme/models\n    secret: ${MODELS_SECRET}\n")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "listen: 127.0.0.1:9000\nrepositories:\n  - github: acme/models\n    secret: ${HOOKD_TEST_NOT_SET}\n  - github: acme/other\n    reconcile_intervall: 5m\n")
	env := append(gitEnv(t), "MODELS_SECRET=x")

	res := runHookd(t, dir, env, "config", "validate", good)
	if res.code != 0 || res.stdout != good+": OK\n" {
		t.Errorf("valid file: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	res = runHookd(t, dir, append(env, configEnv+"="+good), "config", "validate")
	if res.code != 0 {
		t.Errorf("$%s: exit %d, stderr %q", configEnv, res.code, res.stderr)
	}
	res = runHookd(t, dir, env, "config", "validate", bad)
	for _, want := range []string{
		bad + ":4: environment variable HOOKD_TEST_NOT_SET is not set",
		bad + `:6: unknown key "reconcile_intervall" in repositories[1]`,
		bad + ":5: repository acme/other: secret is required",
	} {
		if !strings.Contains(res.stdout, want+"\n") && !strings.Contains(res.stdout, want+" ") {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	if res.code != exitError {
		t.Errorf("invalid file: exit %d, want %d", res.code, exitError)
	}
}

// --database-url postgres://... runs the daemon on PostgreSQL.
func TestServeOnPostgreSQL(t *testing.T) {
	dbURL := postgresDatabase(t)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfgPath, "repositories:\n  - github: acme/models\n    secret: s3cret\n")
	d := startDaemon(t, dir, gitEnv(t), "--config", cfgPath, "--database-url", dbURL)
	if got := d.get("/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz: %d", got)
	}
	if got := d.github("acme/models", "s3cret", "pg-1"); got != http.StatusAccepted {
		t.Fatalf("push: %d", got)
	}
	if got := d.github("acme/models", "s3cret", "pg-1"); got != http.StatusAccepted {
		t.Fatalf("redelivery: %d, want 202 (processed again)", got)
	}
	// A delivery id PostgreSQL cannot store is the sender's mistake, not
	// an outage that a redelivery would get past.
	if got := d.github("acme/models", "s3cret", "caf\xe9"); got != http.StatusBadRequest {
		t.Errorf("delivery id that is not UTF-8: %d, want 400", got)
	}
	d.Stop()
	if _, err := os.Stat(filepath.Join(dir, "hookd.db")); !os.IsNotExist(err) {
		t.Errorf("a SQLite file was created although PostgreSQL was selected: %v", err)
	}
	if ds := storedDeliveries(t, dbURL); len(ds) != 1 || ds[0].ID != "pg-1" {
		t.Fatalf("PostgreSQL holds %+v", ds)
	}
}

// Raw payloads older than retention.raw_payloads are dropped; their
// delivery records stay.
func TestServePrunesRawPayloadsPastRetention(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "hookd.db")
	ctx, st := openDatabase(t, dbPath)
	for id, age := range map[string]time.Duration{"old": 48 * time.Hour, "recent": time.Hour} {
		// Handled long ago (a queued delivery keeps its payload whatever its age).
		d := store.Delivery{ID: id, Source: store.SourceGitHub, Event: "push", Repository: "acme/models",
			Body: []byte(`{}`), ReceivedAt: time.Now().Add(-age), Status: store.DeliveryIgnored, Reason: "branch push"}
		if _, err := st.Accept(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	cfgPath := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfgPath, "retention:\n  raw_payloads: 1d\n")
	d := startDaemon(t, dir, gitEnv(t), "--config", cfgPath)
	if n := d.WaitLog("pruned raw payloads")["deliveries"]; n != 1.0 {
		t.Errorf("pruned %v deliveries, want 1", n)
	}
	d.Stop()
	pruned := map[string]bool{}
	for _, d := range storedDeliveries(t, dbPath) {
		pruned[d.ID] = d.Pruned
	}
	if !pruned["old"] || pruned["recent"] || len(pruned) != 2 {
		t.Errorf("pruned: %v, want only the old payload dropped and both records kept", pruned)
	}
}

// metrics_listen serves /metrics on an address of its own, and the main
// listener, where webhooks arrive, no longer does.
func TestServeMetricsOnTheirOwnListener(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfgPath, "metrics_listen: 127.0.0.1:0\nrepositories:\n  - github: acme/models\n    secret: s3cret\n")
	d := startDaemon(t, dir, gitEnv(t), "--config", cfgPath)
	addr := d.WaitLog("metrics listening")["address"].(string)
	if got := d.github("acme/models", "s3cret", "m-1"); got != http.StatusAccepted {
		t.Fatalf("webhook: %d", got)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(text), `hookd_webhook_deliveries_total{outcome="accepted",source="github"} 1`) {
		t.Errorf("metrics listener: %d\n%s", resp.StatusCode, text)
	}
	if got := d.get("/metrics"); got != http.StatusNotFound {
		t.Errorf("/metrics on the main listener: %d, want 404", got)
	}
	d.Stop()
}

package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/internal/pgtest"
	"github.com/hookd-dev/hookd/store"
)

// The test binary doubles as the programs exec actions run, chosen by
// DEPLOY_HELPER in the action's env.
func TestMain(m *testing.M) {
	if mode := os.Getenv("DEPLOY_HELPER"); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	if os.Getenv("DEPLOY_WORKER") != "" {
		os.Exit(worker())
	}
	os.Exit(pgtest.Main(m, &pg))
}

var pg *pgtest.Server

// helper is a program for exec actions.
func helper(mode string, args []string) int {
	switch mode {
	case "report":
		// Print what the program received, for the test to compare.
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		wd, _ := os.Getwd()
		_ = json.NewEncoder(os.Stdout).Encode(report{Args: args, Env: env, Dir: wd})
		return 0
	case "fail-unless":
		// Fail until the file args[0] exists.
		if _, err := os.Stat(args[0]); err != nil {
			fmt.Println("not ready:", args[0])
			return 3
		}
		fmt.Println("ready")
		return 0
	case "spawn":
		// Start a grandchild that outlives us unless the group is killed,
		// record its pid, then hang.
		child := exec.Command(os.Args[0])
		child.Env = []string{"DEPLOY_HELPER=sleep"}
		if err := child.Start(); err != nil {
			fmt.Println(err)
			return 1
		}
		_ = os.WriteFile(args[0], []byte(strconv.Itoa(child.Process.Pid)), 0o644)
		time.Sleep(time.Minute)
		return 0
	case "sleep":
		time.Sleep(time.Minute)
		return 0
	case "slow":
		// Append the idempotency key to args[0], then take a while, so
		// that a test can kill hookd in the middle.
		f, err := os.OpenFile(args[0], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return 1
		}
		fmt.Fprintln(f, os.Getenv("HOOKD_IDEMPOTENCY_KEY"))
		f.Close()
		d, _ := time.ParseDuration(args[1])
		time.Sleep(d)
		return 0
	case "locked":
		// Hold an exclusive lock on args[0] for args[2], as a deploy
		// target would, and write to the ledger args[1] the key of each
		// attempt, or "overlap" when another attempt holds the lock.
		// The kernel drops the lock when the process dies.
		ledger, err := os.OpenFile(args[1], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return 1
		}
		defer ledger.Close()
		lock, err := os.OpenFile(args[0], os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return 1
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			fmt.Fprintln(ledger, "overlap", os.Getenv("HOOKD_IDEMPOTENCY_KEY"))
			return 4
		}
		fmt.Fprintln(ledger, "start", os.Getenv("HOOKD_IDEMPOTENCY_KEY"))
		d, _ := time.ParseDuration(args[2])
		time.Sleep(d)
		fmt.Fprintln(ledger, "done", os.Getenv("HOOKD_IDEMPOTENCY_KEY"))
		return 0
	case "signal":
		// Tell the benchmark the process started.
		c, err := net.Dial("tcp", args[0])
		if err != nil {
			return 1
		}
		fmt.Fprintln(c, os.Getenv("HOOKD_EVENT_ID"))
		c.Close()
		return 0
	}
	return 2
}

type report struct {
	Args []string
	Env  map[string]string
	Dir  string
}

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// parseActions decodes an `actions:` list strictly, as config does.
func parseActions(t testing.TB, doc string) []deploy.Action {
	t.Helper()
	var cfg struct {
		Actions []deploy.Action `yaml:"actions"`
	}
	if err := yamlUnmarshal(doc, &cfg); err != nil {
		t.Fatalf("decode actions: %v", err)
	}
	return cfg.Actions
}

// helperCommand is the YAML for an exec action running helper mode.
func helperCommand(t testing.TB, mode string, args ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv, _ := json.Marshal(append([]string{self}, args...))
	return fmt.Sprintf(`{command: %s, env: {DEPLOY_HELPER: %s}`, argv, mode)
}

// rig is a store on a fresh SQLite file with an engine working its runs.
type rig struct {
	t      testing.TB
	store  *store.Store
	engine *deploy.Engine
}

func newRig(t testing.TB, actions []deploy.Action, opts deploy.Options) *rig {
	t.Helper()
	return newRigAt(t, filepath.Join(t.TempDir(), "hookd.db"), actions, opts, true)
}

// newRigAt opens the store at url (a SQLite path or a postgres:// URL);
// with work, the engine works the store's run jobs in this process.
func newRigAt(t testing.TB, url string, actions []deploy.Action, opts deploy.Options, work bool, storeOpts ...store.Option) *rig {
	t.Helper()
	ctx := testCtx(t)
	s, err := store.Open(ctx, url, append([]store.Option{store.WithLogger(quiet)}, storeOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.LaneWait == 0 {
		opts.LaneWait = 20 * time.Millisecond
	}
	e, err := deploy.NewEngine(actions, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, store: s, engine: e}
	if work {
		r.work()
	}
	return r
}

// work starts working the store's jobs with the engine.
func (r *rig) work() {
	r.t.Helper()
	err := r.store.StartWorkers(testCtx(r.t), store.Workers{
		ProcessDelivery:     func(context.Context, store.Delivery) (store.Outcome, error) { return store.Outcome{}, nil },
		ReconcileRepository: func(context.Context, string) error { return nil },
		RunAction:           r.engine.Execute,
		RunTimeout:          r.engine.RunTimeout,
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

var tagObjects int

// event records an event like the event worker does and dispatches it.
func (r *rig) event(e store.Event) (store.Event, []store.Run) {
	r.t.Helper()
	ctx := testCtx(r.t)
	if e.TagObjectSHA == "" {
		tagObjects++
		e.TagObjectSHA = fmt.Sprintf("%040x", tagObjects)
	}
	e, _, err := r.store.RecordEvent(ctx, e)
	if err != nil {
		r.t.Fatal(err)
	}
	runs, err := r.engine.Dispatch(ctx, e)
	if err != nil {
		r.t.Fatal(err)
	}
	return e, runs
}

// wait polls the run until it has one of the statuses (a minute at most).
func (r *rig) wait(id int64, statuses ...store.RunStatus) store.Run {
	r.t.Helper()
	return r.waitLong(id, time.Minute, statuses...)
}

// waitLong is wait for up to limit.
func (r *rig) waitLong(id int64, limit time.Duration, statuses ...store.RunStatus) store.Run {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		run, err := r.store.Run(testCtx(r.t), id)
		if err != nil {
			r.t.Fatal(err)
		}
		if slices.Contains(statuses, run.Status) {
			return run
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("run %d (%s) is %s after %s, want %v", id, run.Action, run.Status, limit, statuses)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assignment(artifact, version, stage string) store.Event {
	return store.Event{
		Repository: "acme/models", Artifact: artifact, Type: store.EventAssignment, Version: version, Stage: stage,
		CommitSHA: strings.Repeat("c", 40), TagName: artifact + "#" + stage,
		Tagger:  store.Tagger{Name: "Jane", Email: "jane@example.com", When: time.Now()},
		Message: "assign", DeliveryID: "d-1", ActiveBefore: []string{"v0.9.0"}, ActiveAfter: []string{version},
		Stages: []store.StageChange{{Stage: stage, Before: []string{"v0.9.0"}, After: []string{version}}},
	}
}

// receiver is an HTTP endpoint on 127.0.0.1 that records what it is sent
// and when each request started and ended.
type receiver struct {
	url   string
	delay time.Duration
	// hold, when set, keeps every request waiting until it is closed.
	hold   chan struct{}
	starts chan string // the Idempotency-Key of each request, as it arrives
	mu     sync.Mutex
	got    []received
}

type received struct {
	Header     http.Header
	Body       []byte
	Start, End time.Time
}

func newReceiver(t testing.TB, delay time.Duration) *receiver {
	t.Helper()
	return newHeldReceiver(t, delay, nil)
}

// newHeldReceiver is a receiver whose requests wait for hold to close.
func newHeldReceiver(t testing.TB, delay time.Duration, hold chan struct{}) *receiver {
	t.Helper()
	rc := &receiver{delay: delay, hold: hold, starts: make(chan string, 100)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rc.url = "http://" + ln.Addr().String()
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, _ := io.ReadAll(r.Body)
	select {
	case rc.starts <- r.Header.Get("Idempotency-Key"):
	default:
	}
	if rc.hold != nil {
		<-rc.hold
	}
	time.Sleep(rc.delay)
	rc.mu.Lock()
	rc.got = append(rc.got, received{Header: r.Header.Clone(), Body: body, Start: start, End: time.Now()})
	rc.mu.Unlock()
	fmt.Fprintln(w, "deployed")
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// yamlUnmarshal decodes strictly, as config does.
func yamlUnmarshal(doc string, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	return dec.Decode(v)
}

package handlers_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/store"
)

// startedLog counts the webhook requests the handler has begun to read.
type startedLog struct {
	mu      sync.Mutex
	started int
	changed chan struct{}
}

func newStartedLog() *startedLog { return &startedLog{changed: make(chan struct{})} }

func (l *startedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes.Contains(p, []byte("webhook request started")) {
		l.started++
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// waitStarted waits until n webhook requests have begun.
func (l *startedLog) waitStarted(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		started, changed := l.started, l.changed
		l.mu.Unlock()
		if started >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("only %d of %d webhook requests started", started, n)
		}
	}
}

// ingress is the handler on 127.0.0.1 with the given options and a real
// SQLite store, and the count of webhook requests it has begun.
func ingress(t *testing.T, o handlers.Options) (*fixture, *startedLog) {
	t.Helper()
	f := &fixture{t: t, dbPath: filepath.Join(t.TempDir(), "hookd.db")}
	f.store = openStore(t, f.dbPath)
	log := newStartedLog()
	o.Store = f.store
	o.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := handlers.New(o)
	h.SetSecrets(handlers.Secrets{repo: secret})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f, log
}

// loris announces a 25 MiB body and then sends it a byte every tick, or
// never (tick 0), as a slow-loris attack does.
type loris struct {
	conn   net.Conn
	answer chan lorisAnswer
	stop   chan struct{}
}

type lorisAnswer struct {
	status int
	code   string
	err    error
}

func startLoris(t *testing.T, url string, n int, tick time.Duration) *loris {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	l := &loris{conn: conn, answer: make(chan lorisAnswer, 1), stop: make(chan struct{})}
	t.Cleanup(func() {
		close(l.stop)
		conn.Close()
	})
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /webhooks/github HTTP/1.1\r\nHost: hookd\r\nContent-Type: application/json\r\n"+
		"X-GitHub-Event: push\r\nX-GitHub-Delivery: loris-%d\r\nX-Hub-Signature-256: sha256=%s\r\nContent-Length: %d\r\n\r\n{",
		n, strings.Repeat("0", 64), handlers.MaxBodyBytes)
	if tick > 0 {
		go func() {
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-t.C:
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			l.answer <- lorisAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		l.answer <- lorisAnswer{status: resp.StatusCode, code: body["error"]}
	}()
	return l
}

// Eight connections that announce GitHub's largest body and send nothing
// hold next to nothing of the bodies' budget: a genuine delivery is
// accepted at once (it used to wait two seconds and get 503).
func TestIdleAnnouncedBodiesDoNotStarveDeliveries(t *testing.T) {
	f, log := ingress(t, handlers.Options{})
	for i := range 8 {
		startLoris(t, f.url, i, 0)
	}
	log.waitStarted(t, 8)
	body := pushBody(repo)
	for i := range 3 {
		start := time.Now()
		r := f.github("push", fmt.Sprintf("genuine-%d", i), body)
		if r.status != http.StatusAccepted {
			t.Fatalf("genuine delivery beside 8 idle 25 MiB announcements: %d %v after %v, want 202",
				r.status, r.body, time.Since(start).Round(time.Millisecond))
		}
	}
}

// Under a slow-loris attack from the same address, genuine deliveries keep
// being accepted; the attack's uploads past the per-client bound are cut
// off as soon as they count as slow, and the rest when their body's time
// is up.
func TestSlowLorisKeepsDeliveriesFlowing(t *testing.T) {
	const perClient, attackers = 3, 8
	f, log := ingress(t, handlers.Options{
		BodyTimeout:          1500 * time.Millisecond,
		SlowUpload:           300 * time.Millisecond,
		SlowUploadsPerClient: perClient,
	})
	var attack []*loris
	for i := range attackers {
		attack = append(attack, startLoris(t, f.url, i, 50*time.Millisecond))
	}
	log.waitStarted(t, attackers)

	answers := make(chan lorisAnswer, attackers)
	for _, l := range attack {
		go func() { answers <- <-l.answer }()
	}
	codes := map[string]int{}
	body := pushBody(repo)
	accepted := 0
	for sum(codes) < attackers {
		select {
		case a := <-answers:
			if a.err != nil {
				t.Fatalf("a slow upload got no answer: %v", a.err)
			}
			codes[fmt.Sprintf("%d %s", a.status, a.code)]++
			continue
		default:
		}
		r := f.github("push", fmt.Sprintf("during-%d", accepted), body)
		if r.status != http.StatusAccepted {
			t.Fatalf("genuine delivery %d during the attack: %d %v, want 202", accepted, r.status, r.body)
		}
		accepted++
		time.Sleep(5 * time.Millisecond) // a steady stream, not a flood
	}
	want := map[string]int{"429 too_many_slow_uploads": attackers - perClient, "408 body_timeout": perClient}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("slow uploads were answered %v, want %v", codes, want)
	}
	stored, err := f.store.Deliveries(ctx(t), store.DeliveryFilter{Page: store.Page{Limit: 500}})
	if n := len(stored); err != nil || n != accepted || accepted < 10 {
		t.Errorf("%d genuine deliveries accepted during the attack, %d stored; want them all, and more than a few", accepted, n)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

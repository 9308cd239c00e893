package handlers_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookd-dev/hookd/handlers"
)

// syncBuffer is a log destination the server's goroutines may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// An accepted delivery is logged at debug level only (a line each at info
// cost 2 % of the CPU under load); a refused one is logged at warn.
func TestDeliveryLogLevels(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var logs syncBuffer
			s := openStore(t, filepath.Join(t.TempDir(), "hookd.db"))
			h := handlers.New(handlers.Options{Store: s,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))})
			h.SetSecrets(handlers.Secrets{repo: secret})
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			f := &fixture{t: t, url: srv.URL, store: s}

			if r := f.github("push", "guid-ok", pushBody(repo)); r.status != http.StatusAccepted {
				t.Fatalf("push: %d %v", r.status, r.body)
			}
			body := pushBody(repo)
			if r := f.do("POST", "/webhooks/github", githubHeaders("push", "guid-forged", "wrong", body), body); r.status != http.StatusUnauthorized {
				t.Fatalf("forged push: %d %v", r.status, r.body)
			}
			srv.Close() // the handlers' lines are written before this returns
			out := logs.String()
			accepted := strings.Contains(out, "delivery=guid-ok")
			if accepted != (level == slog.LevelDebug) {
				t.Errorf("at %v, accepted delivery logged: %v\n%s", level, accepted, out)
			}
			if !strings.Contains(out, "level=WARN msg=\"webhook delivery\"") || !strings.Contains(out, "delivery=guid-forged") {
				t.Errorf("at %v, the refused delivery is not logged at warn:\n%s", level, out)
			}
		})
	}
}

package main

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSendsSignedDistinctDeliveriesAndStopsAtCount(t *testing.T) {
	var (
		n   atomic.Int64
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(sign("s3cret", body))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct {
			Repository struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		}
		if json.Unmarshal(body, &p) != nil || p.Repository.FullName != "acme/models" || r.Header.Get("X-GitHub-Event") != "push" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		dup := ids[r.Header.Get("X-GitHub-Delivery")]
		ids[r.Header.Get("X-GitHub-Delivery")] = true
		mu.Unlock()
		if dup {
			w.WriteHeader(http.StatusOK)
			return
		}
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	o := options{url: srv.URL, secret: "s3cret", repo: "acme/models", count: 300, duration: time.Minute, concurrency: 8, size: 8 << 10}
	res, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 300 || len(res.latencies) != 300 || res.failed != 0 || res.statuses[http.StatusAccepted] != 300 {
		t.Errorf("server accepted %d, tool counted %d ok / %d failed / %v", got, len(res.latencies), res.failed, res.statuses)
	}
}

func TestCountsRejectedDeliveriesAsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	o := options{url: srv.URL, secret: "wrong", repo: "acme/models", count: 5, duration: time.Minute, concurrency: 2, size: 1024}
	res, err := run(context.Background(), o)
	if err == nil || res.failed != 5 || res.statuses[http.StatusUnauthorized] != 5 {
		t.Errorf("err %v, failed %d, statuses %v", err, res.failed, res.statuses)
	}
}

func TestPayloadIsARealisticPushOfTheAskedSize(t *testing.T) {
	b := payload("acme/models", 8<<10)
	var p struct {
		Ref     string           `json:"ref"`
		Commits []map[string]any `json:"commits"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(b) < 8<<10 || len(b) > 9<<10 || p.Ref != "refs/heads/main" || len(p.Commits) < 5 {
		t.Errorf("payload: %d bytes, ref %q, %d commits", len(b), p.Ref, len(p.Commits))
	}
}

func TestRefusesTargetsOffThisMachine(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080/webhooks/github", "http://example.com/webhooks/github", "http://192.168.1.5/"} {
		o := options{url: u, secret: "s", count: 1, duration: time.Second, concurrency: 1}
		if err := o.check(); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("check(%s) = %v, want a loopback refusal", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://localhost:1/", "http://[::1]:8080/"} {
		o := options{url: u, secret: "s", count: 1, duration: time.Second, concurrency: 1}
		if err := o.check(); err != nil {
			t.Errorf("check(%s) = %v", u, err)
		}
	}
}

func TestHoldsTheAskedRate(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	// 400 deliveries at 2,000/s: the run cannot end before 200 ms.
	o := options{url: srv.URL, secret: "s", repo: "acme/models", count: 400, duration: time.Minute, concurrency: 8, rate: 2000, size: 512}
	res, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 400 || res.elapsed < 199*time.Millisecond {
		t.Errorf("sent %d in %s; want 400, paced over at least 200ms", n.Load(), res.elapsed)
	}
}

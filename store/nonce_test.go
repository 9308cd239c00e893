package store

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func claim(t *testing.T, s *Store, key string, expires time.Time, want bool) {
	t.Helper()
	got, err := s.ClaimNonce(ctxT(t), key, expires)
	if err != nil || got != want {
		t.Fatalf("ClaimNonce(%q, expires in %v) = %v, %v; want %v", key, time.Until(expires).Round(time.Millisecond), got, err, want)
	}
}

func TestClaimNonce(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		s := open(t, url)
		later := time.Now().Add(time.Minute)

		claim(t, s, "v0:1700000000:sig-a", later, true)
		claim(t, s, "v0:1700000000:sig-a", later, false) // replay
		claim(t, s, "v0:1700000000:sig-b", later, true)  // another key is independent
		claim(t, s, "v0:1700000000:sig-a", later.Add(time.Hour), false)

		// A key whose time is up may be claimed again, and is then spent
		// until its new expiry.
		claim(t, s, "stale", time.Now().Add(-time.Second), true)
		claim(t, s, "stale", later, true)
		claim(t, s, "stale", later, false)

		// A key is refused until it expires, and fresh once it has.
		expires := time.Now().Add(300 * time.Millisecond)
		claim(t, s, "short", expires, true)
		claim(t, s, "short", expires, false)
		waitFor(t, "the short-lived key to expire", func() bool {
			fresh, err := s.ClaimNonce(ctxT(t), "short", later)
			if err != nil {
				t.Fatal(err)
			}
			if fresh && time.Until(expires) > 50*time.Millisecond {
				t.Fatalf("key fresh again %v before it expires", time.Until(expires))
			}
			return fresh
		})
		claim(t, s, "short", later, false)

		// Expired keys are deleted by later claims; live ones stay.
		for _, k := range []string{"old-1", "old-2", "old-3"} {
			claim(t, s, k, time.Now().Add(-time.Minute), true)
		}
		claim(t, s, "trigger", later, true)
		var expired, live int
		if err := s.db.QueryRow(ctxT(t), `SELECT COUNT(*) FROM hookd_nonce WHERE key LIKE 'old-%'`).Scan(&expired); err != nil {
			t.Fatal(err)
		}
		if err := s.db.QueryRow(ctxT(t), `SELECT COUNT(*) FROM hookd_nonce`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		// Live: sig-a, sig-b, stale, short, trigger.
		if expired != 0 || live != 5 {
			t.Errorf("%d expired keys left, %d keys in all; want 0 and 5", expired, live)
		}
	})
}

// Replicas sharing the database and racing to claim the same key: exactly
// one wins, whether the key is new or an expired one being claimed again.
func TestClaimNonceConcurrent(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		a, b := open(t, url), open(t, url)
		later := time.Now().Add(time.Minute)
		for round := range 6 {
			// Every other key was used before and has expired. Claiming
			// any key deletes the expired ones, so it is written directly,
			// just before the race.
			key := fmt.Sprintf("new-%d", round)
			if round%2 == 1 {
				key = fmt.Sprintf("expired-%d", round)
				if _, err := a.db.Exec(ctxT(t), `INSERT INTO hookd_nonce (key, expires_at) VALUES ($1, $2)`,
					key, micros(time.Now().Add(-time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			const racers = 20
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				fresh int
			)
			start := make(chan struct{})
			for i := range racers {
				s := []*Store{a, b}[i%2]
				wg.Go(func() {
					<-start
					ok, err := s.ClaimNonce(ctxT(t), key, later)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						fresh++
						mu.Unlock()
					}
				})
			}
			close(start)
			wg.Wait()
			if fresh != 1 {
				t.Errorf("key %q: %d of %d concurrent claims were fresh, want exactly 1", key, fresh, racers)
			}
			claim(t, a, key, later, false)
			claim(t, b, key, later, false)
		}
	})
}

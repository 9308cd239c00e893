package deploy_test

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// 1,000 events fanned out to 3 actions each: every run happens, once.
func TestFanOutLosesAndDuplicatesNothing(t *testing.T) {
	const events = 1000
	rc := newReceiver(t, 0)
	actions := parseActions(t, `
actions:
  - {name: one, http: {url: `+rc.url+`/one}}
  - {name: two, http: {url: `+rc.url+`/two}}
  - {name: three, on: {event: assignment}, http: {url: `+rc.url+`/three}}
`)
	r := newRig(t, actions, deploy.Options{})
	want := map[string]bool{}
	var all []store.Run
	for i := range events {
		_, runs := r.event(assignment(fmt.Sprintf("model-%d", i), "v1.0.0", "prod"))
		if len(runs) != 3 {
			t.Fatalf("event %d made %d runs, want 3", i, len(runs))
		}
		for _, run := range runs {
			want[run.IdempotencyKey] = true
		}
		all = append(all, runs...)
	}
	for _, run := range all {
		if got := r.wait(run.ID, store.RunSucceeded, store.RunFailed); got.Status != store.RunSucceeded {
			t.Fatalf("run %d: %s %+v", run.ID, got.Status, got.History)
		}
	}
	seen := map[string]int{}
	for _, q := range rc.requests() {
		seen[q.Header.Get("Idempotency-Key")]++
	}
	if len(want) != 3*events {
		t.Fatalf("%d distinct idempotency keys for %d runs", len(want), 3*events)
	}
	for key := range want {
		if seen[key] != 1 {
			t.Fatalf("run with key %s reached the receiver %d times", key, seen[key])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("the receiver saw %d keys, want %d", len(seen), len(want))
	}
}

// BenchmarkEventToProcessStarted measures the time from an event being
// recorded (the tag push accepted and parsed) to its exec action's process
// running, through the SQLite store and its River queue.
func BenchmarkEventToProcessStarted(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	started := make(chan int64, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			id, _ := strconv.ParseInt(line[:max(len(line)-1, 0)], 10, 64)
			started <- id
		}
	}()
	actions := parseActions(b, `
actions:
  - name: deploy
    exec: `+helperCommand(b, "signal", ln.Addr().String())+`}
`)
	r := newRig(b, actions, deploy.Options{})
	latencies := make([]time.Duration, 0, b.N)
	var last store.Run
	b.ResetTimer()
	for i := range b.N {
		begin := time.Now()
		ev, runs := r.event(assignment(fmt.Sprintf("model-%d", i), "v1.0.0", "prod"))
		last = runs[0]
		select {
		case id := <-started:
			if id != ev.ID {
				b.Fatalf("process for event %d started, want %d", id, ev.ID)
			}
		case <-time.After(time.Minute):
			b.Fatal("the process never started")
		}
		latencies = append(latencies, time.Since(begin))
	}
	b.StopTimer()
	r.wait(last.ID, store.RunSucceeded) // let it finish before the store closes
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

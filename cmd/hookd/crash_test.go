package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSIGKILLWithAThousandQueuedDeliveriesLosesAndRepeatsNothing accepts
// 1,000 deliveries, kills hookd without warning, restarts it, and checks
// that every delivery was processed and every deploy run happened once.
func TestSIGKILLWithAThousandQueuedDeliveriesLosesAndRepeatsNothing(t *testing.T) {
	databases(t, testSIGKILLWithQueuedDeliveries)
}

func testSIGKILLWithQueuedDeliveries(t *testing.T, databaseURL string) {
	p := newPipeline(t, databaseURL)
	// Every run of this action appends its idempotency key to a ledger;
	// the key reaches the program as an environment variable, never
	// through the shell text.
	ledger := filepath.Join(t.TempDir(), "ledger")
	p.addAction("record", "sh", "-c", `echo "$HOOKD_IDEMPOTENCY_KEY" >> "$1"`, "record", ledger)

	// Twenty tags in one push: GitHub announces none of them.
	const artifacts = 10
	var tags []string
	for i := range artifacts {
		reg, prod := fmt.Sprintf("model-%d@v1.0.0", i), fmt.Sprintf("model-%d#prod#1", i)
		p.tag(reg, fmt.Sprintf("2024-02-01T10:00:%02d+00:00", 2*i))
		p.tag(prod, fmt.Sprintf("2024-02-01T10:00:%02d+00:00", 2*i+1))
		tags = append(tags, reg, prod)
	}
	p.push(tags...)

	// 1,000 deliveries, each announcing one of them, accepted as fast as
	// hookd answers; then SIGKILL with most of them still queued.
	const deliveries = 1000
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		next     = make(chan int)
	)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				status := p.postPush(fmt.Sprintf("crash-%04d", i), tags[i%len(tags)])
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}
		})
	}
	for i := range deliveries {
		next <- i
	}
	close(next)
	wg.Wait()
	if statuses[http.StatusAccepted] != deliveries {
		t.Fatalf("deliveries answered %v, want %d × 202", statuses, deliveries)
	}
	p.hookd.Signal(syscall.SIGKILL)
	<-p.hookd.Done

	p.start()
	for _, d := range p.waitDeliveriesSettled(deliveries) {
		if d["status"] != "processed" {
			t.Errorf("delivery %v: %v (%v), want processed", d["id"], d["status"], d["reason"])
		}
	}
	if evs := p.waitEvents(2 * artifacts); len(evs) != 2*artifacts {
		t.Fatalf("%d events, want %d: %q", len(evs), 2*artifacts, evs)
	}
	runs := p.waitRunsFinished(artifacts)
	var keys []string
	for _, r := range runs {
		if r["status"] != "succeeded" {
			t.Errorf("run %v", r)
		}
		keys = append(keys, r["idempotency_key"].(string))
	}
	data, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	// A run killed while its program ran is run again with the same key;
	// no other key may appear, and none may be missing.
	recorded := slices.Compact(slices.Sorted(slices.Values(strings.Fields(string(data)))))
	slices.Sort(keys)
	if !slices.Equal(recorded, keys) {
		t.Errorf("ledger keys %q, want the runs' keys %q", recorded, keys)
	}
	p.hookd.Stop()
}

// waitRunsFinished waits until n runs exist and none is queued or running.
func (p *pipeline) waitRunsFinished(n int) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		runs := p.apiList("/api/v1/runs?limit=500", "runs")
		busy := slices.ContainsFunc(runs, func(r map[string]any) bool { return r["status"] == "queued" || r["status"] == "running" })
		if len(runs) >= n && !busy {
			return runs
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d runs (want %d), busy: %v\nlog:\n%s", len(runs), n, busy, p.hookd.LogText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSIGKILLMidRunCompletesTheRunWithTheSameKey kills hookd while a deploy
// action's program runs; after a restart the run is resumed and completes
// once, with the idempotency key it had.
func TestSIGKILLMidRunCompletesTheRunWithTheSameKey(t *testing.T) {
	databases(t, testSIGKILLMidRun)
}

func testSIGKILLMidRun(t *testing.T, databaseURL string) {
	p := newPipeline(t, databaseURL)
	ledger := filepath.Join(t.TempDir(), "ledger")
	p.addAction("deploy", "sh", "-c",
		`echo "start $HOOKD_IDEMPOTENCY_KEY" >> "$1"; sleep 2; echo "end $HOOKD_IDEMPOTENCY_KEY" >> "$1"`, "deploy", ledger)

	p.tag("churn@v1.0.0", "2024-03-01T10:00:00+00:00")
	p.tag("churn#prod#1", "2024-03-01T11:00:00+00:00")
	p.push("churn@v1.0.0", "churn#prod#1")
	waitLedgerLine(t, ledger, "start ")
	p.hookd.Signal(syscall.SIGKILL)
	<-p.hookd.Done

	p.start()
	lines := waitLedgerLine(t, ledger, "end ")
	var starts, ends []string
	for _, l := range lines {
		if key, ok := strings.CutPrefix(l, "start "); ok {
			starts = append(starts, key)
		} else if key, ok := strings.CutPrefix(l, "end "); ok {
			ends = append(ends, key)
		}
	}
	keys := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(starts), ends...))))
	if len(starts) < 2 || len(ends) != 1 || len(keys) != 1 {
		t.Fatalf("ledger %q: want the killed start, then a start and an end, all with one key", lines)
	}
	runs := p.waitRunsFinished(1)
	if len(runs) != 1 || runs[0]["status"] != "succeeded" || runs[0]["idempotency_key"] != ends[0] {
		t.Fatalf("runs %v", runs)
	}
	p.hookd.Stop()
}

// waitLedgerLine waits until a line of the ledger starts with prefix and
// returns all its lines. A resumed run waits for its predecessor's lease to
// expire, so this waits longer than other steps.
func waitLedgerLine(t *testing.T, path, prefix string) []string {
	t.Helper()
	deadline := time.Now().Add(3 * waitLimit)
	for {
		data, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) }) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line in the ledger: %q", prefix, lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
